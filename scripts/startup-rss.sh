#!/usr/bin/env bash
# Start to ready and idle memory of a release `pika-memory serve` with the configured embedding
# model (issue 15's goals: ≤ 2 s, ≤ 400 MB). For each of RUNS starts (default 5) on a fresh store:
# the time from exec to the first 200 from /readyz (polled every 10 ms), then RSS after one
# fact and one search (the model has run) and 2 s idle. PIKA_MODE=embedded for the embedded mode,
# PIKA_EMBEDDING_MODEL to pick the model. Needs scripts/fetch-model.sh and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/pika-memory"
runs="${RUNS:-5}"
for run in $(seq 1 "$runs"); do
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  name="startup$$x$run"
  store=()
  if [ "${PIKA_MODE:-}" = embedded ]; then
    dir="$(mktemp -d)"
    store=(PIKA_DATA_DIR="$dir")
  else
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $name"
    store=(PIKA_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
      PIKA_REDIS_URL="redis://127.0.0.1:6379" PIKA_REDIS_PREFIX="$name"
      PIKA_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" PIKA_AMQP_QUEUE_PREFIX="$name"
      PIKA_MASTER_KEY="$(head -c 32 /dev/urandom | base64)")
  fi
  started="$(date +%s%N)"
  env "${store[@]}" PIKA_HTTP_ADDR="127.0.0.1:$port" PIKA_API_KEYS="t:secret-$name" \
    RUST_LOG=warn "$bin" serve >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.01; done
  ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))
  ready_rss_mb=$(( $(awk "/VmRSS/ {print \$2}" "/proc/$pid/status") / 1024 ))
  auth=(-H "Authorization: Bearer secret-$name" -H "Content-Type: application/json")
  curl -fs "${auth[@]}" -d '{"key":"pet.dog","value":"Milu","text":"Has a dog called Milu"}' \
    "http://127.0.0.1:$port/v1/users/u1/facts" >/dev/null
  curl -fs "${auth[@]}" -d '{"user_id":"u1","query":"what is my dog called"}' \
    "http://127.0.0.1:$port/v1/search" >/dev/null
  sleep 2
  rss_mb=$(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 ))
  echo "run $run: ready in $ready_ms ms (RSS $ready_rss_mb MiB), idle RSS after a search $rss_mb MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ "${PIKA_MODE:-}" = embedded ]; then rm -rf "$dir"; else
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"; fi
done
