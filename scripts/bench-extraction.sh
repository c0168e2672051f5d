#!/usr/bin/env bash
# Extraction benchmark: one release server (`serve`, rules extractor, local embeddings) on a
# fresh database, Redis prefix and queue names; tests/examples/extraction_load.rs submits jobs
# and times submit → completed (completed means searchable).
#   ./scripts/bench-extraction.sh [--jobs 600] [--concurrency 32]
#   PIKA_MODE=embedded ./scripts/bench-extraction.sh ...   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
run="benchx$$"
db="pika_$run"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
secret="bench-secret-$run"
cargo build --release -q --bin pika-memory -p pika-api
cargo build --release -q -p pika-tests --example extraction_load
target="${CARGO_TARGET_DIR:-target}/release"
if [ "${PIKA_MODE:-}" = embedded ]; then
  data_dir="$(mktemp -d -t pika-bench.XXXXXX)"
  cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$data_dir"
  }
  trap cleanup EXIT
  PIKA_HTTP_ADDR="127.0.0.1:$port" PIKA_DATA_DIR="$data_dir" \
  PIKA_API_KEYS="bench:$secret" PIKA_LOG_FORMAT=text RUST_LOG=warn \
    "$target/pika-memory" serve &
else
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  }
  trap cleanup EXIT
  PIKA_HTTP_ADDR="127.0.0.1:$port" PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
  PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$run" \
  PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$run" \
  PIKA_API_KEYS="bench:$secret" PIKA_LOG_FORMAT=text RUST_LOG=warn \
    "$target/pika-memory" serve &
fi
server=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$target/examples/extraction_load" --url "http://127.0.0.1:$port" --key "$secret" "$@"
