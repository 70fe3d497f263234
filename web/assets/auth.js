// Signing in: the dev stack's sign-in mints a dev token for a user name; in AWS,
// Cognito's hosted UI with the authorization-code flow and PKCE. The token is kept in
// sessionStorage (this tab, gone when it closes), never in a URL.
import { config } from './config.js';

const SESSION = 'vf-session';
const PKCE = 'vf-pkce';

function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch { return {}; }
}

export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION));
    if (s && s.token && s.expiresAt > Date.now()) return s;
  } catch { /* none */ }
  return null;
}
export const token = () => session()?.token || null;
export const user = () => session()?.user || null;
export const userName = () => session()?.name || null;

function save(token, expiresAt) {
  const c = claims(token);
  if (!c.sub) throw new Error('The sign-in answered a token without a user.');
  sessionStorage.setItem(SESSION, JSON.stringify({
    token, user: c.sub, name: c.username || c['cognito:username'] || c.email || c.sub,
    expiresAt: expiresAt || (c.exp ? c.exp * 1000 : Date.now() + 3600e3),
  }));
}

export function forget() { sessionStorage.removeItem(SESSION); }

export async function devSignIn(name) {
  const res = await fetch(config.auth.devSignIn, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: name }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error?.message || `Sign-in failed (${res.status}).`);
  save(body.token, Date.parse(body.expiresAt));
}

const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const redirectURI = () => `${location.origin}/signin/callback`;

// cognitoSignIn sends the browser to the hosted UI, keeping the PKCE verifier and the
// state in this tab until it comes back.
export async function cognitoSignIn(next) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, next }));
  const u = new URL(`${config.auth.domain}/oauth2/authorize`);
  u.search = new URLSearchParams({
    response_type: 'code', client_id: config.auth.clientId, redirect_uri: redirectURI(),
    scope: config.auth.scope, state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(u);
}

// cognitoCallback trades the code for tokens; it answers where to go next.
export async function cognitoCallback() {
  const p = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  history.replaceState(null, '', '/signin/callback'); // the code leaves the address bar and the history
  if (p.get('error')) throw new Error(p.get('error_description') || p.get('error'));
  if (!saved || !p.get('code') || p.get('state') !== saved.state) {
    throw new Error('This sign-in could not be verified (it was not started in this tab). Sign in again.');
  }
  const res = await fetch(`${config.auth.domain}/oauth2/token`, {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: config.auth.clientId, code: p.get('code'),
      redirect_uri: redirectURI(), code_verifier: saved.verifier,
    }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.access_token) throw new Error(body.error_description || body.error || `Sign-in failed (${res.status}).`);
  save(body.access_token, Date.now() + (body.expires_in || 3600) * 1000);
  return saved.next || '/';
}

export function signOut() {
  forget();
  if (config.auth.mode === 'cognito') {
    const u = new URL(`${config.auth.domain}/logout`);
    u.search = new URLSearchParams({ client_id: config.auth.clientId, logout_uri: `${location.origin}/` });
    location.assign(u);
  } else {
    location.assign('/');
  }
}
