// CloudFront Function (cloudfront-js-2.0, viewer request) that checks the playback path
// tokens of DESIGN.md ("Playback URLs") exactly as playback.Check does in Go:
//
//   /t/<expiry>[.<gen>]/<sig>/videos/<id>/<object path>
//   sig = base64url(HMAC-SHA256(key, "<expiry>[.<gen>]/videos/<id>/")), no padding
//
// (.<gen>, the token generation, only when it is above 0, in decimal without leading
// zeros), then refuses the tokens of a generation the video no longer accepts, and
// rewrites a good request to /videos/<id>/<object path>, the key in the bucket, so the
// cache is shared by every token of a video.
//
// Everything it knows comes from the associated KeyValueStore:
// - key_name: the signing key. A value "base64:<standard base64>" is the raw bytes it
//   encodes (a binary PLAYBACK_TOKEN_KEY_FILE); any other value is its UTF-8 bytes.
// - revoked/<id>: the lowest token generation video <id> still accepts, in decimal,
//   written by the relay (REVOCATION_KVS_ARN) when the video's access narrows or it is
//   deleted. No key: every generation. A store that cannot answer, or a value that is no
//   decimal number, refuses the token (fail closed).
//
// Answers: 404 for a path that is no token path (playback.ErrMalformed), 403 for a
// refused token (bad signature, expired, revoked, key store failing), the same whatever
// the video. This file is a Terraform template: key_name and allow_plain_paths are filled
// in by templatefile(); deploy/terraform's Go test runs it under Node against the Go
// implementation.
import cf from 'cloudfront';
import crypto from 'crypto';

const kvs = cf.kvs();
const KEY_NAME = '${key_name}';
const ALLOW_PLAIN_PATHS = ${allow_plain_paths};
const MAX_INT64 = '9223372036854775807';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SIG_LEN = 43; // unpadded base64 of 32 bytes
const MIN_KEY_LEN = 32; // playback.MinKeyLength: a shorter key is a misconfiguration
const BINARY_PREFIX = 'base64:';
const REVOKED_PREFIX = 'revoked/';

function deny() {
  return {
    statusCode: 403,
    statusDescription: 'Forbidden',
    headers: { 'cache-control': { value: 'no-store' } },
  };
}

// notFound answers a path that is no token path at all, as the media server does
// (playback.ErrMalformed): there is nothing there, whatever the video.
function notFound() {
  return {
    statusCode: 404,
    statusDescription: 'Not Found',
    headers: { 'cache-control': { value: 'no-store' } },
  };
}

function digits(s, max) {
  if (s.length === 0 || s.length > max) {
    return false;
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) {
      return false;
    }
  }
  return true;
}

// parse splits a token path like playback's parse; null means malformed.
function parse(uri) {
  if (!uri.startsWith('/t/')) {
    return null;
  }
  let rest = uri.substring(3);
  let i = rest.indexOf('/');
  if (i < 0) {
    return null;
  }
  const st = rest.substring(0, i);
  rest = rest.substring(i + 1);
  // "<expiry>[.<gen>]", cut at the first dot like Go's strings.Cut.
  const dot = st.indexOf('.');
  let expiry = dot < 0 ? st : st.substring(0, dot);
  const gen = dot < 0 ? '0' : st.substring(dot + 1);
  if (!digits(expiry, 19)) {
    return null;
  }
  // A generation is present only when it is above 0, without leading zeros.
  if (dot >= 0 && (!digits(gen, 19) || gen.charAt(0) === '0')) {
    return null;
  }
  // The signed message holds the expiry as Go formats the parsed int64: no leading
  // zeros, and no value past the int64 range; the generation as it was written.
  expiry = canonical(expiry);
  if (expiry === null || (dot >= 0 && canonical(gen) === null)) {
    return null;
  }
  const stamp = dot < 0 ? expiry : expiry + '.' + gen;
  i = rest.indexOf('/');
  if (i < 0) {
    return null;
  }
  const sig = rest.substring(0, i);
  const videoPath = '/' + rest.substring(i + 1);
  if (sig.length !== SIG_LEN || !videoPath.startsWith('/videos/')) {
    return null;
  }
  const tail = videoPath.substring(8);
  i = tail.indexOf('/');
  if (i < 0) {
    return null;
  }
  const id = tail.substring(0, i);
  const obj = tail.substring(i + 1);
  if (!digits(id, 19) || (id.length > 1 && id.charAt(0) === '0') || obj === '') {
    return null;
  }
  if (obj.indexOf('\\') >= 0 || obj.indexOf('\u0000') >= 0) {
    return null;
  }
  const segs = obj.split('/');
  for (let j = 0; j < segs.length; j++) {
    if (segs[j] === '' || segs[j] === '.' || segs[j] === '..') {
      return null;
    }
  }
  return { stamp: stamp, expiry: expiry, gen: gen, sig: sig, id: id, videoPath: videoPath };
}

