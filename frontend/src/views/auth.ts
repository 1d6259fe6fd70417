// Log in / sign up: one form that switches between the two.

import type { User } from '../api';
import { h, setText } from './dom';
import { busy, field, FormErrors, input, submitButton } from './forms';

export interface AuthActions {
  login(email: string, password: string): Promise<User>;
  signup(email: string, password: string): Promise<User>;
  loggedIn(user: User): void;
}

type Mode = 'login' | 'signup';

const TEXT: Record<Mode, { heading: string; submit: string; toggle: string; password: string }> = {
  login: { heading: 'Log in to Beacon', submit: 'Log in', toggle: 'Create an account', password: 'current-password' },
  signup: { heading: 'Create your Beacon account', submit: 'Sign up', toggle: 'I have an account', password: 'new-password' },
};

/** `notice` explains why we are here, e.g. a session that expired. */
export function authView(act: AuthActions, notice?: string): HTMLElement {
  let mode: Mode = 'login';
  const email = field('email', 'Email', input({ type: 'email', autocomplete: 'email', required: true }));
  const password = field(
    'password',
    'Password',
    input({ type: 'password', required: true, minlength: 8, maxlength: 128 }),
    '8 to 128 characters',
  );
  const passwordHint = password.element.querySelector('.hint') as HTMLElement;
  const summary = h('p', { hidden: true });
  const errors = new FormErrors([email, password], summary);
  const heading = h('h1', { id: 'auth-heading' });
  const submit = submitButton('');
  const toggle = h('button', { type: 'button', class: 'link' });

  const form = h(
    'form',
    { class: 'auth-form', novalidate: true, 'aria-labelledby': 'auth-heading' },
    heading,
    notice ? h('p', { class: 'notice' }, notice) : null,
    email.element,
    password.element,
    summary,
    h('div', { class: 'actions' }, submit),
  );

  const setMode = (next: Mode) => {
    mode = next;
    const text = TEXT[mode];
    setText(heading, text.heading);
    setText(submit, text.submit);
    setText(toggle, text.toggle);
    password.control.autocomplete = text.password as AutoFill;
    // The length rule only matters when choosing a password.
    passwordHint.hidden = mode === 'login';
    errors.clear();
  };
  setMode('login');

  toggle.addEventListener('click', () => {
    setMode(mode === 'login' ? 'signup' : 'login');
    email.control.focus();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const send = mode === 'login' ? act.login : act.signup;
    try {
      const user = await busy(form, () => send(email.control.value, password.control.value));
      act.loggedIn(user);
    } catch (err) {
      errors.show(err);
    }
  });

  return h('main', { class: 'auth' }, h('div', { class: 'brand-mark', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')), form, h('p', { class: 'toggle' }, toggle));
}
