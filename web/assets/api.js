// Calls to the gallery API (same origin) and the streaming API (its own origin in dev,
// which answers CORS), with the signed-in user's token.
import { config } from './config.js';
import { token, forget } from './auth.js';

export class APIError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status; this.code = code; this.retryAfter = retryAfter;
  }
}

async function call(base, path, { method = 'GET', body, signal } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(base + path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && t) forget(); // expired or revoked: sign in again
    throw new APIError(res.status, err.code || `http_${res.status}`, err.message || res.statusText, res.headers.get('Retry-After'));
  }
  return data;
}

export const gallery = (path, opts) => call(config.galleryApi, path, opts);
export const stream = (path, opts) => call(config.streamApi, path, opts);
export const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
};
