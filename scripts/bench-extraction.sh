#!/usr/bin/env bash
# Extraction benchmark: a release server (rules extractor, local embeddings) with a store of its
# own; tests/examples/extraction_load.rs submits jobs and times submit → completed (completed
# means searchable).
#   ./scripts/bench-extraction.sh [--jobs 600] [--concurrency 32]
#   PIKA_MODE=embedded ./scripts/bench-extraction.sh ...   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
cargo build --release -q -p pika-tests --example extraction_load
source scripts/lib/throwaway-server.sh
PROFILE=release start_throwaway_server benchx
"$SERVER_BIN_DIR/examples/extraction_load" --url "$SERVER_URL" --key "$SERVER_SECRET" "$@"
