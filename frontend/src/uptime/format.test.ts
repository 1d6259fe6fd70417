import { describe, expect, it } from 'vitest';
import { formatInterval, formatLatency, formatTimeout, relativeTime, sparkline } from './format';
import type { RecentCheck } from './store';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const ago = (ms: number) => new Date(NOW - ms).toISOString();

describe('relativeTime', () => {
  it.each([
    [0, 'just now'],
    [4_000, 'just now'],
    [42_000, '42 s ago'],
    [60_000, '1 min ago'],
    [59 * 60_000, '59 min ago'],
    [3 * 3_600_000, '3 h ago'],
    [47 * 3_600_000, '47 h ago'],
    [72 * 3_600_000, '3 d ago'],
  ])('%i ms ago reads "%s"', (ms, text) => {
    expect(relativeTime(ago(ms), NOW)).toBe(text);
  });

  it('says never for a monitor not yet checked', () => {
    expect(relativeTime(null, NOW)).toBe('never');
  });

  it('does not show the future when the server clock is ahead', () => {
    expect(relativeTime(ago(-3_000), NOW)).toBe('just now');
  });
});

describe('formatLatency', () => {
  it.each([
    [null, '—'],
    [0, '0 ms'],
    [87.4, '87 ms'],
    [999, '999 ms'],
    [1240, '1.24 s'],
    [12_345, '12.3 s'],
  ])('%s → %s', (ms, text) => {
    expect(formatLatency(ms)).toBe(text);
  });
});

describe('formatTimeout', () => {
  it.each([
    [100, '100 ms'],
    [5000, '5 s'],
    [2500, '2.5 s'],
    [30_000, '30 s'],
  ])('%i ms → %s', (ms, text) => {
    expect(formatTimeout(ms)).toBe(text);
  });
});

describe('formatInterval', () => {
  it.each([
    [10, 'every 10 s'],
    [90, 'every 90 s'],
    [60, 'every 1 min'],
    [300, 'every 5 min'],
    [3600, 'every 1 h'],
    [5400, 'every 1 h 30 min'],
    [86_400, 'every 24 h'],
  ])('%i s → %s', (seconds, text) => {
    expect(formatInterval(seconds)).toBe(text);
  });
});

describe('sparkline', () => {
  let n = 0;
  const c = (latency: number | null, ok = true): RecentCheck => ({
    id: `c${n++}`,
    ok,
    status_code: ok ? 200 : null,
    latency_ms: latency,
    error: ok ? null : 'timed out',
    checked_at: ago(0),
  });

  it('draws oldest to newest, left to right, from a newest-first list', () => {
    // Newest first: 300 (newest), 200, 100 (oldest).
    const line = sparkline([c(300), c(200), c(100)], 100, 40, 0);
    expect(line.points.map((p) => p.check.latency_ms)).toEqual([100, 200, 300]);
    expect(line.points.map((p) => p.x)).toEqual([0, 50, 100]);
    expect(line.path).toBe('M0 26.7 L50 13.3 L100 0');
  });

  it('scales from zero to the slowest check, inside the padding', () => {
    const line = sparkline([c(100), c(50)], 110, 30, 5); // newest first
    expect(line.maxLatency).toBe(100);
    // 100 ms touches the top padding; 50 ms sits halfway down the inner height.
    expect(line.points.map((p) => [p.x, p.y])).toEqual([
      [5, 15],
      [105, 5],
    ]);
  });

  it('puts a check without a latency on the top edge and breaks the line around it', () => {
    const line = sparkline([c(100), c(null, false), c(100)], 100, 20, 0);
    expect(line.points[1]).toMatchObject({ x: 50, y: 0, ok: false });
    expect(line.path).toBe('M0 0 M100 0');
  });

  it('marks failed checks that did measure a latency', () => {
    const line = sparkline([c(100), c(400, false)], 100, 20, 0);
    expect(line.points.map((p) => p.ok)).toEqual([false, true]);
    expect(line.points[0]!.y).toBe(0);
  });

  it('centres a single check', () => {
    const line = sparkline([c(10)], 100, 20, 2);
    expect(line.points[0]).toMatchObject({ x: 50, y: 2 });
    expect(line.path).toBe('M50 2');
  });

  it('copes with no checks and with only failures', () => {
    expect(sparkline([], 100, 20)).toEqual({ path: '', points: [], maxLatency: 0 });
    const failures = sparkline([c(null, false), c(null, false)], 100, 20, 0);
    expect(failures.path).toBe('');
    expect(failures.maxLatency).toBe(0);
    expect(failures.points.every((p) => p.y === 0 && !p.ok)).toBe(true);
  });

  it('does not divide by zero when every latency is 0 ms', () => {
    const line = sparkline([c(0), c(0)], 100, 20, 0);
    expect(line.path).toBe('M0 20 L100 20');
  });
});
