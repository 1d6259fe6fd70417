// The example's calls: monitors, checks and alerts, on the skeleton's
// `request` (same-origin JSON, the CSRF header, `ApiError`).

import { request } from '../api';

export type MonitorState = 'up' | 'degraded' | 'down' | 'unknown';
export type HttpMethod = 'GET' | 'HEAD' | 'POST';

export interface Monitor {
  id: string;
  name: string;
  url: string;
  method: HttpMethod;
  interval_seconds: number;
  timeout_ms: number;
  expected_status: number;
  state: MonitorState;
  last_checked_at: string | null;
  next_check_at: string;
  created_at: string;
  updated_at: string;
}

/** What the create form sends; absent numbers take the server's defaults. */
export interface MonitorInput {
  name: string;
  url: string;
  method?: HttpMethod;
  interval_seconds?: number;
  timeout_ms?: number;
  expected_status?: number;
}

export interface CheckQueued {
  check_id: string;
  monitor_id: string;
  queued_at: string;
}

/** `slack` posts Slack's `{"text": …}`; `json` posts the full event. */
export type WebhookFormat = 'json' | 'slack';

export interface WebhookInput {
  url: string;
  format: WebhookFormat;
}

export interface Webhook extends WebhookInput {
  updated_at: string;
}

/** One webhook POST, written when a light turns red or leaves red. */
export interface Alert {
  id: string;
  monitor_id: string;
  monitor_name: string;
  check_id: string;
  kind: 'down' | 'recovered';
  /** `pending` until the worker has posted it, or while it retries. */
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

/** How many recent alerts the dashboard lists; the api allows 1 to 100. */
export const RECENT_ALERTS = 10;

const monitorPath = (id: string) => `/api/monitors/${encodeURIComponent(id)}`;

export const uptimeApi = {
  listMonitors: () => request<{ monitors: Monitor[] }>('GET', '/api/monitors').then((r) => r.monitors),
  createMonitor: (input: MonitorInput) => request<Monitor>('POST', '/api/monitors', input),
  updateMonitor: (id: string, changes: Partial<MonitorInput>) =>
    request<Monitor>('PATCH', monitorPath(id), changes),
  deleteMonitor: (id: string) => request<void>('DELETE', monitorPath(id)),
  checkNow: (id: string) => request<CheckQueued>('POST', `${monitorPath(id)}/check`),

  webhook: () => request<{ webhook: Webhook | null }>('GET', '/api/alerts/webhook').then((r) => r.webhook),
  setWebhook: (input: WebhookInput) =>
    request<{ webhook: Webhook }>('PUT', '/api/alerts/webhook', input).then((r) => r.webhook),
  removeWebhook: () => request<void>('DELETE', '/api/alerts/webhook'),
  recentAlerts: (limit = RECENT_ALERTS) =>
    request<{ alerts: Alert[] }>('GET', `/api/alerts?limit=${limit}`).then((r) => r.alerts),
};
