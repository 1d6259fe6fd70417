// Boot: find out who is signed in, then show the log-in form or the
// signed-in page, and go back to the form when the session ends.

import './style.css';
import { api, ApiError, observeApi, type User } from './api';
import { accountPage } from './views/account';
import { authView } from './views/auth';
import { Banner } from './views/banner';
import type { ShowSignedIn } from './views/page';
import { dashboardPage } from './uptime/page'; // example

/** The skeleton's account page, unless a product shows its own. */
let signedInPage: ShowSignedIn = accountPage;
signedInPage = dashboardPage; // example

const root = document.getElementById('app') as HTMLElement;
const banner = new Banner(document.getElementById('banner') as HTMLElement);

observeApi({
  succeeded: () => banner.hide(),
  // A 4xx is the API answering: it is reachable, and the form that asked shows the message.
  failed: (error) => (error.unavailable ? banner.show(error.message) : banner.hide()),
});

let teardown: (() => void) | null = null;

function showAuth(notice?: string): void {
  teardown?.();
  teardown = null;
  root.replaceChildren(authView({ login: api.login, signup: api.signup, loggedIn: showSignedIn }, notice));
  document.title = 'Beacon — log in';
  root.querySelector('input')?.focus();
}

const sessionEnded = () => showAuth('Your session has ended. Log in again.');

/** Any 401 while signed in means the session expired or was revoked. */
async function authed<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) sessionEnded();
    throw e;
  }
}

function showSignedIn(user: User): void {
  teardown?.();
  const page = signedInPage({
    user,
    authed,
    ended: sessionEnded,
    logOut: async () => {
      await api.logout();
      showAuth();
    },
    logOutEverywhere: async () => {
      await api.logoutEverywhere();
      showAuth('You are logged out everywhere.');
    },
  });
  teardown = () => page.destroy();
  root.replaceChildren(page.element);
  document.title = page.title;
}

async function boot(): Promise<void> {
  try {
    showSignedIn(await api.me());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showAuth();
    const message = e instanceof Error ? e.message : 'Beacon could not start.';
    root.replaceChildren();
    banner.show(message, () => void boot());
  }
}

void boot();
