// Small, pure formatting helpers: how times, latencies and the sparkline look.

import type { MonitorState } from './api';
import type { RecentCheck } from './store';

export const STATE_LABELS: Record<MonitorState, string> = {
  up: 'Up',
  degraded: 'Degraded',
  down: 'Down',
  unknown: 'Unknown',
};

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago"; "never" for null. */
export function relativeTime(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return 'unknown';
  // Clamp: the server's clock may run a little ahead of this browser's.
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

/** "87 ms", "1.24 s", "12.3 s"; an em dash when there is no measurement. */
export function formatLatency(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return `${seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(1)} s`;
}

/** A configured timeout: "800 ms", "5 s", "2.5 s" (no false precision, unlike a measurement). */
export function formatTimeout(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

/** "every 60 s", "every 5 min", "every 2 h", "every 1 h 30 min". */
export function formatInterval(seconds: number): string {
  if (seconds < 60 || seconds % 60 !== 0) return `every ${seconds} s`;
  const minutes = seconds / 60;
  if (minutes < 60) return `every ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return `every ${hours} h${rest ? ` ${rest} min` : ''}`;
}

export interface SparkPoint {
  x: number;
  y: number;
  ok: boolean;
  check: RecentCheck;
}

export interface Sparkline {
  /** SVG path data for the latency line; empty when nothing was measured. */
  path: string;
  /** One per check, oldest first (left to right). */
  points: SparkPoint[];
  /** The largest latency drawn, i.e. what the top edge means. */
  maxLatency: number;
}

const round = (n: number) => Math.round(n * 10) / 10;

/**
 * Lays out recent checks (given newest first, as the API sends them) left to
 * right from oldest to newest. The y axis starts at 0 ms so a 10 ms wobble on a
 * fast site does not look like an outage. A check with no latency (refused,
 * timed out) sits on the top edge: it took at least as long as anything drawn,
 * and the line breaks around it instead of pretending to know a value.
 */
export function sparkline(checksNewestFirst: RecentCheck[], width: number, height: number, pad = 3): Sparkline {
  const checks = [...checksNewestFirst].reverse();
  const measured = checks.map((c) => c.latency_ms).filter((l): l is number => l !== null && Number.isFinite(l));
  const maxLatency = Math.max(1, ...measured);
  const innerW = width - 2 * pad;
  const innerH = height - 2 * pad;
  const step = checks.length > 1 ? innerW / (checks.length - 1) : 0;

  const points = checks.map((check, i) => {
    const x = checks.length > 1 ? pad + i * step : width / 2;
    const latency = check.latency_ms;
    const y = latency === null || !Number.isFinite(latency) ? pad : pad + innerH - (latency / maxLatency) * innerH;
    return { x: round(x), y: round(y), ok: check.ok, check };
  });

  let path = '';
  let penDown = false;
  for (const p of points) {
    if (p.check.latency_ms === null) {
      penDown = false;
      continue;
    }
    path += `${path ? ' ' : ''}${penDown ? 'L' : 'M'}${p.x} ${p.y}`;
    penDown = true;
  }
  return { path, points, maxLatency: measured.length ? maxLatency : 0 };
}
