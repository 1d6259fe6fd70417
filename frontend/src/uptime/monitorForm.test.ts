import { describe, expect, it } from 'vitest';
import type { Monitor } from './api';
import { changedFields } from './monitorForm';

const monitor: Monitor = {
  id: 'm1',
  name: 'Homepage',
  url: 'https://example.com/',
  method: 'GET',
  interval_seconds: 60,
  timeout_ms: 5000,
  expected_status: 200,
  state: 'up',
  last_checked_at: null,
  next_check_at: '2025-01-01T00:00:00Z',
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-01T00:00:00Z',
};

describe('changedFields', () => {
  it('sends only what the edit changed', () => {
    expect(
      changedFields(monitor, { name: 'Homepage', url: 'https://example.com/', method: 'HEAD', interval_seconds: 60, timeout_ms: 2000 }),
    ).toEqual({ method: 'HEAD', timeout_ms: 2000 });
  });

  it('treats a cleared number as "keep the current value"', () => {
    expect(changedFields(monitor, { name: 'Homepage', url: 'https://example.com/' })).toEqual({});
  });

  it('includes a rename and a new URL', () => {
    expect(changedFields(monitor, { name: 'Home', url: 'https://example.org/' })).toEqual({
      name: 'Home',
      url: 'https://example.org/',
    });
  });
});
