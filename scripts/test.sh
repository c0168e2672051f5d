#!/usr/bin/env bash
# The whole test suite on a fresh machine: services up, model fetched, every test run against
# the real PostgreSQL, Redis and RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
