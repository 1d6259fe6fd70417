// The live stream: one EventSource on /api/events, its events parsed and
// handed on, and an honest connection state for the header. Which events a
// page listens for, and what they mean, is the page's business.
//
// EventSource reconnects by itself after a dropped connection (an API machine
// restarting, a proxy timing out) and the server re-sends a snapshot, so the
// store re-syncs. What it does NOT do is retry after an HTTP error status
// (401, 502 while nginx cannot reach the api): it closes for good. Then we ask
// /api/auth/me whether the session is gone, and otherwise retry with back-off.
// A `session_ended` event (logged out here, in another tab or everywhere) is
// the server saying the session is over: the stream stops for good.

import { api } from './api';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting';

/** An SSE event: its `event:` name and its parsed `data:`. */
export interface LiveEvent {
  type: string;
  data: unknown;
}

/** The slice of EventSource we use, so tests can hand in a fake. */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: EventSource, ev: Event) => unknown) | null;
  onerror: ((this: EventSource, ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

const CLOSED = 2;

export interface LiveOptions<E extends LiveEvent> {
  /** The `event:` names to listen for; EventSource drops the others. */
  eventTypes: readonly E['type'][];
  /** Trusts the server: the data is not checked against the type. */
  onEvent(event: E): void;
  onState(state: ConnectionState): void;
  /** The session ended: the server said so (`session_ended`), or refused the stream with 401. */
  onUnauthorized(): void;
  /** true: signed in; false: 401; null: cannot tell (the API is down). Default: asks /api/auth/me. */
  sessionValid?(): Promise<boolean | null>;
  url?: string;
  createSource?: (url: string) => EventSourceLike;
  /** Returns a function that cancels the timer. */
  schedule?: (fn: () => void, ms: number) => () => void;
  random?: () => number;
}

export interface LiveConnection {
  close(): void;
}

/** 1 s, 2 s, 4 s … capped at 30 s, each ±20 % so a fleet of tabs does not reconnect in lockstep after a deploy. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The event the server ends a stream with when its session ends. */
export const SESSION_ENDED = 'session_ended';

export function connectLive<E extends LiveEvent>(options: LiveOptions<E>): LiveConnection {
  const url = options.url ?? '/api/events';
  const sessionValid = options.sessionValid ?? api.sessionValid;
  const createSource = options.createSource ?? ((u: string) => new EventSource(u) as EventSourceLike);
  const schedule =
    options.schedule ??
    ((fn: () => void, ms: number) => {
      const id = setTimeout(fn, ms);
      return () => clearTimeout(id);
    });

  let source: EventSourceLike | null = null;
  let cancelRetry: (() => void) | null = null;
  let failures = 0;
  let stopped = false;
  let state: ConnectionState | null = null;

  const setState = (next: ConnectionState) => {
    if (next !== state) {
      state = next;
      options.onState(next);
    }
  };

  const open = () => {
    cancelRetry = null;
    if (stopped) return;
    setState(failures === 0 && state === null ? 'connecting' : 'reconnecting');
    const es = createSource(url);
    source = es;

    for (const type of options.eventTypes) {
      es.addEventListener(type, (message) => {
        let data: unknown;
        try {
          data = JSON.parse(message.data);
        } catch {
          console.warn(`ignoring a malformed ${type} event`);
          return;
        }
        options.onEvent({ type, data } as E);
      });
    }

    es.addEventListener(SESSION_ENDED, () => {
      if (stopped) return;
      stopped = true;
      es.close();
      source = null;
      options.onUnauthorized();
    });

    es.onopen = () => {
      failures = 0;
      setState('live');
    };

    es.onerror = () => {
      if (stopped || source !== es) return;
      setState('reconnecting');
      if (es.readyState !== CLOSED) return; // the browser is already retrying
      es.close();
      source = null;
      const delay = reconnectDelay(failures++, options.random);
      void sessionValid().then((valid) => {
        if (stopped) return;
        if (valid === false) {
          stopped = true;
          options.onUnauthorized();
        } else {
          cancelRetry = schedule(open, delay);
        }
      });
    };
  };

  open();

  return {
    close() {
      stopped = true;
      cancelRetry?.();
      source?.close();
      source = null;
    },
  };
}
