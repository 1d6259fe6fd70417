// The skeleton's signed-in page: who is signed in, the welcome job's
// outcome as it happens (the live stream's `account` event), and the ways
// out. It is what a fresh product starts from, until it shows its own page
// instead.

import type { User } from '../api';
import { connectLive, type LiveEvent } from '../live';
import { connectionIndicator } from './connection';
import { h, setText } from './dom';
import { topbar, type Session, type SignedInPage } from './page';

/** What the stream sends this page: the snapshot's `account`, and the account as it changes. */
type AccountEvent =
  | { type: 'snapshot'; data: { account: User | null } }
  | { type: 'account'; data: User };

const ACCOUNT_EVENT_TYPES: readonly AccountEvent['type'][] = ['snapshot', 'account'];

function date(at: string): HTMLTimeElement {
  return h('time', { datetime: at }, new Date(at).toLocaleString());
}

export function accountPage(session: Session): SignedInPage {
  const { user } = session;
  const connection = connectionIndicator();
  const welcome = h('dd', { 'data-testid': 'welcome' });
  const showWelcome = (account: User) => {
    if (account.welcomed_at) welcome.replaceChildren(date(account.welcomed_at));
    else setText(welcome, 'on its way…');
  };
  showWelcome(user);

  const everywhere = h('button', { type: 'button' }, 'Log out everywhere');
  everywhere.addEventListener('click', () => {
    everywhere.disabled = true;
    // A failure is already on the banner; staying signed in is the honest outcome.
    session.logOutEverywhere().catch(() => (everywhere.disabled = false));
  });

  const element = h(
    'div',
    { class: 'signed-in' },
    topbar(session, connection.element),
    h(
      'main',
      { class: 'account' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'account-heading' },
        h('h2', { id: 'account-heading' }, 'Your account'),
        h(
          'dl',
          { class: 'details' },
          h('div', {}, h('dt', {}, 'Email'), h('dd', {}, user.email)),
          h('div', {}, h('dt', {}, 'Member since'), h('dd', {}, date(user.created_at))),
          h('div', {}, h('dt', {}, 'Welcomed'), welcome),
        ),
        h('p', { class: 'actions' }, everywhere),
      ),
    ),
  );

  const live = connectLive<AccountEvent & LiveEvent>({
    eventTypes: ACCOUNT_EVENT_TYPES,
    onEvent: (event) => {
      const account = event.type === 'snapshot' ? event.data.account : event.data;
      if (account) showWelcome(account);
    },
    onState: connection.set,
    onUnauthorized: session.ended,
  });

  return {
    element,
    title: 'Beacon — your account',
    destroy: () => {
      live.close();
      element.remove();
    },
  };
}
