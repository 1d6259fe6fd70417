import { describe, expect, it, vi } from 'vitest';
import { connectLive, reconnectDelay, type ConnectionState, type EventSourceLike, type LiveEvent } from './live';

class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: EventSourceLike['onopen'] = null;
  onerror: EventSourceLike['onerror'] = null;
  closed = false;
  readonly listeners = new Map<string, (ev: MessageEvent<string>) => void>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void) {
    this.listeners.set(type, listener);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  // Test drivers:
  open() {
    this.readyState = 1;
    this.onopen?.call(this as unknown as EventSource, new Event('open'));
  }
  emit(type: string, data: string) {
    this.listeners.get(type)?.({ data } as MessageEvent<string>);
  }
  fail(closed: boolean) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.call(this as unknown as EventSource, new Event('error'));
  }
}

function harness(session: boolean | null = true) {
  const sources: FakeSource[] = [];
  const states: ConnectionState[] = [];
  const events: LiveEvent[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const onUnauthorized = vi.fn();
  const connection = connectLive({
    eventTypes: ['snapshot', 'item_changed', 'item_removed'],
    onEvent: (e) => events.push(e),
    onState: (s) => states.push(s),
    onUnauthorized,
    sessionValid: async () => session,
    createSource: (url) => {
      const source = new FakeSource(url);
      sources.push(source);
      return source;
    },
    schedule: (fn, ms) => {
      timers.push({ fn, ms });
      return () => undefined;
    },
    random: () => 0.5,
  });
  return { sources, states, events, timers, onUnauthorized, connection };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('connectLive', () => {
  it('connects to /api/events and reports connecting, then live', () => {
    const t = harness();
    expect(t.sources[0]!.url).toBe('/api/events');
    expect(t.states).toEqual(['connecting']);
    t.sources[0]!.open();
    expect(t.states).toEqual(['connecting', 'live']);
  });

  it('hands on parsed events of the types asked for and skips malformed ones', () => {
    const t = harness();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect([...t.sources[0]!.listeners.keys()]).toEqual(['snapshot', 'item_changed', 'item_removed', 'session_ended']);
    t.sources[0]!.emit('snapshot', '{"items":[]}');
    t.sources[0]!.emit('item_removed', '{"id":"i1"}');
    t.sources[0]!.emit('item_changed', '{not json');
    expect(t.events).toEqual([
      { type: 'snapshot', data: { items: [] } },
      { type: 'item_removed', data: { id: 'i1' } },
    ]);
    expect(warn).toHaveBeenCalledOnce();
    warn.mockRestore();
  });

  it('shows reconnecting while the browser retries a dropped stream by itself', () => {
    const t = harness();
    t.sources[0]!.open();
    t.sources[0]!.fail(false);
    expect(t.states.at(-1)).toBe('reconnecting');
    expect(t.sources).toHaveLength(1);
    t.sources[0]!.open();
    expect(t.states.at(-1)).toBe('live');
  });

  it('retries with back-off after the server refuses the stream, if the session is fine', async () => {
    const t = harness(true);
    t.sources[0]!.fail(true);
    await settle();
    expect(t.sources[0]!.closed).toBe(true);
    expect(t.timers.map((x) => x.ms)).toEqual([1000]);
    t.timers[0]!.fn();
    expect(t.sources).toHaveLength(2);
    expect(t.states.at(-1)).toBe('reconnecting');
    t.sources[1]!.fail(true);
    await settle();
    expect(t.timers.map((x) => x.ms)).toEqual([1000, 2000]);
    expect(t.onUnauthorized).not.toHaveBeenCalled();
  });

  it('keeps retrying while the API cannot say whether the session is valid', async () => {
    const t = harness(null);
    t.sources[0]!.fail(true);
    await settle();
    expect(t.timers).toHaveLength(1);
  });

  it('gives up and reports a logged-out session on 401', async () => {
    const t = harness(false);
    t.sources[0]!.fail(true);
    await settle();
    expect(t.onUnauthorized).toHaveBeenCalledOnce();
    expect(t.timers).toHaveLength(0);
  });

  it('stops for good and reports the session gone when the server ends it', async () => {
    const t = harness(true);
    t.sources[0]!.open();
    t.sources[0]!.emit('session_ended', '{}');
    expect(t.sources[0]!.closed).toBe(true);
    expect(t.onUnauthorized).toHaveBeenCalledOnce();
    t.sources[0]!.fail(true);
    await settle();
    expect(t.timers).toHaveLength(0);
    expect(t.sources).toHaveLength(1);
  });

  it('closes the stream and stops retrying when closed', async () => {
    const t = harness(true);
    t.connection.close();
    expect(t.sources[0]!.closed).toBe(true);
    t.sources[0]!.fail(true);
    await settle();
    expect(t.timers).toHaveLength(0);
  });
});

describe('reconnectDelay', () => {
  it('doubles from 1 s to a 30 s cap, with ±20 % jitter', () => {
    expect([0, 1, 2, 3, 4, 5, 10].map((n) => reconnectDelay(n, () => 0.5))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
    expect(reconnectDelay(0, () => 0)).toBe(800);
    expect(reconnectDelay(0, () => 1)).toBe(1200);
  });
});
