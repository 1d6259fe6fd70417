// The dashboard's state and the pure functions that move it. Nothing here
// touches the DOM or the network, so every rule is unit-tested.
//
// Events arrive from two directions that are not ordered with respect to each
// other: the SSE stream (fanned out through NATS) and this tab's own HTTP
// responses. The rules below make applying them in any order converge on what
// the server holds.

import type { Monitor, MonitorState } from './api';

/** The server keeps this many recent checks per monitor in a snapshot; so do we. */
export const MAX_RECENT_CHECKS = 20;

export interface RecentCheck {
  id: string;
  ok: boolean;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  checked_at: string;
}

/** A monitor and its latest checks, newest first. */
export interface MonitorView extends Monitor {
  recent_checks: RecentCheck[];
}

export interface DashboardState {
  /** In the server's order: oldest first. */
  monitors: MonitorView[];
  /** Whether a snapshot has arrived; a REST listing must not overwrite one. */
  synced: 'none' | 'list' | 'snapshot';
}

export interface SnapshotEvent {
  monitors: (Monitor & { recent_checks?: RecentCheck[] })[];
}

export interface CheckEvent {
  check_id: string;
  monitor_id: string;
  user_id?: string;
  state: MonitorState;
  ok: boolean;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  checked_at: string;
}

/** What `/api/events` sends the dashboard. */
export type UptimeEvent =
  | { type: 'snapshot'; data: SnapshotEvent }
  | { type: 'check'; data: CheckEvent }
  | { type: 'monitor'; data: { monitor: Monitor } }
  | { type: 'monitor_deleted'; data: { monitor_id: string } };

export const UPTIME_EVENT_TYPES: readonly UptimeEvent['type'][] = ['snapshot', 'check', 'monitor', 'monitor_deleted'];

export const emptyState: DashboardState = { monitors: [], synced: 'none' };

const time = (iso: string | null): number => (iso === null ? Number.NEGATIVE_INFINITY : Date.parse(iso));

function byCreation(a: Monitor, b: Monitor): number {
  return time(a.created_at) - time(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function newestFirst(checks: RecentCheck[]): RecentCheck[] {
  return [...checks].sort((a, b) => time(b.checked_at) - time(a.checked_at)).slice(0, MAX_RECENT_CHECKS);
}

/** Sent first on every (re)connection: the server's truth replaces ours wholesale. */
export function applySnapshot(_state: DashboardState, snapshot: SnapshotEvent): DashboardState {
  const monitors = snapshot.monitors.map((m) => ({ ...m, recent_checks: newestFirst(m.recent_checks ?? []) }));
  return { monitors: monitors.sort(byCreation), synced: 'snapshot' };
}

/**
 * The REST listing, used to paint before the stream connects (or when it
 * cannot). It is older than any snapshot that beat it here, so it is dropped then.
 */
export function applyList(state: DashboardState, monitors: Monitor[]): DashboardState {
  if (state.synced === 'snapshot') return state;
  const checks = new Map(state.monitors.map((m) => [m.id, m.recent_checks]));
  return {
    monitors: monitors.map((m) => ({ ...m, recent_checks: checks.get(m.id) ?? [] })).sort(byCreation),
    synced: 'list',
  };
}

/** A check landed: move the light and add it to the history, once. */
export function applyCheck(state: DashboardState, check: CheckEvent): DashboardState {
  const index = state.monitors.findIndex((m) => m.id === check.monitor_id);
  // Unknown monitor: deleted meanwhile, or created elsewhere and its `monitor`
  // event is still on the way; the next snapshot settles it either way.
  if (index === -1) return state;
  const current = state.monitors[index]!;
  if (current.recent_checks.some((c) => c.id === check.check_id)) return state;

  const recent: RecentCheck = {
    id: check.check_id,
    ok: check.ok,
    status_code: check.status_code,
    latency_ms: check.latency_ms,
    error: check.error,
    checked_at: check.checked_at,
  };
  // Two checks of one monitor can finish out of order (a "check now" racing a
  // scheduled one): only the newer one decides the light.
  const isLatest = time(check.checked_at) >= time(current.last_checked_at);
  const next: MonitorView = {
    ...current,
    state: isLatest ? check.state : current.state,
    last_checked_at: isLatest ? check.checked_at : current.last_checked_at,
    recent_checks: newestFirst([recent, ...current.recent_checks]),
  };
  return replaceAt(state, index, next);
}

/** A monitor was created or changed, here or in another tab: upsert it. */
export function applyMonitor(state: DashboardState, monitor: Monitor): DashboardState {
  const index = state.monitors.findIndex((m) => m.id === monitor.id);
  if (index === -1) {
    const monitors = [...state.monitors, { ...monitor, recent_checks: [] }].sort(byCreation);
    return { ...state, monitors };
  }
  const current = state.monitors[index]!;
  // `updated_at` moves on every write to the row, so an older copy (a slow
  // HTTP response overtaken by the stream, or the reverse) is stale.
  if (time(monitor.updated_at) < time(current.updated_at)) return state;
  // A check event that arrived after this copy was read is newer than its
  // light, even though check events carry no `updated_at`.
  const checkedSince = time(current.last_checked_at) > time(monitor.last_checked_at);
  const next: MonitorView = {
    ...monitor,
    state: checkedSince ? current.state : monitor.state,
    last_checked_at: checkedSince ? current.last_checked_at : monitor.last_checked_at,
    recent_checks: current.recent_checks,
  };
  return replaceAt(state, index, next);
}

export function applyDeleted(state: DashboardState, monitorId: string): DashboardState {
  const monitors = state.monitors.filter((m) => m.id !== monitorId);
  return monitors.length === state.monitors.length ? state : { ...state, monitors };
}

export function applyEvent(state: DashboardState, event: UptimeEvent): DashboardState {
  switch (event.type) {
    case 'snapshot':
      return applySnapshot(state, event.data);
    case 'check':
      return applyCheck(state, event.data);
    case 'monitor':
      return applyMonitor(state, event.data.monitor);
    case 'monitor_deleted':
      return applyDeleted(state, event.data.monitor_id);
  }
}

function replaceAt(state: DashboardState, index: number, monitor: MonitorView): DashboardState {
  const monitors = state.monitors.slice();
  monitors[index] = monitor;
  return { ...state, monitors };
}
