// Boot: find out who is signed in, then show the log-in form or the
// dashboard, and wire the dashboard to the API and the live stream.

import './style.css';
import { api, ApiError, observeApi, type User } from './api';
import { connectLive, type LiveConnection } from './live';
import { applyDeleted, applyEvent, applyList, applyMonitor, emptyState, type DashboardState } from './store';
import { authView } from './views/auth';
import { Banner } from './views/banner';
import { Dashboard } from './views/dashboard';

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
  root.replaceChildren(authView({ login: api.login, signup: api.signup, loggedIn: showDashboard }, notice));
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

function showDashboard(user: User): void {
  teardown?.();
  let state: DashboardState = emptyState;
  let live: LiveConnection | null = null;
  const update = (next: (s: DashboardState) => DashboardState) => {
    state = next(state);
    dashboard.render(state);
  };

  const dashboard = new Dashboard(user, {
    create: (input) => authed(async () => {
      const monitor = await api.createMonitor(input);
      update((s) => applyMonitor(s, monitor));
    }),
    save: (id, changes) => authed(async () => {
      const monitor = await api.updateMonitor(id, changes);
      update((s) => applyMonitor(s, monitor));
    }),
    remove: (id) => authed(async () => {
      try {
        await api.deleteMonitor(id);
      } catch (e) {
        // Already gone (deleted in another tab): what the person wanted.
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
      update((s) => applyDeleted(s, id));
    }),
    checkNow: (id) => authed(async () => (await api.checkNow(id)).check_id),
    logout: async () => {
      await api.logout();
      showAuth();
    },
  });

  teardown = () => {
    live?.close();
    dashboard.destroy();
  };
  root.replaceChildren(dashboard.element);
  document.title = 'Beacon';
  dashboard.render(state);

  // Paint from the REST listing at once; the stream's snapshot supersedes it.
  void authed(api.listMonitors)
    .then((monitors) => update((s) => applyList(s, monitors)))
    .catch(() => undefined); // the banner (5xx) or the log-in form (401) already says why

  live = connectLive({
    onEvent: (event) => update((s) => applyEvent(s, event)),
    onState: (connection) => dashboard.setConnection(connection),
    onUnauthorized: sessionEnded,
    sessionValid: async () => {
      try {
        await api.me();
        return true;
      } catch (e) {
        return e instanceof ApiError && e.status === 401 ? false : null;
      }
    },
  });
}

async function boot(): Promise<void> {
  try {
    showDashboard(await api.me());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showAuth();
    const message = e instanceof Error ? e.message : 'Beacon could not start.';
    root.replaceChildren();
    banner.show(message, () => void boot());
  }
}

void boot();
