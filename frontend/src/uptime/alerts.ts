// The dashboard's "Alerts" section: where a red light or a recovery is
// posted (one webhook per account) and what was posted lately. The worker
// sends the alerts; this only sets the webhook and reads the record.

import type { Alert, Webhook, WebhookFormat, WebhookInput } from './api';
import { relativeTime } from './format';
import { h, setText } from '../views/dom';
import { busy, field, FormErrors, input, submitButton } from '../views/forms';

export interface AlertActions {
  webhook(): Promise<Webhook | null>;
  setWebhook(input: WebhookInput): Promise<Webhook>;
  removeWebhook(): Promise<void>;
  recentAlerts(): Promise<Alert[]>;
}

export const FORMAT_LABELS: Record<WebhookFormat, string> = { json: 'JSON', slack: 'Slack' };

export const KIND_LABELS: Record<Alert['kind'], string> = { down: 'Down', recovered: 'Recovered' };

export function describeWebhook(webhook: Webhook | null): string {
  if (!webhook) return 'No webhook set: nothing is sent when a light turns red.';
  return `Alerts go to ${webhook.url} as ${FORMAT_LABELS[webhook.format]}.`;
}

/** Where the delivery stands, with the receiver's last answer when it was not a success. */
export function alertStatus(alert: Alert): string {
  const tries = `${alert.attempts} ${alert.attempts === 1 ? 'attempt' : 'attempts'}`;
  const why = alert.last_error ? `: ${alert.last_error}` : '';
  switch (alert.status) {
    case 'sent':
      return 'sent';
    case 'pending':
      return alert.attempts === 0 ? 'sending…' : `retrying after ${tries}${why}`;
    case 'failed':
      return `failed after ${tries}${why}`;
  }
}

export class AlertsPanel {
  readonly element: HTMLElement;
  private readonly current = h('p', { class: 'webhook-current', 'data-testid': 'webhook', 'aria-live': 'polite' });
  private readonly url = field(
    'url',
    'Webhook URL',
    input({ type: 'url', maxlength: 2048, placeholder: 'https://hooks.slack.com/services/…', autocomplete: 'off' }),
  );
  private readonly format = field(
    'format',
    'Format',
    h('select', {}, ...Object.entries(FORMAT_LABELS).map(([value, label]) => h('option', { value }, label))),
  );
  private readonly summary = h('p', { hidden: true });
  private readonly errors = new FormErrors([this.url, this.format], this.summary);
  private readonly remove = h('button', { type: 'button', class: 'danger', hidden: true }, 'Remove');
  private readonly form: HTMLFormElement;
  private readonly list = h('ol', { class: 'alert-list', 'aria-labelledby': 'recent-alerts-heading' });
  private readonly listNote = h('p', { class: 'alert-note', 'aria-live': 'polite' });
  private alerts: Alert[] = [];

  constructor(private readonly act: AlertActions) {
    this.url.element.classList.add('field--wide');
    const refresh = h('button', { type: 'button' }, 'Refresh');
    this.form = h(
      'form',
      { class: 'webhook-form', novalidate: true, 'aria-label': 'Webhook' },
      this.current,
      h('div', { class: 'form-grid' }, this.url.element, this.format.element),
      this.summary,
      h('div', { class: 'actions' }, submitButton('Save webhook'), this.remove),
    );
    this.element = h(
      'section',
      { class: 'alerts', 'aria-labelledby': 'alerts-heading' },
      h('h2', { id: 'alerts-heading' }, 'Alerts'),
      this.form,
      h('div', { class: 'alerts-head' }, h('h3', { id: 'recent-alerts-heading' }, 'Recent alerts'), refresh),
      this.listNote,
      this.list,
    );

    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      const format = this.format.control.value as WebhookFormat;
      void this.change(async () => this.showWebhook(await act.setWebhook({ url: this.url.control.value.trim(), format })));
    });
    this.remove.addEventListener('click', () => {
      void this.change(async () => {
        await act.removeWebhook();
        this.form.reset();
        this.showWebhook(null);
      });
    });
    refresh.addEventListener('click', () => void this.refresh());

    void this.load();
  }

  /** Re-renders the relative times; the dashboard's clock calls this. */
  refreshTime(now: number): void {
    this.renderAlerts(now);
  }

  async refresh(): Promise<void> {
    try {
      this.alerts = await this.act.recentAlerts();
      setText(this.listNote, this.alerts.length ? '' : 'No alerts yet.');
    } catch (e) {
      setText(this.listNote, `Could not load alerts: ${e instanceof Error ? e.message : 'something went wrong'}`);
    }
    this.renderAlerts(Date.now());
  }

  private async load(): Promise<void> {
    try {
      const webhook = await this.act.webhook();
      // Someone may have started typing while this loaded; their input wins.
      if (webhook && this.url.control.value === '') {
        this.url.control.value = webhook.url;
        this.format.control.value = webhook.format;
      }
      this.showWebhook(webhook);
    } catch {
      setText(this.current, 'Could not load the webhook setting.');
    }
    await this.refresh();
  }

  private async change(work: () => Promise<void>): Promise<void> {
    this.errors.clear();
    try {
      await busy(this.form, work);
    } catch (err) {
      this.errors.show(err);
      return;
    }
    await this.refresh();
  }

  private showWebhook(webhook: Webhook | null): void {
    setText(this.current, describeWebhook(webhook));
    this.remove.hidden = webhook === null;
  }

  private renderAlerts(now: number): void {
    this.list.replaceChildren(
      ...this.alerts.map((alert) =>
        h(
          'li',
          { class: `alert alert--${alert.kind}`, 'data-testid': 'alert' },
          h('span', { class: 'alert-monitor' }, alert.monitor_name),
          h('span', { class: `alert-kind alert-kind--${alert.kind}` }, KIND_LABELS[alert.kind]),
          h('span', { class: `alert-status alert-status--${alert.status}` }, alertStatus(alert)),
          h(
            'time',
            { datetime: alert.created_at, title: new Date(alert.created_at).toLocaleString() },
            relativeTime(alert.created_at, now),
          ),
        ),
      ),
    );
  }
}
