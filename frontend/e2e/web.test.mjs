// The web front as nginx serves it: headers on every kind of response,
// caching, the SPA fallback, and the /api/ proxy (SSE unbuffered).
import { test } from 'node:test';
import assert from 'node:assert/strict';

const WEB = process.env.WEB_A;
if (!WEB) throw new Error('WEB_A is not set: run this through cargo xtask e2e');

const SECURITY_HEADERS = {
  'content-security-policy': /default-src 'self'.*frame-ancestors 'none'/,
  'x-content-type-options': /^nosniff$/,
  'x-frame-options': /^DENY$/,
  'referrer-policy': /strict-origin-when-cross-origin/,
  'permissions-policy': /camera=\(\)/,
};

function assertSecurityHeaders(response, what) {
  for (const [name, pattern] of Object.entries(SECURITY_HEADERS)) {
    const value = response.headers.get(name);
    assert.match(value ?? '', pattern, `${what}: ${name} is ${value}`);
  }
}

test('every kind of response carries the security headers', async () => {
  const index = await fetch(`${WEB}/`);
  const html = await index.text();
  const asset = html.match(/\/assets\/[^"']+\.js/)?.[0];
  assert.ok(asset, 'index.html references a hashed script');
  const cases = [
    ['/health', 200],
    ['/', 200],
    [asset, 200],
    ['/assets/missing-0000.js', 404],
    ['/a/client/route', 200],
    ['/.env', 404],
    ['/api/health', 200],
    ['/api/nope', 404],
  ];
  for (const [path, status] of cases) {
    const response = await fetch(`${WEB}${path}`);
    assert.equal(response.status, status, path);
    assertSecurityHeaders(response, path);
    await response.arrayBuffer();
  }
});

test('HSTS is sent only when the client came over HTTPS', async () => {
  const plain = await fetch(`${WEB}/`);
  assert.equal(plain.headers.get('strict-transport-security'), null);
  const https = await fetch(`${WEB}/`, { headers: { 'x-forwarded-proto': 'https' } });
  assert.match(https.headers.get('strict-transport-security') ?? '', /max-age=\d+/);
});

test('hashed assets are immutable, index.html is never cached, unknown paths get the SPA', async () => {
  const index = await fetch(`${WEB}/`);
  assert.equal(index.headers.get('cache-control'), 'no-store');
  const html = await index.text();
  const asset = html.match(/\/assets\/[^"']+\.(js|css)/)[0];
  const cached = await fetch(`${WEB}${asset}`);
  assert.match(cached.headers.get('cache-control'), /max-age=31536000, immutable/);
  await cached.arrayBuffer();
  const missing = await fetch(`${WEB}/assets/missing-0000.js`);
  assert.doesNotMatch(missing.headers.get('cache-control') ?? '', /immutable/, 'a 404 is not cached for a year');
  await missing.arrayBuffer();
  const route = await fetch(`${WEB}/some/deep/link`);
  assert.equal(await route.text(), html);
});

test('text assets are served gzipped', async () => {
  const html = await (await fetch(`${WEB}/`)).text();
  const script = html.match(/\/assets\/[^"']+\.js/)[0];
  const response = await fetch(`${WEB}${script}`, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(response.headers.get('content-encoding'), 'gzip');
  await response.arrayBuffer();
});

test('api errors keep their JSON shape through the proxy, oversized bodies too', async () => {
  const big = JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(100_000) });
  const response = await fetch(`${WEB}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: big,
  });
  assert.equal(response.status, 413);
  const body = await response.json();
  assert.equal(body.error.code, 'payload_too_large');
  assertSecurityHeaders(response, '413');
});

test('the event stream passes through unbuffered', async () => {
  const email = `web-${Date.now()}-${Math.random().toString(16).slice(2)}@example.com`;
  const credentials = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery' }),
  };
  const signup = await fetch(`${WEB}/api/auth/signup`, credentials);
  assert.equal(signup.status, 202);
  const login = await fetch(`${WEB}/api/auth/login`, credentials);
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie').split(';')[0];

  const controller = new AbortController();
  const stream = await fetch(`${WEB}/api/events`, { headers: { cookie }, signal: controller.signal });
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type'), /text\/event-stream/);
  const reader = stream.body.getReader();
  const decoder = new TextDecoder();
  let seen = '';
  const readUntil = async (needle) => {
    const deadline = Date.now() + 10_000;
    while (!seen.includes(needle)) {
      assert.ok(Date.now() < deadline, `no "${needle}" through the proxy; got: ${seen}`);
      const { value, done } = await reader.read();
      assert.ok(!done, 'stream ended');
      seen += decoder.decode(value, { stream: true });
    }
  };
  await readUntil('event: snapshot');
  // A small live event right after must arrive at once, not sit in a buffer:
  // ending every session of the user through the other web front (the other
  // api) ends this stream, with session_ended, over NATS.
  const WEB_B = process.env.WEB_B ?? WEB;
  const ended = await fetch(`${WEB_B}/api/auth/logout-everywhere`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
  });
  assert.equal(ended.status, 204);
  await readUntil('event: session_ended');
  controller.abort();
});
