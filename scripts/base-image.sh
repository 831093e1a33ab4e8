#!/usr/bin/env bash
# Make a local Python base image for machines that cannot pull from a registry: a minimal Debian bookworm with
# Debian's python3 and venv, imported into the container engine as localhost/python-base:bookworm.
# Usage: base-image.sh ENGINE IMAGE  (root; needs debootstrap and the Debian mirror that apt already uses).
set -euo pipefail
engine=$1
image=$2
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | "$engine" import - "$image" >/dev/null
echo "built $image"
