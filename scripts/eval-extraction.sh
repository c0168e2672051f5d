#!/usr/bin/env bash
# Scores fact extraction end to end: starts the real server (release build) against a fresh
# database and its own queue names, runs ../shared/eval/score_extraction.py against it, and
# cleans up. Extra arguments go to the scorer (e.g. --strict).
#   ./scripts/eval-extraction.sh [--strict]
#   PIKA_MODE=embedded ./scripts/eval-extraction.sh   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
eval_set="${PIKA_EVAL_SET:-../shared/eval/extraction-dev.jsonl}"
scorer="${PIKA_EVAL_SCORER:-../shared/eval/score_extraction.py}"
run="eval$$"
db="pika_$run"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
secret="eval-secret-$run"
cargo build --release -q --bin pika-memory
if [ "${PIKA_MODE:-}" = embedded ]; then
  data_dir="$(mktemp -d -t pika-eval.XXXXXX)"
  cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$data_dir"
  }
  trap cleanup EXIT
  PIKA_HTTP_ADDR="127.0.0.1:$port" PIKA_DATA_DIR="$data_dir" \
  PIKA_API_KEYS="eval:$secret" PIKA_LOG_FORMAT=text RUST_LOG=warn \
    "${CARGO_TARGET_DIR:-target}/release/pika-memory" serve &
else
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  }
  trap cleanup EXIT
  PIKA_HTTP_ADDR="127.0.0.1:$port" \
  PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$run" \
  PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$run" \
  PIKA_API_KEYS="eval:$secret" PIKA_LOG_FORMAT=text RUST_LOG=warn \
    "${CARGO_TARGET_DIR:-target}/release/pika-memory" serve &
fi
server=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
python3 "$scorer" --url "http://127.0.0.1:$port" --key "$secret" "$@" "$eval_set"
