// The example's signed-in page: header with the live indicator, the "Add
// monitor" form, the grid of cards and the alerts section.

import type { ConnectionState } from '../live';
import { h } from '../views/dom';
import { connectionIndicator } from '../views/connection';
import { busy, submitButton } from '../views/forms';
import { topbar, type Session } from '../views/page';
import { AlertsPanel, type AlertActions } from './alerts';
import type { MonitorInput } from './api';
import { MonitorCard, type CardActions } from './card';
import { monitorFields } from './monitorForm';
import type { DashboardState } from './store';

export interface DashboardActions extends CardActions, AlertActions {
  create(input: MonitorInput): Promise<void>;
}

/** Relative times ("12 s ago") are re-rendered this often. */
const CLOCK_TICK_MS = 10_000;

export class Dashboard {
  readonly element: HTMLElement;
  private readonly connection = connectionIndicator();
  private readonly grid = h('div', { class: 'grid' });
  private readonly empty = h('p', { class: 'empty' }, 'No monitors yet. Add the first URL to watch above.');
  private readonly cards = new Map<string, MonitorCard>();
  private readonly alerts: AlertsPanel;
  private readonly clock: ReturnType<typeof setInterval>;

  constructor(
    session: Session,
    private readonly act: DashboardActions,
  ) {
    this.alerts = new AlertsPanel(act);
    this.element = h(
      'div',
      { class: 'dashboard' },
      topbar(session, this.connection.element),
      h('main', {}, this.addForm(), h('section', { 'aria-labelledby': 'monitors-heading' },
        h('h2', { id: 'monitors-heading', class: 'visually-hidden' }, 'Monitors'),
        this.empty,
        this.grid,
      ), this.alerts.element),
    );
    this.clock = setInterval(() => {
      const now = Date.now();
      for (const card of this.cards.values()) card.refreshTime(now);
      this.alerts.refreshTime(now);
    }, CLOCK_TICK_MS);
  }

  setConnection(state: ConnectionState): void {
    this.connection.set(state);
  }

  /** Reconciles the cards with the state: update in place, add, remove, reorder. */
  render(state: DashboardState): void {
    const now = Date.now();
    const seen = new Set<string>();
    let previous: Element | null = null;
    for (const monitor of state.monitors) {
      seen.add(monitor.id);
      let card = this.cards.get(monitor.id);
      if (card) card.update(monitor, now);
      else {
        card = new MonitorCard(monitor, this.act, now);
        this.cards.set(monitor.id, card);
      }
      // Move only cards that are out of place, so focus inside the others survives.
      const expected: Element | null = previous ? previous.nextElementSibling : this.grid.firstElementChild;
      if (expected !== card.element) {
        if (previous) previous.after(card.element);
        else this.grid.prepend(card.element);
      }
      previous = card.element;
    }
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.destroy();
        this.cards.delete(id);
      }
    }
    this.empty.hidden = state.monitors.length > 0;
  }

  destroy(): void {
    clearInterval(this.clock);
    this.element.remove();
  }

  private addForm(): HTMLElement {
    const summary = h('p', { hidden: true });
    const form = monitorFields(summary);
    const el = h(
      'form',
      { class: 'add-form', novalidate: true, 'aria-labelledby': 'add-heading' },
      h('h2', { id: 'add-heading' }, 'Add a monitor'),
      h('div', { class: 'form-grid' }, ...form.fields.map((f) => f.element)),
      summary,
      h('div', { class: 'actions' }, submitButton('Add monitor')),
    );
    el.addEventListener('submit', async (e) => {
      e.preventDefault();
      const read = form.read();
      if (!read.ok) return;
      form.errors.clear();
      try {
        await busy(el, () => this.act.create(read.value));
        el.reset();
        form.fields[0]?.control.focus();
      } catch (err) {
        form.errors.show(err);
      }
    });
    return el;
  }
}
