#!/usr/bin/env bash
# Install Debian's chromium for the browser tests when it is missing (idempotent, non-interactive).
# Playwright cannot download its own browsers here; the tests drive /usr/bin/chromium instead.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "browser: chromium is missing and we are not root; the browser tests will be skipped" >&2
    exit 0
  fi
  as_root=(sudo -n)
fi
echo "browser: installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
if ! { "${as_root[@]}" apt-get update -qq &&
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
  echo "browser: WARNING: could not install chromium; the browser tests will be skipped" >&2
fi
