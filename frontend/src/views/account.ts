// The skeleton's signed-in page: who is signed in, and the way out. It is
// what a fresh product starts from, until it shows its own page instead.

import { h } from './dom';
import { topbar, type Session, type SignedInPage } from './page';

export function accountPage(session: Session): SignedInPage {
  const { user } = session;
  const element = h(
    'div',
    { class: 'signed-in' },
    topbar(session),
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
          h(
            'div',
            {},
            h('dt', {}, 'Member since'),
            h('dd', {}, h('time', { datetime: user.created_at }, new Date(user.created_at).toLocaleDateString())),
          ),
        ),
      ),
    ),
  );
  return { element, title: 'Beacon — your account', destroy: () => element.remove() };
}
