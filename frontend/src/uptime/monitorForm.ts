// The monitor fields, shared by "Add monitor" and each card's inline editor.

import { ApiError, type FieldProblem } from '../api';
import type { HttpMethod, Monitor, MonitorInput } from './api';
import { h } from '../views/dom';
import { field, FormErrors, input, type Field } from '../views/forms';

const METHODS: HttpMethod[] = ['GET', 'HEAD', 'POST'];

/** The api's defaults, shown as placeholders so an empty field reads as "the default". */
export const DEFAULTS = { interval_seconds: 60, timeout_ms: 5000, expected_status: 200 } as const;

type NumericField = keyof typeof DEFAULTS;

export interface MonitorFields {
  fields: Field[];
  errors: FormErrors;
  /** The values typed, or the client-side problems (only "is it a number"; the api checks the rest). */
  read(): { ok: true; value: MonitorInput } | { ok: false };
  fill(monitor: Monitor): void;
}

export function monitorFields(summary: HTMLElement): MonitorFields {
  const name = field('name', 'Name', input({ type: 'text', maxlength: 100, autocomplete: 'off', required: true }));
  const url = field(
    'url',
    'URL',
    input({ type: 'url', maxlength: 2048, placeholder: 'https://example.com/health', autocomplete: 'off', required: true }),
  );
  const method = field('method', 'Method', h('select', {}, ...METHODS.map((m) => h('option', { value: m }, m))));
  const numeric = (key: NumericField, label: string, min: number, max: number) =>
    field(key, label, input({ type: 'number', inputmode: 'numeric', min, max, step: 1, placeholder: DEFAULTS[key] }));
  const interval = numeric('interval_seconds', 'Interval (seconds)', 10, 86_400);
  const timeout = numeric('timeout_ms', 'Timeout (ms)', 100, 30_000);
  const expected = numeric('expected_status', 'Expected status', 100, 599);
  const numbers: [NumericField, Field<HTMLInputElement>][] = [
    ['interval_seconds', interval],
    ['timeout_ms', timeout],
    ['expected_status', expected],
  ];
  name.element.classList.add('field--wide');
  url.element.classList.add('field--wide');
  const fields: Field[] = [name, url, method, interval, timeout, expected];
  const errors = new FormErrors(fields, summary);

  return {
    fields,
    errors,
    read() {
      const value: MonitorInput = {
        name: name.control.value,
        url: url.control.value.trim(),
        method: method.control.value as HttpMethod,
      };
      const problems: FieldProblem[] = [];
      for (const [key, f] of numbers) {
        const raw = f.control.value.trim();
        // A number input reports "12abc" as an empty value plus badInput.
        if (f.control.validity.badInput) {
          problems.push({ field: key, message: 'must be a whole number' });
        } else if (raw !== '') {
          const n = Number(raw);
          if (Number.isInteger(n)) value[key] = n;
          else problems.push({ field: key, message: 'must be a whole number' });
        }
      }
      if (problems.length) {
        errors.show(new ApiError(422, 'validation_failed', 'Please correct the highlighted fields.', problems));
        return { ok: false };
      }
      return { ok: true, value };
    },
    fill(monitor) {
      name.control.value = monitor.name;
      url.control.value = monitor.url;
      method.control.value = monitor.method;
      for (const [key, f] of numbers) f.control.value = String(monitor[key]);
    },
  };
}

/** Only what the edit changed, so a save here does not undo another tab's edit of a different field. */
export function changedFields(monitor: Monitor, edited: MonitorInput): Partial<MonitorInput> {
  const changes: Partial<MonitorInput> = {};
  if (edited.name !== monitor.name) changes.name = edited.name;
  if (edited.url !== monitor.url) changes.url = edited.url;
  if (edited.method !== undefined && edited.method !== monitor.method) changes.method = edited.method;
  for (const key of ['interval_seconds', 'timeout_ms', 'expected_status'] as const) {
    const value = edited[key];
    if (value !== undefined && value !== monitor[key]) changes[key] = value;
  }
  return changes;
}
