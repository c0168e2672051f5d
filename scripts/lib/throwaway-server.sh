# Sourced by scripts that need a real `pika-memory serve` to talk to: builds the debug binary,
# then `start_throwaway_server` runs it on a free port against a database, Redis prefix and queue
# names of its own, and removes all of that on exit. Sets SERVER_URL and SERVER_SECRET.
# The debug build shares the test build's artefacts, so after `cargo test` it only links.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_throwaway_server() {
  local name="$1"
  local run="${name}$$"
  local db="pika_$run"
  local port
  port="$(free_port)"
  SERVER_SECRET="$name-secret-$run"
  SERVER_URL="http://127.0.0.1:$port"
  SERVER_LOG="$(mktemp -t "pika-$name.XXXXXX.log")"
  cargo build -q -p pika-api --bin pika-memory
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  THROWAWAY_DB="$db"
  trap stop_throwaway_server EXIT
  PIKA_HTTP_ADDR="127.0.0.1:$port" \
    PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
    PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$run" \
    PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$run" \
    PIKA_API_KEYS="$name:$SERVER_SECRET" PIKA_LOG_FORMAT=text RUST_LOG="${RUST_LOG:-warn}" \
    "${CARGO_TARGET_DIR:-target}/debug/pika-memory" serve >"$SERVER_LOG" 2>&1 &
  THROWAWAY_PID=$!
  for _ in $(seq 1 150); do
    if curl -fs "$SERVER_URL/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$THROWAWAY_PID" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  echo "the server did not become ready; its log:" >&2
  cat "$SERVER_LOG" >&2
  return 1
}

stop_throwaway_server() {
  if [ -n "${THROWAWAY_PID:-}" ]; then
    kill "$THROWAWAY_PID" 2>/dev/null
    wait "$THROWAWAY_PID" 2>/dev/null
  fi
  if [ -n "${THROWAWAY_DB:-}" ]; then
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $THROWAWAY_DB WITH (FORCE)" || true
  fi
  if [ -n "${SERVER_LOG:-}" ]; then
    rm -f "$SERVER_LOG"
  fi
}
