/**
 * The token and the API calls. The token is taken once (login form or `?token=`), kept
 * in sessionStorage, stripped from the address bar, and sent as a bearer header.
 */
import { $, byId } from './dom.js';

const TOKEN_KEY = 'sluice-admin-token';

export interface DashboardState {
  token: string | null;
  /** The stats window picked in the header: 1m, 5m, 15m or 1h. */
  window: string;
  timer: number | null;
  chart: uPlot | null;
  chartWidth: number;
  stepS: number;
  /** The cursor is over the chart. */
  hover: boolean;
  /** A refresh is in flight. */
  busy: boolean;
}

export const state: DashboardState = {
  token: null,
  window: '5m',
  timer: null,
  chart: null,
  chartWidth: 0,
  stepS: 1,
  hover: false,
  busy: false,
};

/** The API refused the token (401). */
export class AuthError extends Error {
  constructor() {
    super('token refused');
  }
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function takeToken(): void {
  const url = new URL(location.href);
  const t = url.searchParams.get('token');
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  state.token = token;
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
}

export function showLogin(message: string | null): void {
  if (state.timer) {
    clearTimeout(state.timer);
    state.timer = null;
  }
  $('login').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message ?? '';
  byId('token', HTMLInputElement).focus();
}

export function banner(text: string | null): void {
  $('banner').hidden = !text;
  $('banner').textContent = text ?? '';
}

/** The message in an API error reply ({ error: { message } }), if there is one. */
function apiMessage(data: unknown): string | null {
  if (typeof data !== 'object' || data === null || !('error' in data)) return null;
  const error: unknown = data.error;
  if (typeof error !== 'object' || error === null || !('message' in error)) return null;
  return typeof error.message === 'string' && error.message ? error.message : null;
}

/** Calls the admin API; T is the reply's shape (api-types.ts). */
export async function api<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
  const auth = `Bearer ${state.token ?? 'null'}`;
  const init: RequestInit = {
    method,
    cache: 'no-store',
    headers: body === undefined ? { authorization: auth } : { authorization: auth, 'content-type': 'application/json' },
  };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (res.status === 401) throw new AuthError();
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) throw new Error(apiMessage(data) ?? `HTTP ${res.status}`);
  return data as T;
}
