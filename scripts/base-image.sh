#!/usr/bin/env bash
# Prints the image to pass as the Dockerfile's PYTHON_IMAGE: its default (the official Python
# image) when it is here or can be pulled; otherwise a stand-in of the same layout built from
# Debian's own packages with debootstrap, for machines that reach no image registry.
#
# The stand-in: Debian bookworm (minbase) with python3 3.11, a venv at /usr/local so that
# `python` and `pip` are /usr/local/bin/python and /usr/local/bin/pip as in the official image,
# and this machine's CA bundle so that pip inside the build reaches the package index. It is
# built once per machine: its tag is a hash of this script and of the CA bundle, and an image
# with that tag is reused. Needs root, debootstrap and a running Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
official=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)

if "$DOCKER" image inspect "$official" >/dev/null 2>&1 || "$DOCKER" pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
  exit 0
fi

key=$(cat "$0" "$CA_BUNDLE" | sha256sum | cut -c1-12)
name=iris-python-base:$key
if "$DOCKER" image inspect "$name" >/dev/null 2>&1; then
  echo "$name"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "$official cannot be pulled, and building a stand-in needs debootstrap (apt-get install debootstrap)" >&2
  exit 1
}
# The mirror apt already uses (a deb822 stanza or a sources.list line for bookworm), so the
# build goes where this machine is allowed to go; debootstrap's default otherwise.
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
  /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print uri; exit } }')
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "building $name from Debian packages (once per machine)" >&2
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" ${mirror:+"$mirror"} >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"
cp "$CA_BUNDLE" "$root$CA_BUNDLE"
chroot "$root" python3 -m venv /usr/local
# What an image never reads: the package cache and lists, documentation, manuals, locales.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/locale/*
tar -C "$root" -c . | "$DOCKER" import \
  --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$name" >/dev/null
# Stand-ins of an older script or CA bundle are never used again.
"$DOCKER" image ls iris-python-base --format '{{.Repository}}:{{.Tag}}' | { grep -vx "$name" || true; } |
  xargs -r "$DOCKER" rmi >/dev/null
echo "built $name in $((SECONDS - start)) s" >&2
echo "$name"
