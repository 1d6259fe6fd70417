// One monitor's card. Cards are built once and updated in place, so a check
// landing while someone types in the inline editor moves the light without
// touching their input or focus.

import type { Monitor, MonitorInput } from './api';
import { formatInterval, formatLatency, formatTimeout, relativeTime, sparkline, STATE_LABELS } from './format';
import type { MonitorView, RecentCheck } from './store';
import { h, setText, svg, uid } from '../views/dom';
import { busy, submitButton } from '../views/forms';
import { changedFields, monitorFields } from './monitorForm';

export interface CardActions {
  checkNow(id: string): Promise<string>;
  save(id: string, changes: Partial<MonitorInput>): Promise<void>;
  remove(id: string): Promise<void>;
}

const SPARK_W = 240;
const SPARK_H = 40;
/** How long "Check queued" stays up when no result arrives (the stream may be down). */
const QUEUED_NOTE_MS = 30_000;

export class MonitorCard {
  readonly element: HTMLElement;
  private monitor: MonitorView;
  private readonly light = h('span', { class: 'light', 'data-testid': 'light', 'aria-hidden': 'true' });
  private readonly stateLabel = h('span', { class: 'state-label' });
  private readonly name = h('h3', { class: 'name', id: uid('monitor-name') });
  private readonly url = h('a', { class: 'url', target: '_blank', rel: 'noopener noreferrer' });
  private readonly status = h('dd', {});
  private readonly latency = h('dd', {});
  private readonly checked = h('time', {});
  private readonly checkError = h('p', { class: 'check-error', hidden: true });
  private readonly spark = h('div', { class: 'spark' });
  private readonly meta = h('p', { class: 'meta' });
  private readonly note = h('p', { class: 'card-note', 'aria-live': 'polite' });
  private readonly checkButton = h('button', { type: 'button' }, 'Check now');
  private readonly editButton = h('button', { type: 'button' }, 'Edit');
  private readonly deleteButton = h('button', { type: 'button', class: 'danger' }, 'Delete');
  private readonly actions = h('div', { class: 'actions' }, this.checkButton, this.editButton, this.deleteButton);
  private readonly confirmDelete = h('button', { type: 'button', class: 'danger' }, 'Delete');
  private readonly cancelDelete = h('button', { type: 'button' }, 'Cancel');
  private readonly confirmRow = h(
    'div',
    { class: 'actions confirm', hidden: true },
    h('span', {}, 'Delete this monitor and its history?'),
    this.confirmDelete,
    this.cancelDelete,
  );
  private editor: HTMLFormElement | null = null;
  private drawnChecks: RecentCheck[] | null = null;
  private pendingCheck: { id: string; clear: ReturnType<typeof setTimeout> } | null = null;

  constructor(
    monitor: MonitorView,
    private readonly act: CardActions,
    now: number,
  ) {
    this.monitor = monitor;
    this.element = h(
      'article',
      { class: 'card', 'data-testid': 'monitor-card', 'aria-labelledby': this.name.id },
      h('div', { class: 'card-head' }, this.light, h('div', { class: 'card-title' }, this.name, this.url), this.stateLabel),
      h(
        'dl',
        { class: 'stats' },
        h('div', {}, h('dt', {}, 'Status'), this.status),
        h('div', {}, h('dt', {}, 'Latency'), this.latency),
        h('div', {}, h('dt', {}, 'Checked'), h('dd', {}, this.checked)),
      ),
      this.checkError,
      this.spark,
      this.meta,
      this.note,
      this.actions,
      this.confirmRow,
    );
    this.checkButton.addEventListener('click', () => void this.checkNow());
    this.editButton.addEventListener('click', () => this.openEditor());
    this.deleteButton.addEventListener('click', () => this.askDelete(true));
    this.cancelDelete.addEventListener('click', () => this.askDelete(false));
    this.confirmDelete.addEventListener('click', () => void this.delete());
    this.update(monitor, now);
  }

