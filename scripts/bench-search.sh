#!/usr/bin/env bash
# Search benchmark against real servers: two release server processes (`serve` and `api`) on
# one fresh database, Redis prefix and queue names; then tests/examples/search_load.rs seeds
# users with 1,000 facts and measures L0 hits, L1 hits and full misses at 1 and 32 clients.
#   ./scripts/bench-search.sh [extra search_load arguments]
#   PIKA_MODE=embedded ./scripts/bench-search.sh   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
run="bench$$"
db="pika_$run"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
first_port="$(free_port)"; beside_port="$(free_port)"
secret="bench-secret-$run"
cargo build --release -q --bin pika-memory -p pika-api
cargo build --release -q -p pika-tests --example search_load
target="${CARGO_TARGET_DIR:-target}/release"
export PIKA_API_KEYS="bench:$secret" PIKA_LOG_FORMAT=text RUST_LOG=warn
# search_load seeds the store directly with the test harness's master key
# (pika_tests::TEST_MASTER_KEY): the servers must use the same one to read what it sealed.
export PIKA_MASTER_KEY="$(sed -n 's/^ *"\([0-9a-f]\{64\}\)";$/\1/p' tests/src/lib.rs)"
pids=()
if [ "${PIKA_MODE:-}" = embedded ]; then
  # One embedded process: the search_load example seeds its SQLite file directly.
  data_dir="$(mktemp -d -t pika-bench.XXXXXX)"
  cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    rm -rf "$data_dir"
  }
  trap cleanup EXIT
  PIKA_DATA_DIR="$data_dir" PIKA_HTTP_ADDR="127.0.0.1:$first_port" "$target/pika-memory" serve & pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$first_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  "$target/examples/search_load" --url "http://127.0.0.1:$first_port" \
    --key "$secret" --data-dir "$data_dir" --tenant bench "$@"
  exit 0
fi
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}
trap cleanup EXIT
export PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$run"
export PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$run"
PIKA_HTTP_ADDR="127.0.0.1:$first_port" "$target/pika-memory" serve & pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$first_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
PIKA_HTTP_ADDR="127.0.0.1:$beside_port" "$target/pika-memory" api & pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$beside_port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$target/examples/search_load" --url "http://127.0.0.1:$first_port" --beside "http://127.0.0.1:$beside_port" \
  --key "$secret" --database-url "$PIKA_DATABASE_URL" --tenant bench "$@"
