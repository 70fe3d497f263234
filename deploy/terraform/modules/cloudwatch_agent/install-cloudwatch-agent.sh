#!/bin/bash
# Installs the Amazon CloudWatch agent (Debian, arm64) from Amazon's bucket, after
# checking the package's signature with Amazon's signing key, whose fingerprint is the
# one AWS publishes for it.
set -euo pipefail
base=https://amazoncloudwatch-agent.s3.amazonaws.com
fingerprint=937616F3450B7D806CBD9725D58167303B789C72
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
install -d -m 0700 "$work/gnupg"
for f in assets/amazon-cloudwatch-agent.gpg debian/arm64/latest/amazon-cloudwatch-agent.deb debian/arm64/latest/amazon-cloudwatch-agent.deb.sig; do
  curl -fsSL --retry 5 --retry-delay 3 -o "$work/$(basename "$f")" "$base/$f"
done
gpg --batch --quiet --homedir "$work/gnupg" --import "$work/amazon-cloudwatch-agent.gpg"
if ! gpg --batch --homedir "$work/gnupg" --with-colons --fingerprint | grep -q "^fpr:::::::::$fingerprint:"; then
  echo "install-cloudwatch-agent: the signing key is not $fingerprint" >&2
  exit 1
fi
gpg --batch --quiet --homedir "$work/gnupg" --verify "$work/amazon-cloudwatch-agent.deb.sig" "$work/amazon-cloudwatch-agent.deb"
dpkg -i -E "$work/amazon-cloudwatch-agent.deb"
