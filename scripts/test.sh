#!/usr/bin/env bash
# The whole test suite on a fresh machine: services up, model fetched, every test run against
# the real PostgreSQL, Redis and RabbitMQ; then the docs page rendered in headless Chromium with
# no network, the Inspector driven by Playwright in Chromium and the PyPI mem0ai client, each
# against a real server in both modes, and a bounded schemathesis run against a real server's
# /openapi.json.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
./scripts/docs-page-check.sh
./scripts/ui-check.sh
./scripts/mem0-compat.sh
FUZZ_MAX_TIME="${FUZZ_MAX_TIME:-90}" ./scripts/fuzz-api.sh
