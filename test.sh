#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, offline. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
scripts/browser.sh  # Debian's chromium for the browser tests, when missing
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1  # auto-loaded plugins cost ~6 s of collection
exec .venv/bin/python -m pytest "$@"
