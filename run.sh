#!/usr/bin/env bash
# Set up (idempotent) and start the product: store, knowledge base, Phoenix and the app.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/python app.py "$@"
