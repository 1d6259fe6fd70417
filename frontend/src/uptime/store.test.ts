import { describe, expect, it } from 'vitest';
import type { Monitor } from './api';
import {
  applyCheck,
  applyDeleted,
  applyEvent,
  applyList,
  applyMonitor,
  applySnapshot,
  emptyState,
  MAX_RECENT_CHECKS,
  type CheckEvent,
  type DashboardState,
  type RecentCheck,
} from './store';

const at = (seconds: number) => new Date(Date.UTC(2025, 0, 1, 12, 0, seconds)).toISOString();

function monitor(id: string, overrides: Partial<Monitor> = {}): Monitor {
  return {
    id,
    name: `Monitor ${id}`,
    url: `https://${id}.example.com/`,
    method: 'GET',
    interval_seconds: 60,
    timeout_ms: 5000,
    expected_status: 200,
    state: 'unknown',
    last_checked_at: null,
    next_check_at: at(0),
    created_at: at(0),
    updated_at: at(0),
    ...overrides,
  };
}

function recent(id: string, seconds: number, ok = true): RecentCheck {
  return { id, ok, status_code: ok ? 200 : 503, latency_ms: 100 + seconds, error: ok ? null : 'bad', checked_at: at(seconds) };
}

function check(monitorId: string, id: string, seconds: number, overrides: Partial<CheckEvent> = {}): CheckEvent {
  return {
    check_id: id,
    monitor_id: monitorId,
    user_id: 'u1',
    state: 'up',
    ok: true,
    status_code: 200,
    latency_ms: 42,
    error: null,
    checked_at: at(seconds),
    ...overrides,
  };
}

function withMonitors(...monitors: Monitor[]): DashboardState {
  return applySnapshot(emptyState, { monitors: monitors.map((m) => ({ ...m, recent_checks: [] })) });
}

describe('snapshot', () => {
  it('replaces the whole state, in creation order, newest checks first', () => {
    const before = withMonitors(monitor('old'));
    const state = applySnapshot(before, {
      monitors: [
        { ...monitor('b', { created_at: at(2) }), recent_checks: [recent('c1', 1), recent('c2', 2)] },
        { ...monitor('a', { created_at: at(1) }), recent_checks: [] },
      ],
    });
    expect(state.synced).toBe('snapshot');
    expect(state.monitors.map((m) => m.id)).toEqual(['a', 'b']);
    expect(state.monitors[1]!.recent_checks.map((c) => c.id)).toEqual(['c2', 'c1']);
  });

  it('treats missing recent_checks as none', () => {
    const state = applySnapshot(emptyState, { monitors: [monitor('a')] });
    expect(state.monitors[0]!.recent_checks).toEqual([]);
  });

  it('wins over a REST listing that arrives after it', () => {
    const snap = applySnapshot(emptyState, { monitors: [{ ...monitor('a'), recent_checks: [recent('c1', 1)] }] });
    expect(applyList(snap, [monitor('stale')])).toBe(snap);
  });

  it('is itself replaced by the next snapshot (a reconnect re-syncs)', () => {
    const first = withMonitors(monitor('a'), monitor('b'));
    const second = applyEvent(first, { type: 'snapshot', data: { monitors: [{ ...monitor('b'), recent_checks: [] }] } });
    expect(second.monitors.map((m) => m.id)).toEqual(['b']);
  });
});

describe('REST listing', () => {
  it('fills an empty dashboard until the stream catches up', () => {
    const state = applyList(emptyState, [monitor('a', { state: 'down' })]);
    expect(state.synced).toBe('list');
    expect(state.monitors[0]).toMatchObject({ id: 'a', state: 'down', recent_checks: [] });
  });
});

