#!/usr/bin/env bash
# Installs the browser the UI tests drive: Debian's chromium (Playwright's own download needs
# internet access this project cannot assume). Idempotent and quiet: does nothing when present.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null \
  2> >(grep -v "^debconf: " >&2 || true)
