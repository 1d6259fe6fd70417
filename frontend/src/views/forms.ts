// Labelled fields and error display shared by every form. The server is the
// one judge of validity (its messages name the rule broken), so forms are
// `novalidate` and show the API's per-field messages beside the fields.

import { ApiError, type FieldProblem } from '../api';
import { h, setText, uid } from './dom';

export type Control = HTMLInputElement | HTMLSelectElement;

export interface Field<C extends Control = Control> {
  /** The API's name for this field (`interval_seconds`), used to route its errors. */
  name: string;
  control: C;
  element: HTMLElement;
  error: HTMLElement;
}

export function field<C extends Control>(name: string, label: string, control: C, hint?: string): Field<C> {
  const id = uid(name);
  control.id = id;
  control.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  control.setAttribute('aria-describedby', [hintEl?.id, error.id].filter(Boolean).join(' '));
  const element = h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl, error);
  return { name, control, element, error };
}

export function input(attrs: Record<string, string | number | boolean>): HTMLInputElement {
  return h('input', attrs);
}

export function submitButton(label: string): HTMLButtonElement {
  return h('button', { type: 'submit', class: 'primary' }, label);
}

/** Per-field messages plus one line for everything that belongs to no field. */
export class FormErrors {
  constructor(
    private readonly fields: Field[],
    private readonly summary: HTMLElement,
  ) {
    summary.classList.add('form-error');
    // Polite, not role="alert": the page keeps one alert, the "API unreachable" banner.
    summary.setAttribute('aria-live', 'polite');
  }

  clear(): void {
    for (const f of this.fields) this.setFieldError(f, null);
    setText(this.summary, '');
    this.summary.hidden = true;
  }

  show(error: unknown): void {
    this.clear();
    const problems: FieldProblem[] = error instanceof ApiError ? error.fields : [];
    const unmatched: string[] = [];
    let first: Field | null = null;
    for (const problem of problems) {
      const f = this.fields.find((candidate) => candidate.name === problem.field);
      if (f) {
        this.setFieldError(f, problem.message);
        first ??= f;
      } else {
        unmatched.push(`${problem.field}: ${problem.message}`);
      }
    }
    let message: string;
    if (problems.length === 0) {
      message = error instanceof Error ? error.message : 'Something went wrong.';
    } else {
      message = unmatched.length ? unmatched.join('; ') : 'Please correct the highlighted fields.';
    }
    setText(this.summary, message);
    this.summary.hidden = false;
    first?.control.focus();
  }

  private setFieldError(f: Field, message: string | null): void {
    f.error.hidden = message === null;
    setText(f.error, message ?? '');
    if (message === null) f.control.removeAttribute('aria-invalid');
    else f.control.setAttribute('aria-invalid', 'true');
  }
}

/**
 * Disables a form's buttons while its request is in flight, so a double click
 * sends once. The inputs stay enabled: disabling them would drop keyboard focus.
 */
export async function busy<T>(form: HTMLFormElement, work: () => Promise<T>): Promise<T> {
  const buttons = [...form.querySelectorAll('button')].filter((b) => !b.disabled);
  buttons.forEach((b) => (b.disabled = true));
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.removeAttribute('aria-busy');
  }
}
