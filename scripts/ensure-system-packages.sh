#!/usr/bin/env bash
# Debian packages the test suite uses, installed with apt-get when missing (as root, or through
# sudo):
#   nats-server      required: the NATS tests start a real server on 127.0.0.1.
#   chromium         required for the dashboard browser test (headless, driven by puppeteer-core);
#                    without it that test is reported skipped with the reason, never passed.
#   libopenblas-dev  optional: lets `npm run build` compile the native BLAS GEMM addon, so the
#                    suite also exercises that backend (attnfit itself never needs it). A failed
#                    install is reported and ignored.
# Exits non-zero with a clear message only when nats-server cannot be had.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
updated=0
apt_install() {
  [ "$SUDO" = none ] && return 1
  if [ "$updated" = 0 ]; then $SUDO apt-get update -qq || return 1; updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
if ! command -v nats-server >/dev/null 2>&1; then
  echo "[attnfit] nats-server not found: installing the Debian package nats-server" >&2
  if [ "$SUDO" = none ]; then echo "[attnfit] cannot install nats-server (not root, no sudo): run 'apt-get install nats-server'" >&2; exit 1; fi
  apt_install nats-server || true
  command -v nats-server >/dev/null 2>&1 || { echo "[attnfit] nats-server still missing after apt-get" >&2; exit 1; }
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "[attnfit] chromium not found: installing the Debian package chromium (dashboard browser test)" >&2
  apt_install chromium || echo "[attnfit] chromium not installed: the dashboard browser test will be reported skipped" >&2
fi
if command -v dpkg >/dev/null 2>&1 && ! dpkg -s libopenblas-dev >/dev/null 2>&1; then
  echo "[attnfit] libopenblas-dev not found: installing the Debian package libopenblas-dev (optional native BLAS backend)" >&2
  apt_install libopenblas-dev || echo "[attnfit] libopenblas-dev not installed: the native BLAS backend is skipped (optional)" >&2
fi
exit 0
