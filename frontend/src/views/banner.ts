// The page's one alert: the API (or the proxy in front of it) is unreachable.
// It is raised and cleared from the API observer in main.ts, so no failure is
// swallowed by whichever view happened to make the request.

import { h, setText } from './dom';

export class Banner {
  private readonly text = h('span', { class: 'banner-text' });
  private readonly retry = h('button', { type: 'button' }, 'Retry');
  private readonly dismiss = h('button', { type: 'button', class: 'link' }, 'Dismiss');
  private onRetry: (() => void) | null = null;

  constructor(private readonly element: HTMLElement) {
    element.replaceChildren(this.text, this.retry, this.dismiss);
    this.retry.addEventListener('click', () => this.onRetry?.());
    this.dismiss.addEventListener('click', () => this.hide());
    this.hide();
  }

  show(message: string, onRetry?: () => void): void {
    setText(this.text, message);
    this.onRetry = onRetry ?? null;
    this.retry.hidden = !onRetry;
    this.element.hidden = false;
  }

  hide(): void {
    this.element.hidden = true;
    setText(this.text, '');
  }
}
