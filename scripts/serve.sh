#!/usr/bin/env bash
# Runs the service on this machine: services up, model fetched, a database created, a key
# printed. Settings already in the environment (PIKA_*) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
if [ -z "${PIKA_DATABASE_URL:-}" ]; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'pika'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE pika"
  export PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/pika"
fi
export PIKA_REDIS_URL="${PIKA_REDIS_URL:-redis://127.0.0.1:6379}"
export PIKA_AMQP_URL="${PIKA_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
if [ -z "${PIKA_API_KEYS:-}" ]; then
  mkdir -p data
  [ -f data/dev-api-key ] || echo "local:$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')" > data/dev-api-key
  export PIKA_API_KEYS="$(cat data/dev-api-key)"
fi
export PIKA_LOG_FORMAT="${PIKA_LOG_FORMAT:-text}"
echo "PIKA Memory will listen on http://${PIKA_HTTP_ADDR:-127.0.0.1:8080}  (API key: Bearer ${PIKA_API_KEYS#*:})" >&2
exec cargo run --release --bin pika-memory -- serve
