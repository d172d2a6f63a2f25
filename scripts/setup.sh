#!/usr/bin/env bash
# scripts/setup.sh -- what `npm run demo`, `npm test` and `npm run bench` need before they start:
# dependencies installed from the lock file (when missing or older than it), then the local
# services answering on loopback (scripts/services.sh up). Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
stamp=node_modules/.package-lock.json
if [[ ! -f $stamp || package-lock.json -nt $stamp ]]; then
  echo "[setup] installing dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund </dev/null >&2
fi
bash scripts/services.sh up
