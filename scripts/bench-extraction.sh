#!/usr/bin/env bash
# Extraction benchmark: a release server (rules extractor, local embeddings) with a store of its
# own; tests/examples/extraction_load.rs submits jobs and times submit → completed (completed
# means searchable).
#   ./scripts/bench-extraction.sh [--jobs 600] [--concurrency 32]
#   PIKA_MODE=embedded ./scripts/bench-extraction.sh ...   the same against one embedded process
#   LLM_DELAY_MS=1000 ./scripts/bench-extraction.sh ...    the LLM extractor, against a local
#       stand-in that answers each call after that delay (tests/examples/llm_stub_server.rs);
#       PIKA_WORKER_CONCURRENCY sets how many jobs the server runs at once
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
cargo build --release -q -p pika-tests --example extraction_load --example llm_stub_server
source scripts/lib/throwaway-server.sh
if [ -n "${LLM_DELAY_MS:-}" ]; then
  stub_log="$(mktemp -t pika-llm-stub.XXXXXX.log)"
  stub_port="$(free_port)"
  "${CARGO_TARGET_DIR:-target}/release/examples/llm_stub_server" --port "$stub_port" \
    --delay-ms "$LLM_DELAY_MS" >"$stub_log" 2>&1 &
  stub_pid=$!
  export PIKA_EXTRACTOR=llm PIKA_LLM_BASE_URL="http://127.0.0.1:$stub_port/v1" PIKA_LLM_MODEL=stub
fi
PROFILE=release start_throwaway_server benchx
if [ -n "${LLM_DELAY_MS:-}" ]; then
  trap 'stop_throwaway_server; kill "$stub_pid" 2>/dev/null; tail -1 "$stub_log"; rm -f "$stub_log"' EXIT
fi
"$SERVER_BIN_DIR/examples/extraction_load" --url "$SERVER_URL" --key "$SERVER_SECRET" "$@"
