#!/usr/bin/env bash
# Make sure `nats-server` (Debian package) is on PATH for the NATS tests; install it with
# apt-get when missing (as root, or through sudo). Exits non-zero with a clear message otherwise.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then exit 0; fi
echo "[attnfit] nats-server not found: installing the Debian package nats-server" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "[attnfit] cannot install nats-server (not root, no sudo): run 'apt-get install nats-server'" >&2; exit 1
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
command -v nats-server >/dev/null 2>&1 || { echo "[attnfit] nats-server still missing after apt-get" >&2; exit 1; }
