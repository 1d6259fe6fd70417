// Typed access to Beacon's JSON API. Every request is same-origin (nginx
// proxies /api/ to the api app), so the HttpOnly session cookie rides along
// and no CORS is involved.

export interface User {
  id: string;
  email: string;
  created_at: string;
  /** When the welcome job ran for the account; null until it has. */
  welcomed_at: string | null;
}

export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * A failed request. `status` is 0 when no HTTP answer came back at all
 * (network down, DNS, timeout), so callers can tell "the API said no" from
 * "the API is unreachable".
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldProblem[] = [],
    /** Seconds, from `Retry-After` on a 429. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The API (or the proxy in front of it) is down, not refusing this request. */
  get unavailable(): boolean {
    return this.status === 0 || this.status >= 500;
  }
}

/**
 * Reads an error response. The api always answers `{"error": {...}}`, but a
 * 502 from nginx or an HTML page from a misrouted proxy does not, and the
 * person still deserves a sentence rather than "undefined".
 */
export function parseErrorBody(
  status: number,
  statusText: string,
  body: string,
): { code: string; message: string; fields: FieldProblem[] } {
  try {
    const parsed: unknown = JSON.parse(body);
    const error = (parsed as { error?: unknown } | null)?.error as
      | { code?: unknown; message?: unknown; fields?: unknown }
      | undefined;
    if (error && typeof error.code === 'string' && typeof error.message === 'string') {
      const fields = Array.isArray(error.fields)
        ? error.fields.filter(
            (f): f is FieldProblem =>
              typeof f?.field === 'string' && typeof f?.message === 'string',
          )
        : [];
      return { code: error.code, message: error.message, fields };
    }
  } catch {
    // Not JSON: fall through to a message built from the status.
  }
  const label = `${status}${statusText ? ` ${statusText}` : ''}`;
  if (status === 502 || status === 503 || status === 504) {
    return { code: 'unavailable', message: `The Beacon API is unreachable (${label}). Try again shortly.`, fields: [] };
  }
  return { code: 'http_error', message: `The server answered ${label}.`, fields: [] };
}

/** Told about every outcome, so the app can raise and clear its "API unreachable" banner in one place. */
export interface ApiObserver {
  succeeded(): void;
  failed(error: ApiError): void;
}

let observer: ApiObserver | null = null;

export function observeApi(next: ApiObserver | null): void {
  observer = next;
}

/** Long enough for a cold Fly machine to start; short enough that a hung request does not freeze a form. */
const REQUEST_TIMEOUT_MS = 20_000;

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  // CSRF: the api refuses any state-changing request without this header,
  // even one with no body (a cross-site form cannot send it).
  if (method !== 'GET') headers['Content-Type'] = 'application/json';
  try {
    return await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (e) {
    const timedOut = e instanceof DOMException && e.name === 'TimeoutError';
    throw new ApiError(
      0,
      timedOut ? 'timeout' : 'network_error',
      timedOut
        ? 'The Beacon API did not answer in time. Try again shortly.'
        : 'Cannot reach the Beacon API. Check your connection and try again.',
    );
  }
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await send(method, path, body);
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const { code, message, fields } = parseErrorBody(response.status, response.statusText, text);
      const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
      throw new ApiError(response.status, code, message, fields, Number.isFinite(retryAfter) ? retryAfter : null);
    }
  } catch (e) {
    if (e instanceof ApiError) observer?.failed(e);
    throw e;
  }
  observer?.succeeded();
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** The skeleton's own calls. A product keeps its calls in its own folder, built on `request`. */
const login = (email: string, password: string) =>
  request<{ user: User }>('POST', '/api/auth/login', { email, password }).then((r) => r.user);

/**
 * Sign-up answers the same whether or not the email had an account (so it
 * cannot tell anyone who has one); the session comes from logging in next.
 */
async function signup(email: string, password: string): Promise<User> {
  await request<{ message: string }>('POST', '/api/auth/signup', { email, password });
  try {
    return await login(email, password);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      throw new ApiError(401, 'signup_not_completed', 'This email may have an account already: log in with its password.', [], null);
    }
    throw e;
  }
}

const me = () => request<{ user: User }>('GET', '/api/auth/me').then((r) => r.user);

export const api = {
  me,
  login,
  signup,
  logout: () => request<void>('POST', '/api/auth/logout'),
  logoutEverywhere: () => request<void>('POST', '/api/auth/logout-everywhere'),
  /** true: signed in; false: the session is gone (401); null: cannot tell (the API is down). */
  sessionValid: async (): Promise<boolean | null> => {
    try {
      await me();
      return true;
    } catch (e) {
      return e instanceof ApiError && e.status === 401 ? false : null;
    }
  },
};
