// The dashboard in a real browser (Debian's Chromium through
// playwright-core): sign up, add a monitor, set a webhook, watch the light
// change live in two tabs, each talking to a different api process through its
// own nginx, and the webhook receive the alert.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import { ARTIFACTS_DIR, launchBrowser, signUp, watch, WEB_A, WEB_B } from '../browser.mjs';

if (!WEB_B) throw new Error('WEB_B is not set: run this through cargo xtask e2e');

/** The site the monitor watches: a local server the test can take down. */
function startTarget() {
  const sockets = new Set();
  const server = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        stop: () =>
          new Promise((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(done);
          }),
      });
    });
  });
}

/** Stands in for the webhook's receiver (Slack, a pager…): keeps the body of every POST. */
function startReceiver() {
  const posts = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method === 'POST') posts.push(body);
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/alerts`,
        posts,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(done);
          }),
      });
    });
  });
}

async function eventually(condition, timeoutMs, message) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    assert.ok(Date.now() < deadline, message());
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let browser;
const problems = [];
// The 422 is the webhook form refusing an ftp:// URL on purpose.
const EXPECTED_ERRORS = /status of (401|422)/;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const card = (page, state) =>
  page.locator(`[data-testid="monitor-card"]${state ? `[data-state="${state}"]` : ''}`);

test('a monitor turns green, then red, live, in two tabs on two api machines, and the webhook hears of it', async (t) => {
  const target = await startTarget();
  t.after(target.stop);
  const receiver = await startReceiver();
  t.after(receiver.close);
  // One browser profile: both tabs share the session cookie (same host).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const tabA = await context.newPage();
  watch(tabA, 'tab A', problems, EXPECTED_ERRORS);
  await tabA.goto(WEB_A);

  await signUp(tabA);
  await tabA.getByTestId('connection').filter({ hasText: /live/i }).waitFor({ timeout: 15_000 });

  const monitorName = 'Local target';
  await tabA.getByLabel('Name').fill(monitorName);
  // `exact`: the alerts section has a "Webhook URL" too.
  await tabA.getByLabel('URL', { exact: true }).fill(target.url);
  await tabA.getByRole('button', { name: 'Add monitor' }).click();
  await card(tabA).first().waitFor({ timeout: 10_000 });

  // The scheduler checks a new monitor at once; no reload anywhere below.
  await card(tabA, 'up').waitFor({ timeout: 20_000 });

  const alerts = tabA.getByRole('region', { name: 'Alerts' });
  const webhookUrl = alerts.getByLabel('Webhook URL');
  const saveWebhook = alerts.getByRole('button', { name: 'Save webhook' });
  // The api's message lands beside the field it is about.
  await webhookUrl.fill('ftp://example.com/hook');
  await saveWebhook.click();
  await alerts.getByText(/must use http or https/).waitFor({ timeout: 10_000 });
  await webhookUrl.fill(receiver.url);
  await alerts.getByLabel('Format').selectOption({ label: 'JSON' });
  await saveWebhook.click();
  await alerts.getByTestId('webhook').filter({ hasText: receiver.url }).waitFor({ timeout: 10_000 });
  await alerts.getByRole('button', { name: 'Remove' }).waitFor({ timeout: 10_000 });

  const tabB = await context.newPage();
  watch(tabB, 'tab B', problems, EXPECTED_ERRORS);
  await tabB.goto(WEB_B);
  await tabB.getByTestId('connection').filter({ hasText: /live/i }).waitFor({ timeout: 15_000 });
  await card(tabB, 'up').waitFor({ timeout: 10_000 });

  await target.stop();
  // Two failures in a row make it red: check now, wait for yellow, again.
  await card(tabA).getByRole('button', { name: 'Check now' }).click();
  await card(tabA, 'degraded').waitFor({ timeout: 20_000 });
  await card(tabB, 'degraded').waitFor({ timeout: 10_000 });
  await card(tabA).getByRole('button', { name: 'Check now' }).click();
  await card(tabA, 'down').waitFor({ timeout: 20_000 });
  await card(tabB, 'down').waitFor({ timeout: 10_000 });

  // The worker posts the alert; it may take a few retries' worth of seconds.
  await eventually(() => receiver.posts.length > 0, 15_000, () => 'the webhook received no POST within 15 s');
  await alerts.getByRole('button', { name: 'Refresh' }).click();
  await alerts
    .getByTestId('alert')
    .filter({ hasText: monitorName })
    .filter({ hasText: /down/i })
    .waitFor({ timeout: 10_000 });
  // Asked after the list round trip, so a duplicate send has had time to show.
  assert.equal(receiver.posts.length, 1, `one POST per red light; got ${receiver.posts.join('\n')}`);
  const alert = JSON.parse(receiver.posts[0]);
  assert.equal(alert.event, 'monitor.down');
  assert.equal(alert.monitor?.name, monitorName);

  await mkdir(ARTIFACTS_DIR, { recursive: true });
  await tabA.screenshot({ path: `${ARTIFACTS_DIR}/dashboard.png`, fullPage: true, animations: 'disabled' });
  await tabB.setViewportSize({ width: 390, height: 844 });
  await tabB.screenshot({ path: `${ARTIFACTS_DIR}/dashboard-phone.png`, fullPage: true, animations: 'disabled' });

  assert.deepEqual(problems, [], 'no console errors or CSP violations');
  await context.close();
});
