// The cdlc HTTP API as the pages use it. A person signs in with an account:
// the server keeps the session in an HttpOnly cookie, and every write carries
// the CSRF token sign-in and GET /me return (kept in memory only). The root
// token (CDLC_ADMIN_TOKEN) still works as a bearer credential, kept in
// localStorage, for the operator bootstrapping the first admin.

const TOKEN_KEY = 'cdlc.adminToken';
const ROLES = ['viewer', 'uploader', 'admin'];
const listeners = new Set();
let account = null; // { user, csrf } while signed in by cookie
let markKnown;
// Settles once the pages know who is signed in (the root token at once, a
// cookie session after GET /me answers).
const known = new Promise((resolve) => (markKnown = resolve));

function changed() {
  listeners.forEach((f) => f());
}

export const session = {
  token() {
    try {
      return localStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  },
  user() {
    return account?.user ?? null;
  },
  signedIn() {
    return this.token() !== '' || account !== null;
  },
  /** The role of whoever is signed in: the root token is an admin. */
  role() {
    if (this.token()) return 'admin';
    return account?.user?.role ?? null;
  },
  /** Whether the signed-in role is `role` or above. */
  can(role) {
    const mine = this.role();
    return mine !== null && ROLES.indexOf(mine) >= ROLES.indexOf(role);
  },
  label() {
    return this.token() ? 'Root' : account?.user?.handle ?? '';
  },
  /** Signs in with the root token (a bearer credential). */
  signInWithToken(token) {
    localStorage.setItem(TOKEN_KEY, token.trim());
    markKnown();
    changed();
  },
  /** Signs in with an account; the server sets the session cookie. */
  async signIn(login, password) {
    const body = await request('/api/v1/accounts/sign-in', { method: 'POST', json: { login, password } });
    account = { user: body.user, csrf: body.csrf_token };
    markKnown();
    changed();
  },
  async signOut() {
    if (account) {
      await request('/api/v1/accounts/sign-out', { method: 'POST' }).catch(() => null);
      account = null;
    }
    localStorage.removeItem(TOKEN_KEY);
    changed();
  },
  /** Asks the server who the cookie belongs to (after a reload). */
  async refresh() {
    try {
      const body = await request('/api/v1/accounts/me');
      account = { user: body.user, csrf: body.csrf_token };
    } catch {
      account = null;
    }
    markKnown();
    changed();
  },
  /** Settles once it is known who is signed in (after a reload, when GET /me has answered). */
  whenKnown() {
    if (this.token()) markKnown();
    return known;
  },
  setUser(user) {
    if (account) account.user = user;
    changed();
  },
  /** Calls `f` whenever the viewer signs in or out; returns the unsubscribe. */
  onChange(f) {
    listeners.add(f);
    return () => listeners.delete(f);
  },
  /** The headers of a request: the root token, or the CSRF token of the cookie session. */
  authHeaders() {
    const token = this.token();
    if (token) return { Authorization: `Bearer ${token}` };
    return account?.csrf ? { 'X-CSRF-Token': account.csrf } : {};
  },
};

/** An error answer of the API: `message` is the server's sentence. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * A call of the API: `json` is sent as JSON, else `body` as it is (a File
 * with `contentType`, or FormData, whose boundary the browser writes).
 */
export async function request(path, { method = 'GET', signal, json, body: raw, contentType, keepalive = false } = {}) {
  // Reads carry the credential too: uploaders and admins then get signed
  // URLs for private assets.
  const headers = { ...session.authHeaders() };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  else if (contentType) headers['Content-Type'] = contentType;
  let response;
  try {
    const body = json === undefined ? raw : JSON.stringify(json);
    response = await fetch(path, { method, headers, signal, body, keepalive, credentials: 'same-origin' });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The server cannot be reached. Is cdlc serve running?');
  }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, body?.error?.code ?? `http_${response.status}`, message);
  }
  return body;
}

export const PAGE_SIZE = 24;

export function listAssets({ cursor, status, limit = PAGE_SIZE, signal } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set('cursor', cursor);
  if (status) query.set('status', status);
  return request(`/api/v1/assets?${query}`, { signal });
}

export function getAsset(id, { signal } = {}) {
  return request(`/api/v1/assets/${encodeURIComponent(id)}`, { signal });
}

export function deleteAsset(id) {
  return request(`/api/v1/assets/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** Server-sent `asset` events until ready or errored; returns the closer. */
export function watchAsset(id, onAsset) {
  const source = new EventSource(`/api/v1/assets/${encodeURIComponent(id)}/events`);
  source.addEventListener('asset', (event) => {
    try {
      const asset = JSON.parse(event.data);
      onAsset(asset);
      if (asset.status === 'ready' || asset.status === 'errored') source.close();
    } catch {
      /* a malformed event is skipped; the next one carries the whole asset */
    }
  });
  source.addEventListener('deleted', () => {
    source.close();
    onAsset(null);
  });
  return () => source.close();
}

export const FINAL_STATUSES = new Set(['ready', 'errored']);
