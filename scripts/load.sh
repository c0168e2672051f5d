#!/usr/bin/env bash
# The load tool against a release server with a store of its own: a mix of jobs for many
# users, searches and favourites reads; p50/p95/p99 per operation; fails on any lost, doubled,
# unfinished or misplaced job.
#   ./scripts/load.sh [--users 50] [--jobs 500] [--concurrency 16] [--rate 50] [--duration 60]
#   PIKA_MODE=embedded ./scripts/load.sh ...   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
cargo build --release -q -p pika-tests --example load
source scripts/lib/throwaway-server.sh
PROFILE=release start_throwaway_server load
"$SERVER_BIN_DIR/examples/load" --url "$SERVER_URL" --key "$SERVER_SECRET" "$@"
