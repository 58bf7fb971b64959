// Omni's HTTP API as the console calls it: the session's bearer token on every request,
// problem+json answers turned into errors that name their fields.

const KEY = 'omni.session';

/** An answer that was not 2xx, with the problem document Omni sent. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  /** `{field: message}` for a 422's invalid fields. */
  get fields() {
    const out = {};
    for (const e of this.problem.errors || []) out[e.field] = e.message;
    return out;
  }
}

export const session = {
  get() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (s && s.expires_at > Date.now()) return s;
    } catch (_) {
      /* a damaged entry is no session */
    }
    return null;
  },
  set(login) {
    const s = {
      token: login.access_token,
      expires_at: Date.now() + login.expires_in * 1000,
      user: login.user,
    };
    localStorage.setItem(KEY, JSON.stringify(s));
    return s;
  },
  clear() {
    localStorage.removeItem(KEY);
  },
};

/** Calls the API; resolves to the JSON answer (null for 204), rejects with ApiError. */
export async function api(path, { method = 'GET', body, headers = {}, blob = false } = {}) {
  const s = session.get();
  const h = { Accept: 'application/json', ...headers };
  if (s) h.Authorization = `Bearer ${s.token}`;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    h['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload });
  } catch (e) {
    throw new ApiError(0, { title: 'network', detail: String(e.message || e) });
  }
  // Any 401 (a token refused, or none left because it expired here) ends the session.
  if (res.status === 401 && path !== '/auth/login') {
    session.clear();
    window.dispatchEvent(new Event('omni:session-ended'));
  }
  if (!res.ok) {
    let problem;
    try {
      problem = await res.json();
    } catch (_) {
      problem = { title: res.statusText };
    }
    throw new ApiError(res.status, problem);
  }
  if (blob) return res.blob();
  if (res.status === 204) return null;
  return res.json();
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** A fresh key for `Idempotency-Key`: a retry of the same reply reuses it. */
export function newKey() {
  // randomUUID exists only in secure contexts (https, localhost).
  if (crypto.randomUUID) return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}
