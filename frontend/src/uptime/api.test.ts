import { afterEach, describe, expect, it, vi } from 'vitest';
import { uptimeApi } from './api';

const calls: [string, RequestInit][] = [];

function respond(response: Response): void {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push([url, init]);
      return response;
    }),
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  calls.length = 0;
});

const webhook = { url: 'https://hooks.example.com/beacon', format: 'slack', updated_at: '2025-01-01T00:00:00Z' };

describe('uptimeApi', () => {
  it('serialises bodies and escapes ids in paths', async () => {
    respond(Response.json({ id: 'a/b' }));
    await uptimeApi.updateMonitor('a/b', { name: 'New' });
    expect(calls[0]![0]).toBe('/api/monitors/a%2Fb');
    expect(calls[0]![1].method).toBe('PATCH');
    expect(calls[0]![1].body).toBe('{"name":"New"}');
  });

  it('reads an unset webhook as null', async () => {
    respond(Response.json({ webhook: null }));
    expect(await uptimeApi.webhook()).toBeNull();
    expect(calls[0]![0]).toBe('/api/alerts/webhook');
  });

  it('puts the webhook as JSON and returns the stored setting', async () => {
    respond(Response.json({ webhook }));
    expect(await uptimeApi.setWebhook({ url: webhook.url, format: 'slack' })).toEqual(webhook);
    const [url, init] = calls[0]!;
    expect(url).toBe('/api/alerts/webhook');
    expect(init.method).toBe('PUT');
    expect(init.body).toBe('{"url":"https://hooks.example.com/beacon","format":"slack"}');
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('removes the webhook with a DELETE that sends the CSRF content type', async () => {
    respond(new Response(null, { status: 204 }));
    await uptimeApi.removeWebhook();
    expect(calls[0]![1].method).toBe('DELETE');
    expect((calls[0]![1].headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('asks for a page of recent alerts', async () => {
    respond(Response.json({ alerts: [] }));
    expect(await uptimeApi.recentAlerts(5)).toEqual([]);
    expect(calls[0]![0]).toBe('/api/alerts?limit=5');
  });
});
