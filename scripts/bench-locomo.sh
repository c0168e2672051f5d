#!/usr/bin/env bash
# Retrieval on real multi-session conversations: a release server with a store of its own,
# then ../shared/eval/locomo/score_locomo.py on the development split (2 conversations; the
# other 8 are held out and measured separately). Prints ingestion time, search latency and
# evidence recall@5/10/20 per question category. Extra arguments go to the scorer.
#   ./scripts/bench-locomo.sh [--search-body '{"types": ["episode"]}']
#   PIKA_MODE=embedded ./scripts/bench-locomo.sh   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
locomo="${PIKA_LOCOMO_SET:-../shared/eval/locomo/locomo-dev.json}"
scorer="${PIKA_LOCOMO_SCORER:-../shared/eval/locomo/score_locomo.py}"
source scripts/lib/throwaway-server.sh
PROFILE="${PROFILE:-release}" start_throwaway_server locomo
python3 "$scorer" --url "$SERVER_URL" --key "$SERVER_SECRET" --locomo "$locomo" "$@"
