// The example's signed-in page: the dashboard, wired to the API and the live
// stream. main.ts shows it in place of the skeleton's account page.

import './uptime.css';
import { ApiError } from '../api';
import { connectLive } from '../live';
import type { Session, SignedInPage } from '../views/page';
import { uptimeApi } from './api';
import { Dashboard } from './dashboard';
import {
  applyDeleted,
  applyEvent,
  applyList,
  applyMonitor,
  emptyState,
  UPTIME_EVENT_TYPES,
  type DashboardState,
  type UptimeEvent,
} from './store';

export function dashboardPage(session: Session): SignedInPage {
  const { authed } = session;
  let state: DashboardState = emptyState;
  const update = (next: (s: DashboardState) => DashboardState) => {
    state = next(state);
    dashboard.render(state);
  };

  const dashboard = new Dashboard(session, {
    create: (input) => authed(async () => {
      const monitor = await uptimeApi.createMonitor(input);
      update((s) => applyMonitor(s, monitor));
    }),
    save: (id, changes) => authed(async () => {
      const monitor = await uptimeApi.updateMonitor(id, changes);
      update((s) => applyMonitor(s, monitor));
    }),
    remove: (id) => authed(async () => {
      try {
        await uptimeApi.deleteMonitor(id);
      } catch (e) {
        // Already gone (deleted in another tab): what the person wanted.
        if (!(e instanceof ApiError && e.status === 404)) throw e;
      }
      update((s) => applyDeleted(s, id));
    }),
    checkNow: (id) => authed(async () => (await uptimeApi.checkNow(id)).check_id),
    webhook: () => authed(uptimeApi.webhook),
    setWebhook: (input) => authed(() => uptimeApi.setWebhook(input)),
    removeWebhook: () => authed(uptimeApi.removeWebhook),
    recentAlerts: () => authed(uptimeApi.recentAlerts),
  });
  dashboard.render(state);

  // Paint from the REST listing at once; the stream's snapshot supersedes it.
  void authed(uptimeApi.listMonitors)
    .then((monitors) => update((s) => applyList(s, monitors)))
    .catch(() => undefined); // the banner (5xx) or the log-in form (401) already says why

  const live = connectLive<UptimeEvent>({
    eventTypes: UPTIME_EVENT_TYPES,
    onEvent: (event) => update((s) => applyEvent(s, event)),
    onState: (connection) => dashboard.setConnection(connection),
    onUnauthorized: session.ended,
  });

  return {
    element: dashboard.element,
    title: 'Beacon',
    destroy: () => {
      live.close();
      dashboard.destroy();
    },
  };
}
