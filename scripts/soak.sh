#!/usr/bin/env bash
# Soak: a steady mixed load for a long time against a release server of its own, watching
# latency per window, the server's resident memory and open files, and — from the server's own
# job times — jobs completed per second and the backlog; ends with the load tool's loss check,
# the backlog check (more than 2 s of offered work waiting fails the run) and a plot in
# docs/plots/.
#   ./scripts/soak.sh [MINUTES] [JOBS_PER_SECOND] [load arguments, e.g. --facts-per-user 50]
#                                                        (default 30 minutes at 20 jobs/s)
#   PIKA_MODE=embedded ./scripts/soak.sh ...             the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-30}"
rate="${2:-20}"
shift $(( $# < 2 ? $# : 2 ))
mode="${PIKA_MODE:-scaled-out}"
./scripts/fetch-model.sh
cargo build --release -q -p pika-tests --example load
source scripts/lib/plot-env.sh
source scripts/lib/throwaway-server.sh
PROFILE=release start_throwaway_server soak
mkdir -p docs/plots
timeline="$(mktemp -t pika-soak.XXXXXX.csv)"
jobs=$(python3 -c "print(int($minutes * 60 * $rate))")
# A run that fell behind (exit 2) or lost something (exit 1) is still plotted, then fails.
status=0
"$SERVER_BIN_DIR/examples/load" --url "$SERVER_URL" --key "$SERVER_SECRET" \
  --users 1000 --jobs "$jobs" --rate "$rate" --duration "$((minutes * 60))" --concurrency 16 \
  --searches-per-job 3 --sample-every 10 --server-pid "$THROWAWAY_PID" --timeline "$timeline" \
  "$@" || status=$?
plot="docs/plots/soak-$mode-${minutes}min-${rate}-per-s.png"
"$PLOT_PYTHON" scripts/plot_timeline.py "$timeline" "$plot" \
  "Soak, $mode: $minutes min at $rate jobs/s (+3 searches, 1 favourites read each), $(date -u +%F)"
cp "$timeline" "docs/plots/soak-$mode-${minutes}min-${rate}-per-s.csv"
echo "plot: $plot"
exit "$status"
