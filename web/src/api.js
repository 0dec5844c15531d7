// The cdlc HTTP API as the pages use it. Reads are public; writes carry the
// admin token the viewer signed in with (kept in localStorage).

const TOKEN_KEY = 'cdlc.adminToken';
const listeners = new Set();

export const session = {
  token() {
    try {
      return localStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  },
  signedIn() {
    return this.token() !== '';
  },
  signIn(token) {
    localStorage.setItem(TOKEN_KEY, token.trim());
    listeners.forEach((f) => f());
  },
  signOut() {
    localStorage.removeItem(TOKEN_KEY);
    listeners.forEach((f) => f());
  },
  /** Calls `f` whenever the viewer signs in or out; returns the unsubscribe. */
  onChange(f) {
    listeners.add(f);
    return () => listeners.delete(f);
  },
  authHeaders() {
    const token = this.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
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

async function request(path, { method = 'GET', signal } = {}) {
  // Reads carry the token too: the admin then gets signed URLs for private assets.
  const headers = session.authHeaders();
  let response;
  try {
    response = await fetch(path, { method, headers, signal });
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
