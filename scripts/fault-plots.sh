#!/usr/bin/env bash
# The fault runs (each fault under a mixed load, the same tests CI runs) with their timelines
# kept: latency, requests and client errors per 250 ms, the fault and the recovery shaded.
# Writes docs/plots/faults/NAME.{csv,png} and prints each run's table.
#   ./scripts/fault-plots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh >/dev/null
./scripts/fetch-model.sh
source scripts/lib/plot-env.sh
out=docs/plots/faults
mkdir -p "$out"
export PIKA_TIMELINE_DIR="$PWD/$out"
cargo nextest run --no-fail-fast --no-capture -p pika-tests --test faults
cargo nextest run --no-fail-fast --no-capture -p pika-api --test kill_under_load
declare -A titles=(
  [postgres-cut]="PostgreSQL connection cut for 1.5 s"
  [redis-cut]="Redis connection cut for 1.5 s"
  [rabbitmq-cut]="RabbitMQ connection cut for 1.5 s"
  [serve-sigkill]="serve SIGKILLed, restarted 0.5 s later"
  [worker-sigkill]="worker SIGKILLed (api keeps running), restarted 1 s later"
  [two-workers-one-user]="api + two workers racing on one user's 60 jobs"
)
for name in "${!titles[@]}"; do
  if [ -f "$out/$name.csv" ]; then
    "$PLOT_PYTHON" scripts/plot_timeline.py "$out/$name.csv" "$out/$name.png" \
      "${titles[$name]}, under load, $(date -u +%F)"
    echo "plot: $out/$name.png"
  fi
done
