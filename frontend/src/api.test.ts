import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, ApiError, observeApi, parseErrorBody, request } from './api';

describe('parseErrorBody', () => {
  it('reads the API error shape with its fields', () => {
    const body = JSON.stringify({
      error: {
        code: 'validation_failed',
        message: 'several fields are invalid; see `fields`',
        fields: [
          { field: 'url', message: 'must use http or https, not `ftp`' },
          { field: 'timeout_ms', message: 'must be shorter than the interval' },
        ],
      },
    });
    expect(parseErrorBody(422, 'Unprocessable Entity', body)).toEqual({
      code: 'validation_failed',
      message: 'several fields are invalid; see `fields`',
      fields: [
        { field: 'url', message: 'must use http or https, not `ftp`' },
        { field: 'timeout_ms', message: 'must be shorter than the interval' },
      ],
    });
  });

  it('treats an absent fields list as empty and drops malformed entries', () => {
    const body = JSON.stringify({ error: { code: 'email_taken', message: 'taken', fields: [{ field: 1 }, null] } });
    expect(parseErrorBody(409, '', body)).toEqual({ code: 'email_taken', message: 'taken', fields: [] });
  });

  it('explains a proxy error page that is not JSON', () => {
    const parsed = parseErrorBody(502, 'Bad Gateway', '<html><body>502 Bad Gateway</body></html>');
    expect(parsed.code).toBe('unavailable');
    expect(parsed.message).toContain('unreachable');
    expect(parsed.message).toContain('502 Bad Gateway');
  });

  it('falls back to the status for JSON of another shape', () => {
    expect(parseErrorBody(418, "I'm a teapot", '{"detail":"no"}')).toEqual({
      code: 'http_error',
      message: "The server answered 418 I'm a teapot.",
      fields: [],
    });
  });
});

describe('request', () => {
  const calls: [string, RequestInit][] = [];
  const respond = (response: Response | Error) => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push([url, init]);
        if (response instanceof Error) throw response;
        return response;
      }),
    );
  };

  afterEach(() => {
    vi.unstubAllGlobals();
    calls.length = 0;
    observeApi(null);
  });

  it('sends JSON same-origin, with the CSRF content type even without a body', async () => {
    respond(new Response(null, { status: 204 }));
    await api.logout();
    const [url, init] = calls[0]!;
    expect(url).toBe('/api/auth/logout');
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('same-origin');
    expect(init.body).toBeNull();
    expect((init.headers as Record<string, string>)['Content-Type']).toBe('application/json');
  });

  it('does not declare a content type on GET', async () => {
    respond(Response.json({ user: { id: 'u', email: 'ada@example.com', created_at: '2025-01-01T00:00:00Z' } }));
    expect((await api.me()).email).toBe('ada@example.com');
    expect((calls[0]![1].headers as Record<string, string>)['Content-Type']).toBeUndefined();
  });

  it('serialises bodies as JSON', async () => {
    respond(Response.json({ user: { id: 'u', email: 'ada@example.com', created_at: '2025-01-01T00:00:00Z' } }));
    await api.login('ada@example.com', 'correct horse battery');
    expect(calls[0]![1].body).toBe('{"email":"ada@example.com","password":"correct horse battery"}');
  });

  it('signs up, then logs in for the session; a refused login reads as a taken email', async () => {
    const answers = [
      Response.json({ message: 'accepted' }, { status: 202 }),
      Response.json({ user: { id: 'u', email: 'ada@example.com', created_at: '2025-01-01T00:00:00Z' } }),
      Response.json({ message: 'accepted' }, { status: 202 }),
      Response.json({ error: { code: 'invalid_credentials', message: 'invalid email or password' } }, { status: 401 }),
    ];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit) => {
        calls.push([url, init]);
        return answers.shift()!;
      }),
    );
    expect((await api.signup('ada@example.com', 'correct horse battery')).id).toBe('u');
    expect(calls.map(([url]) => url)).toEqual(['/api/auth/signup', '/api/auth/login']);
    const error = await api.signup('ada@example.com', 'another password').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 401, code: 'signup_not_completed' });
  });

  it('throws an ApiError with the code, fields and Retry-After', async () => {
    respond(
      Response.json(
        { error: { code: 'rate_limited', message: 'too many failed login attempts; try again in 900 seconds' } },
        { status: 429, headers: { 'Retry-After': '900' } },
      ),
    );
    const error = await api.login('ada@example.com', 'wrong password').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 900, unavailable: false });
    expect((error as ApiError).message).toContain('900 seconds');
  });

  it('reports a network failure as status 0, unavailable', async () => {
    respond(new TypeError('Failed to fetch'));
    const error = await request('GET', '/api/auth/me').catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 0, code: 'network_error', unavailable: true });
  });

  it('tells the observer about outages and recoveries', async () => {
    const observer = { succeeded: vi.fn(), failed: vi.fn() };
    observeApi(observer);
    respond(new Response('upstream down', { status: 503, statusText: 'Service Unavailable' }));
    await expect(api.me()).rejects.toMatchObject({ status: 503, unavailable: true });
    expect(observer.failed).toHaveBeenCalledTimes(1);
    respond(Response.json({ user: { id: 'u', email: 'ada@example.com', created_at: '2025-01-01T00:00:00Z' } }));
    expect((await api.me()).email).toBe('ada@example.com');
    expect(observer.succeeded).toHaveBeenCalledTimes(1);
  });
});
