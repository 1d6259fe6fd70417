// Accounts in a real browser: sign up, see who is signed in, log out (here,
// and everywhere from another tab, which this one hears live), and a refused
// log-in. Only what every signed-in page has (the email, "Log out")
// is asserted, so this holds for the skeleton's account page and for a
// product's page alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, signUp, watch, WEB_A, WEB_B } from './browser.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('a new account is signed in, and "Log out" returns to the log-in form', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  watch(page, 'account', problems);
  await page.goto(WEB_A);

  const email = await signUp(page);
  await page.getByText(email).first().waitFor({ timeout: 10_000 });
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  const logInForm = page.getByRole('heading', { name: 'Log in to Beacon' });
  await logInForm.waitFor({ timeout: 10_000 });

  // The session is over on the server too, not just on the page.
  await page.reload();
  await logInForm.waitFor({ timeout: 10_000 });
  assert.equal(await page.getByText(email).count(), 0);

  assert.deepEqual(problems, [], 'no console errors or CSP violations');
  await context.close();
});

test('ending every session from another tab, on the other api, signs this tab out live', async () => {
  const context = await browser.newContext();
  const here = await context.newPage();
  const problems = [];
  watch(here, 'here', problems);
  await here.goto(WEB_A);
  const email = await signUp(here);
  await here.getByText(email).first().waitFor({ timeout: 10_000 });
  // The page's live stream is open before the session ends.
  await here.getByTestId('connection').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });

  // The same browser (the cookie is shared across ports) on the other web front.
  const there = await context.newPage();
  await there.goto(WEB_B);
  await there.getByText(email).first().waitFor({ timeout: 10_000 });
  const status = await there.evaluate(async () => {
    const response = await fetch('/api/auth/logout-everywhere', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    return response.status;
  });
  assert.equal(status, 204);

  // No reload: the stream's session_ended brings the log-in form back.
  await here.getByRole('heading', { name: 'Log in to Beacon' }).waitFor({ timeout: 10_000 });
  await here.getByText(/session has ended/i).waitFor({ timeout: 10_000 });
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
