#!/bin/sh
# Copies the browser builds of the web app's third-party modules (web/package.json, at the
# versions and integrity hashes of web/package-lock.json) into web/assets/vendor, and
# records their SHA-256 in web/assets/vendor/SHA256SUMS, which web's tests check. Run it
# after changing a version in web/package.json (then `npm install --package-lock-only`).
set -eu
cd "$(dirname "$0")/../web"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
cp "$tmp/node_modules/hls.js/dist/hls.light.min.js" assets/vendor/hls.light.min.js
cp "$tmp/node_modules/tus-js-client/dist/tus.min.js" assets/vendor/tus.min.js
(cd assets/vendor && sha256sum hls.light.min.js tus.min.js > SHA256SUMS)
cat assets/vendor/SHA256SUMS
