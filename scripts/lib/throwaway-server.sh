# Sourced by scripts that need a real `pika-memory serve` to talk to. `start_throwaway_server
# NAME` builds the binary (debug; PROFILE=release for a release build), runs it on a free port
# with a store of its own — scaled out (a database, Redis prefix and queue names of its own) or,
# with PIKA_MODE=embedded, a data directory of its own — and removes all of that on exit.
# Sets SERVER_URL, SERVER_SECRET, SERVER_LOG and SERVER_BIN_DIR. THROWAWAY_EXTRA_KEYS, when set,
# adds more keys (`tenant:secret,…`, as PIKA_API_KEYS takes them) beside NAME's own.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_throwaway_server() {
  local name="$1"
  local run="${name}$$"
  local port profile
  port="$(free_port)"
  profile="${PROFILE:-debug}"
  SERVER_SECRET="$name-secret-$run"
  SERVER_URL="http://127.0.0.1:$port"
  SERVER_LOG="$(mktemp -t "pika-$name.XXXXXX.log")"
  SERVER_BIN_DIR="${CARGO_TARGET_DIR:-target}/$profile"
  if [ "$profile" = release ]; then
    cargo build --release -q -p pika-api --bin pika-memory
  else
    cargo build -q -p pika-api --bin pika-memory
  fi
  trap stop_throwaway_server EXIT
  local store=()
  if [ "${PIKA_MODE:-}" = embedded ]; then
    THROWAWAY_DATA_DIR="$(mktemp -d -t "pika-$name.XXXXXX")"
    store=(PIKA_DATA_DIR="$THROWAWAY_DATA_DIR")
  else
    ./scripts/services.sh >/dev/null
    THROWAWAY_DB="pika_$run"
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $THROWAWAY_DB"
    store=(PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$THROWAWAY_DB"
      PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$run"
      PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$run"
      PIKA_MASTER_KEY="$(head -c 32 /dev/urandom | base64)")
  fi
  env "${store[@]}" PIKA_HTTP_ADDR="127.0.0.1:$port" \
    PIKA_API_KEYS="$name:$SERVER_SECRET${THROWAWAY_EXTRA_KEYS:+,$THROWAWAY_EXTRA_KEYS}" \
    PIKA_LOG_FORMAT=text RUST_LOG="${RUST_LOG:-warn}" \
    "$SERVER_BIN_DIR/pika-memory" serve >"$SERVER_LOG" 2>&1 &
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
  if [ -n "${THROWAWAY_DATA_DIR:-}" ]; then
    rm -rf "$THROWAWAY_DATA_DIR"
  fi
  if [ -n "${SERVER_LOG:-}" ]; then
    rm -f "$SERVER_LOG"
  fi
}