describe('check', () => {
  it('moves the light and records the result', () => {
    const state = applyCheck(withMonitors(monitor('a')), check('a', 'c1', 5, { state: 'degraded', latency_ms: 2500 }));
    const m = state.monitors[0]!;
    expect(m.state).toBe('degraded');
    expect(m.last_checked_at).toBe(at(5));
    expect(m.recent_checks[0]).toEqual({
      id: 'c1',
      ok: true,
      status_code: 200,
      latency_ms: 2500,
      error: null,
      checked_at: at(5),
    });
  });

  it('ignores a check it already has (at-least-once delivery, or one also in the snapshot)', () => {
    const once = applyCheck(withMonitors(monitor('a')), check('a', 'c1', 5));
    const twice = applyCheck(once, check('a', 'c1', 5, { state: 'down' }));
    expect(twice).toBe(once);
    expect(twice.monitors[0]!.recent_checks).toHaveLength(1);
  });

  it('keeps only the newest checks', () => {
    let state = withMonitors(monitor('a'));
    for (let i = 0; i < MAX_RECENT_CHECKS + 5; i++) state = applyCheck(state, check('a', `c${i}`, i));
    const checks = state.monitors[0]!.recent_checks;
    expect(checks).toHaveLength(MAX_RECENT_CHECKS);
    expect(checks[0]!.id).toBe(`c${MAX_RECENT_CHECKS + 4}`);
    expect(checks.at(-1)!.id).toBe('c5');
  });

  it('lets an older check that arrives late join the history without moving the light', () => {
    let state = applyCheck(withMonitors(monitor('a')), check('a', 'new', 10, { state: 'down', ok: false }));
    state = applyCheck(state, check('a', 'old', 5, { state: 'up' }));
    const m = state.monitors[0]!;
    expect(m.state).toBe('down');
    expect(m.last_checked_at).toBe(at(10));
    expect(m.recent_checks.map((c) => c.id)).toEqual(['new', 'old']);
  });

  it('ignores checks of monitors it does not know', () => {
    const state = withMonitors(monitor('a'));
    expect(applyCheck(state, check('zzz', 'c1', 1))).toBe(state);
  });

  it('leaves other monitors untouched', () => {
    const state = applyCheck(withMonitors(monitor('a'), monitor('b')), check('b', 'c1', 1, { state: 'down' }));
    expect(state.monitors.map((m) => m.state)).toEqual(['unknown', 'down']);
  });
});

describe('monitor (upsert)', () => {
  it('adds a new monitor in creation order', () => {
    const state = applyMonitor(withMonitors(monitor('a', { created_at: at(1) }), monitor('c', { created_at: at(3) })),
      monitor('b', { created_at: at(2) }));
    expect(state.monitors.map((m) => m.id)).toEqual(['a', 'b', 'c']);
    expect(state.monitors[1]!.recent_checks).toEqual([]);
  });

  it('updates an existing monitor and keeps its history', () => {
    let state = applyCheck(withMonitors(monitor('a')), check('a', 'c1', 1));
    state = applyMonitor(state, monitor('a', { name: 'Renamed', state: 'up', last_checked_at: at(1), updated_at: at(2) }));
    expect(state.monitors[0]).toMatchObject({ name: 'Renamed', state: 'up' });
    expect(state.monitors[0]!.recent_checks.map((c) => c.id)).toEqual(['c1']);
  });

  it('is idempotent: the HTTP response and the stream deliver the same copy', () => {
    const copy = monitor('a', { name: 'Twice', updated_at: at(3) });
    const once = applyMonitor(withMonitors(monitor('a')), copy);
    expect(applyMonitor(once, copy).monitors).toEqual(once.monitors);
  });

  it('drops a copy older than the one it holds', () => {
    const state = applyMonitor(withMonitors(monitor('a')), monitor('a', { name: 'New', updated_at: at(5) }));
    const after = applyMonitor(state, monitor('a', { name: 'Old', updated_at: at(4) }));
    expect(after.monitors[0]!.name).toBe('New');
  });

  it('keeps the light from a check that landed after the copy was read', () => {
    let state = applyCheck(withMonitors(monitor('a')), check('a', 'c1', 9, { state: 'down', ok: false }));
    state = applyMonitor(state, monitor('a', { name: 'Edited', state: 'up', last_checked_at: at(1), updated_at: at(2) }));
    expect(state.monitors[0]).toMatchObject({ name: 'Edited', state: 'down', last_checked_at: at(9) });
  });

  it('takes the grey light of a changed URL', () => {
    let state = applyCheck(withMonitors(monitor('a')), check('a', 'c1', 5, { state: 'up' }));
    state = applyMonitor(state, monitor('a', { url: 'https://new.example.com/', state: 'unknown', last_checked_at: at(5), updated_at: at(6) }));
    expect(state.monitors[0]!.state).toBe('unknown');
  });
});

describe('monitor_deleted', () => {
  it('removes the monitor', () => {
    const state = applyEvent(withMonitors(monitor('a'), monitor('b')), { type: 'monitor_deleted', data: { monitor_id: 'a' } });
    expect(state.monitors.map((m) => m.id)).toEqual(['b']);
  });

  it('is a no-op for an unknown id (this tab deleted it first)', () => {
    const state = withMonitors(monitor('a'));
    expect(applyDeleted(state, 'gone')).toBe(state);
  });
});

describe('applyEvent', () => {
  it('routes each event type', () => {
    let state = applyEvent(emptyState, { type: 'snapshot', data: { monitors: [] } });
    state = applyEvent(state, { type: 'monitor', data: { monitor: monitor('a') } });
    state = applyEvent(state, { type: 'check', data: check('a', 'c1', 1, { state: 'down' }) });
    expect(state.monitors[0]!.state).toBe('down');
    state = applyEvent(state, { type: 'monitor_deleted', data: { monitor_id: 'a' } });
    expect(state.monitors).toEqual([]);
  });
});
