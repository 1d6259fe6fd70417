// The page a signed-in person sees, and what main.ts hands it. The skeleton's
// is the account page (account.ts); a product puts its own in its place in main.ts.

import type { User } from '../api';
import { h } from './dom';

export interface Session {
  user: User;
  /** Runs API calls; a 401 from any of them means the session ended, and the log-in form replaces the page. */
  authed<T>(work: () => Promise<T>): Promise<T>;
  /** For what is not a request (a live stream) to say the session is gone. */
  ended(): void;
  logOut(): Promise<void>;
  /** Ends every session of the user, on every device; this page's stream ends with it. */
  logOutEverywhere(): Promise<void>;
}

export interface SignedInPage {
  element: HTMLElement;
  /** The document's title while the page is shown. */
  title: string;
  /** Stops the page's timers and connections and removes it. */
  destroy(): void;
}

export type ShowSignedIn = (session: Session) => SignedInPage;

/** The header every signed-in page shares; `status` (a connection indicator, say) goes after the app's name. */
export function topbar(session: Session, ...status: Node[]): HTMLElement {
  const logout = h('button', { type: 'button' }, 'Log out');
  logout.addEventListener('click', () => {
    logout.disabled = true;
    // A failure is already on the banner; staying signed in is the honest outcome.
    session.logOut().catch(() => (logout.disabled = false));
  });
  return h(
    'header',
    { class: 'topbar' },
    h('h1', { class: 'brand' }, 'Beacon'),
    ...status,
    h('span', { class: 'user', title: 'Signed in as' }, session.user.email),
    logout,
  );
}
