// The live stream's state, as the header shows it: a dot and a word.

import type { ConnectionState } from '../live';
import { h, setText } from './dom';

const CONNECTION_TEXT: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
};

export interface ConnectionIndicator {
  element: HTMLElement;
  set(state: ConnectionState): void;
}

export function connectionIndicator(): ConnectionIndicator {
  const element = h('span', { class: 'connection', 'data-testid': 'connection', role: 'status' });
  const set = (state: ConnectionState) => {
    element.dataset.state = state;
    setText(element, CONNECTION_TEXT[state]);
  };
  set('connecting');
  return { element, set };
}
