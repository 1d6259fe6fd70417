import { describe, expect, it } from 'vitest';
import { alertStatus, describeWebhook } from './alerts';
import type { Alert } from './api';

function alert(overrides: Partial<Alert>): Alert {
  return {
    id: 'a1',
    monitor_id: 'm1',
    monitor_name: 'Homepage',
    check_id: 'c1',
    kind: 'down',
    status: 'pending',
    attempts: 0,
    last_error: null,
    created_at: '2025-01-01T00:00:00Z',
    sent_at: null,
    ...overrides,
  };
}

describe('describeWebhook', () => {
  it('says where alerts go and in which format', () => {
    const webhook = { url: 'https://hooks.example.com/x', format: 'slack' as const, updated_at: '2025-01-01T00:00:00Z' };
    expect(describeWebhook(webhook)).toBe('Alerts go to https://hooks.example.com/x as Slack.');
    expect(describeWebhook({ ...webhook, format: 'json' })).toContain('as JSON');
  });

  it('says that nothing is sent without one', () => {
    expect(describeWebhook(null)).toBe('No webhook set: nothing is sent when a light turns red.');
  });
});

describe('alertStatus', () => {
  it('reads a delivered alert as sent, whatever failed before', () => {
    expect(alertStatus(alert({ status: 'sent', attempts: 2, last_error: 'the webhook answered 500' }))).toBe('sent');
  });

  it('reads an alert not tried yet as sending', () => {
    expect(alertStatus(alert({}))).toBe('sending…');
  });

  it('counts the attempts of a retry and gives the last answer', () => {
    expect(alertStatus(alert({ attempts: 1, last_error: 'the webhook answered 503 Service Unavailable' }))).toBe(
      'retrying after 1 attempt: the webhook answered 503 Service Unavailable',
    );
  });

  it('says a given-up alert failed, with or without a reason', () => {
    expect(alertStatus(alert({ status: 'failed', attempts: 5, last_error: 'timed out' }))).toBe(
      'failed after 5 attempts: timed out',
    );
    expect(alertStatus(alert({ status: 'failed', attempts: 3 }))).toBe('failed after 3 attempts');
  });
});
