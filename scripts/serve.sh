#!/usr/bin/env bash
# Runs the service on this machine and prints where to reach it and the key to use.
#   ./scripts/serve.sh              embedded: one SQLite file in ./data, nothing else to run
#   ./scripts/serve.sh --scaled-out with the local PostgreSQL, Redis and RabbitMQ
# Settings already in the environment (PIKA_*) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
if [ "${1:-}" = "--scaled-out" ]; then
  ./scripts/services.sh
  if [ -z "${PIKA_DATABASE_URL:-}" ]; then
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'pika'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE pika"
    export PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/pika"
  fi
  export PIKA_REDIS_URL="${PIKA_REDIS_URL:-redis://127.0.0.1:6379}"
  export PIKA_AMQP_URL="${PIKA_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
  # The master key that wraps every user's data key: made once, mode 0600, kept beside the
  # dev API key (never in the database). Losing it loses every user's personal data.
  if [ -z "${PIKA_MASTER_KEY:-}" ] && [ -z "${PIKA_MASTER_KEY_FILE:-}" ]; then
    mkdir -p data
    [ -f data/master.key ] || (umask 077 && head -c 32 /dev/urandom | base64 > data/master.key)
    export PIKA_MASTER_KEY_FILE="$PWD/data/master.key"
  fi
  mode="scaled out (PostgreSQL, Redis, RabbitMQ)"
else
  unset PIKA_DATABASE_URL PIKA_REDIS_URL PIKA_AMQP_URL
  export PIKA_DATA_DIR="${PIKA_DATA_DIR:-./data}"
  mode="embedded (everything in $PIKA_DATA_DIR/pika-memory.sqlite)"
fi
if [ -z "${PIKA_API_KEYS:-}" ]; then
  mkdir -p data
  [ -f data/dev-api-key ] || echo "local:$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" > data/dev-api-key
  export PIKA_API_KEYS="$(cat data/dev-api-key)"
fi
export PIKA_LOG_FORMAT="${PIKA_LOG_FORMAT:-text}"
address="http://${PIKA_HTTP_ADDR:-127.0.0.1:8080}"
cargo build --release -q --bin pika-memory
cat >&2 <<MESSAGE
PIKA Memory, $mode
  address:  $address
  docs:     $address/docs
  ui:       $address/ui   (the Inspector; sign in with the API key)
  API key:  Authorization: Bearer ${PIKA_API_KEYS#*:}   (tenant ${PIKA_API_KEYS%%:*})
MESSAGE
exec "${CARGO_TARGET_DIR:-target}/release/pika-memory" serve