// canonical returns a string of up to 19 digits as Go's strconv.FormatInt formats the
// int64 strconv.ParseInt reads from it (leading zeros dropped), or null past the int64
// range.
function canonical(s) {
  s = s.replace(/^0+(?=[0-9])/, '');
  if (s.length === 19 && s > MAX_INT64) {
    return null;
  }
  return s;
}

// less compares two canonical decimal strings as numbers: generations go up to the
// int64 range, past what a Number holds exactly.
function less(a, b) {
  if (a.length !== b.length) {
    return a.length < b.length;
  }
  return a < b;
}

// signingKey turns the key store's value into the key's bytes as playback.ParseKey
// does: after "base64:", standard base64 (padded; spaces around it and line breaks in it
// ignored), else the value's UTF-8 bytes. null: not base64, refuse every token.
function signingKey(value) {
  if (value.startsWith(BINARY_PREFIX)) {
    const enc = value.substring(BINARY_PREFIX.length).trim().replace(/[\r\n]/g, '');
    if (enc.length % 4 !== 0 || !/^[A-Za-z0-9+\/]*={0,2}$/.test(enc)) {
      return null;
    }
    return Buffer.from(enc, 'base64');
  }
  return Buffer.from(value, 'utf8');
}

// minGeneration returns the lowest token generation video id accepts, canonical, '0'
// when nothing is revoked, or null when it cannot be told (the store failed or holds no
// number): the caller refuses the token then.
async function minGeneration(id) {
  const name = REVOKED_PREFIX + id;
  let value;
  try {
    if (!(await kvs.exists(name))) {
      return '0';
    }
    value = await kvs.get(name);
  } catch (err) {
    console.log('revocation entry ' + name + ' unreadable: ' + err);
    return null;
  }
  if (typeof value !== 'string' || !digits(value, 19)) {
    console.log('revocation entry ' + name + ' is no decimal number');
    return null;
  }
  return canonical(value);
}

// sameSignature compares a received signature with the expected one in time that does
// not depend on where they differ. Like Go's base64 decoder, it ignores the two unused
// low bits of the last character.
function sameSignature(got, want) {
  let diff = 0;
  for (let i = 0; i < SIG_LEN; i++) {
    const g = B64URL.indexOf(got.charAt(i));
    const w = B64URL.indexOf(want.charAt(i));
    if (g < 0) {
      diff |= 64;
    }
    diff |= i === SIG_LEN - 1 ? (g >> 2) ^ (w >> 2) : g ^ w;
  }
  return diff === 0;
}

function toBase64URL(b64) {
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function handler(event) {
  const request = event.request;
  const uri = request.uri;
  if (!uri.startsWith('/t/')) {
    if (ALLOW_PLAIN_PATHS && uri.startsWith('/videos/')) {
      return request;
    }
    return deny();
  }
  const t = parse(uri);
  if (t === null) {
    return notFound();
  }
  let key;
  try {
    key = signingKey(await kvs.get(KEY_NAME));
  } catch (err) {
    console.log('playback token key missing from the key value store: ' + err);
    return deny();
  }
  if (key === null) {
    console.log('playback token key in the key value store is not standard base64 after ' + BINARY_PREFIX);
    return deny();
  }
  if (key.length < MIN_KEY_LEN) {
    console.log('playback token key in the key value store is shorter than ' + MIN_KEY_LEN + ' bytes');
    return deny();
  }
  const want = toBase64URL(
    crypto.createHmac('sha256', key).update(t.stamp + '/videos/' + t.id + '/').digest('base64'),
  );
  if (!sameSignature(t.sig, want)) {
    return deny();
  }
  if (Math.floor(Date.now() / 1000) >= Number(t.expiry)) {
    return deny();
  }
  // Only a token that is good otherwise costs the store a second look-up.
  const min = await minGeneration(t.id);
  if (min === null || less(t.gen, min)) {
    return deny();
  }
  request.uri = t.videoPath;
  return request;
}