  update(monitor: MonitorView, now: number): void {
    this.monitor = monitor;
    const el = this.element;
    el.dataset.monitorId = monitor.id;
    el.dataset.state = monitor.state;
    this.light.dataset.state = monitor.state;
    this.light.className = `light light--${monitor.state}`;
    this.stateLabel.className = `state-label state-label--${monitor.state}`;
    setText(this.stateLabel, STATE_LABELS[monitor.state] ?? monitor.state);
    setText(this.name, monitor.name);
    setText(this.url, monitor.url);
    // The api accepts only http(s) URLs; checking again here means a bad row
    // can never become a `javascript:` link.
    if (/^https?:\/\//i.test(monitor.url)) this.url.href = monitor.url;
    else this.url.removeAttribute('href');

    const last = monitor.recent_checks[0];
    let status = '—';
    if (last?.status_code != null) {
      status = String(last.status_code);
      if (!last.ok && last.status_code !== monitor.expected_status) status += ` (expected ${monitor.expected_status})`;
    } else if (last && !last.ok) {
      status = 'no response';
    }
    setText(this.status, status);
    setText(this.latency, formatLatency(last?.latency_ms ?? null));
    this.checkError.hidden = !(last && !last.ok && last.error);
    setText(this.checkError, last?.error ?? '');
    this.refreshTime(now);

    setText(
      this.meta,
      `${monitor.method} · ${formatInterval(monitor.interval_seconds)} · timeout ${formatTimeout(monitor.timeout_ms)} · expects ${monitor.expected_status}`,
    );
    if (monitor.recent_checks !== this.drawnChecks) this.drawSparkline(monitor.recent_checks);
    if (this.pendingCheck && monitor.recent_checks.some((c) => c.id === this.pendingCheck?.id)) this.clearNote();
  }

  /** Relative times go stale while nothing else changes; the dashboard ticks this. */
  refreshTime(now: number): void {
    const at = this.monitor.last_checked_at;
    setText(this.checked, relativeTime(at, now));
    if (at) {
      this.checked.dateTime = at;
      this.checked.title = new Date(at).toLocaleString();
    } else {
      this.checked.removeAttribute('datetime');
      this.checked.removeAttribute('title');
    }
  }

  destroy(): void {
    if (this.pendingCheck) clearTimeout(this.pendingCheck.clear);
    this.element.remove();
  }

  private drawSparkline(checks: RecentCheck[]): void {
    this.drawnChecks = checks;
    if (checks.length === 0) {
      this.spark.replaceChildren(h('p', { class: 'spark-empty' }, 'No checks yet'));
      return;
    }
    const line = sparkline(checks, SPARK_W, SPARK_H);
    const failed = line.points.filter((p) => !p.ok).length;
    const measured = checks.map((c) => c.latency_ms).filter((l): l is number => l !== null);
    const range = measured.length
      ? `, ${formatLatency(Math.min(...measured))} to ${formatLatency(Math.max(...measured))}`
      : '';
    const label = `Latency of the last ${checks.length} checks, oldest to newest${range}${failed ? `; ${failed} failed` : ''}`;
    // Every check gets a dot (a lone success between failures has no line to
    // sit on); failures are larger and red, and each says what happened on hover.
    const dots = line.points.map((p) => {
      const when = new Date(p.check.checked_at).toLocaleTimeString();
      const what = p.ok ? formatLatency(p.check.latency_ms) : `failed${p.check.error ? `: ${p.check.error}` : ''}`;
      return svg(
        'circle',
        { cx: p.x, cy: p.y, r: p.ok ? 1.75 : 3.25, class: p.ok ? 'spark-ok' : 'spark-fail' },
        svg('title', {}, document.createTextNode(`${when}: ${what}`)),
      );
    });
    this.spark.replaceChildren(
      svg(
        'svg',
        { viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, role: 'img', 'aria-label': label, class: 'sparkline' },
        ...(line.path ? [svg('path', { d: line.path, class: 'spark-line' })] : []),
        ...dots,
      ),
    );
  }

  private async checkNow(): Promise<void> {
    this.checkButton.disabled = true;
    try {
      const checkId = await this.act.checkNow(this.monitor.id);
      this.clearNote();
      setText(this.note, 'Check queued…');
      this.pendingCheck = { id: checkId, clear: setTimeout(() => this.clearNote(), QUEUED_NOTE_MS) };
    } catch (e) {
      this.showNote(e);
    } finally {
      this.checkButton.disabled = false;
    }
  }

  private askDelete(asking: boolean): void {
    this.actions.hidden = asking;
    this.confirmRow.hidden = !asking;
    // Cancel takes focus, so a keyboard double-press cannot delete by accident.
    (asking ? this.cancelDelete : this.deleteButton).focus();
  }

  private async delete(): Promise<void> {
    this.confirmDelete.disabled = true;
    try {
      await this.act.remove(this.monitor.id);
    } catch (e) {
      this.showNote(e);
      this.askDelete(false);
    } finally {
      this.confirmDelete.disabled = false;
    }
  }

  private openEditor(): void {
    if (this.editor) return;
    const summary = h('p', { hidden: true });
    const form = monitorFields(summary);
    form.fill(this.monitor);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    const editor = h(
      'form',
      { class: 'edit-form', novalidate: true, 'aria-label': `Edit ${this.monitor.name}` },
      h('div', { class: 'form-grid' }, ...form.fields.map((f) => f.element)),
      summary,
      h('div', { class: 'actions' }, submitButton('Save'), cancel),
    );
    const close = () => {
      editor.remove();
      this.editor = null;
      this.actions.hidden = false;
      this.editButton.focus();
    };
    cancel.addEventListener('click', close);
    editor.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') close();
    });
    editor.addEventListener('submit', async (e) => {
      e.preventDefault();
      const read = form.read();
      if (!read.ok) return;
      const changes = changedFields(this.monitor as Monitor, read.value);
      if (Object.keys(changes).length === 0) return close();
      form.errors.clear();
      try {
        await busy(editor, () => this.act.save(this.monitor.id, changes));
        close();
      } catch (err) {
        form.errors.show(err);
      }
    });
    this.editor = editor;
    this.actions.hidden = true;
    this.confirmRow.hidden = true;
    this.element.append(editor);
    form.fields[0]?.control.focus();
  }

  private showNote(error: unknown): void {
    this.clearNote();
    setText(this.note, error instanceof Error ? error.message : 'Something went wrong.');
    this.note.classList.add('card-note--error');
  }

  private clearNote(): void {
    if (this.pendingCheck) clearTimeout(this.pendingCheck.clear);
    this.pendingCheck = null;
    setText(this.note, '');
    this.note.classList.remove('card-note--error');
  }
}
