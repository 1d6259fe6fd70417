// What the browser tests share: Debian's Chromium through playwright-core, a
// watch on the console, and signing up. Its name has no `.test.`, so
// `node --test` loads it only through the tests that import it.
import { chromium } from 'playwright-core';

export const { WEB_A, WEB_B, ARTIFACTS_DIR = '.artifacts/e2e', CHROMIUM = '/usr/bin/chromium' } = process.env;
if (!WEB_A) throw new Error('WEB_A is not set: run this through cargo xtask e2e');

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

export const launchBrowser = () => chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

/**
 * Collects console errors and uncaught exceptions (CSP violations show up here)
 * into `problems`. Chromium logs every 4xx as an error; `expected` says which
 * are part of the test. The first load asks /api/auth/me, and a 401 there just
 * means "log in".
 */
export function watch(page, name, problems, expected = /status of 401/) {
  page.on('console', (message) => {
    if (message.type() === 'error' && !expected.test(message.text())) problems.push(`${name}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
}

/** Signs a new account up through the log-in page's form; returns its email. */
export async function signUp(page) {
  await page.getByRole('button', { name: 'Create an account' }).click();
  const email = `e2e-${Date.now()}-${Math.random().toString(16).slice(2, 8)}@example.com`;
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Sign up' }).click();
  return email;
}
