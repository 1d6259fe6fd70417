// The dashboard in a real browser (Debian's Chromium through
// playwright-core): sign up, add a monitor, watch its light change live in
// two tabs, each talking to a different api process through its own nginx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const { WEB_A, WEB_B, ARTIFACTS_DIR = '.artifacts/e2e', CHROMIUM = '/usr/bin/chromium' } = process.env;
if (!WEB_A || !WEB_B) throw new Error('WEB_A and WEB_B are not set: run this through scripts/e2e.sh');

// Chromium's own background traffic is pointless (and refused) offline.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

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

let browser;
const problems = [];

function watch(page, name) {
  // CSP violations and script errors show up here.
  page.on('console', (message) => {
    // The first load asks /api/auth/me, and a 401 there just means "log in".
    const expected = /status of 401/.test(message.text());
    if (message.type() === 'error' && !expected) problems.push(`${name}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
}

before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
});

const card = (page, state) =>
  page.locator(`[data-testid="monitor-card"]${state ? `[data-state="${state}"]` : ''}`);

test('a monitor turns green, then red, live, in two tabs on two api machines', async () => {
  const target = await startTarget();
  // One browser profile: both tabs share the session cookie (same host).
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const tabA = await context.newPage();
  watch(tabA, 'tab A');
  await tabA.goto(WEB_A);

  await tabA.getByRole('button', { name: 'Create an account' }).click();
  const email = `e2e-${Date.now()}@example.com`;
  await tabA.getByLabel('Email').fill(email);
  await tabA.getByLabel('Password').fill('correct horse battery');
  await tabA.getByRole('button', { name: 'Sign up' }).click();
  await tabA.getByTestId('connection').filter({ hasText: /live/i }).waitFor({ timeout: 15_000 });

  await tabA.getByLabel('Name').fill('Local target');
  await tabA.getByLabel('URL').fill(target.url);
  await tabA.getByRole('button', { name: 'Add monitor' }).click();
  await card(tabA).first().waitFor({ timeout: 10_000 });

  // The scheduler checks a new monitor at once; no reload anywhere below.
  await card(tabA, 'up').waitFor({ timeout: 20_000 });

  const tabB = await context.newPage();
  watch(tabB, 'tab B');
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

  await mkdir(ARTIFACTS_DIR, { recursive: true });
  await tabA.screenshot({ path: `${ARTIFACTS_DIR}/dashboard.png`, fullPage: true, animations: 'disabled' });
  await tabB.setViewportSize({ width: 390, height: 844 });
  await tabB.screenshot({ path: `${ARTIFACTS_DIR}/dashboard-phone.png`, fullPage: true, animations: 'disabled' });

  assert.deepEqual(problems, [], 'no console errors or CSP violations');
  await context.close();
});

test('validation errors and a refused login are shown, not swallowed', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(WEB_A);
  await page.getByLabel('Email').fill(`nobody-${Date.now()}@example.com`);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText(/invalid email or password/i).waitFor({ timeout: 10_000 });
  await context.close();
});
