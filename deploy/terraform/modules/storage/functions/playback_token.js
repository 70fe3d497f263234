// CloudFront Function (cloudfront-js-2.0, viewer request) that checks the playback path
// tokens of DESIGN.md ("Playback URLs") exactly as playback.Check does in Go:
//
//   /t/<expiry>/<sig>/videos/<id>/<object path>
//   sig = base64url(HMAC-SHA256(key, "<expiry>/videos/<id>/")), no padding
//
// and rewrites a good request to /videos/<id>/<object path>, the key in the bucket, so
// the cache is shared by every token of a video. The key is read from the associated
// KeyValueStore. This file is a Terraform template: key_name and allow_plain_paths are
// filled in by templatefile(); deploy/terraform's Go test runs it under Node against the
// Go implementation.
import cf from 'cloudfront';
import crypto from 'crypto';

const kvs = cf.kvs();
const KEY_NAME = '${key_name}';
const ALLOW_PLAIN_PATHS = ${allow_plain_paths};
const MAX_INT64 = '9223372036854775807';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SIG_LEN = 43; // unpadded base64 of 32 bytes

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
  let expiry = rest.substring(0, i);
  rest = rest.substring(i + 1);
  if (!digits(expiry, 19)) {
    return null;
  }
  // The signed message holds the expiry as Go formats the parsed int64: no leading
  // zeros, and no value past the int64 range.
  expiry = expiry.replace(/^0+(?=[0-9])/, '');
  if (expiry.length === 19 && expiry > MAX_INT64) {
    return null;
  }
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
  return { expiry: expiry, sig: sig, id: id, videoPath: videoPath };
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
    key = await kvs.get(KEY_NAME);
  } catch (err) {
    console.log('playback token key missing from the key value store: ' + err);
    return deny();
  }
  const want = toBase64URL(
    crypto.createHmac('sha256', key).update(t.expiry + '/videos/' + t.id + '/').digest('base64'),
  );
  if (!sameSignature(t.sig, want)) {
    return deny();
  }
  if (Math.floor(Date.now() / 1000) >= Number(t.expiry)) {
    return deny();
  }
  request.uri = t.videoPath;
  return request;
}
