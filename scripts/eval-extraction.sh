#!/usr/bin/env bash
# Scores fact extraction end to end: a release server with a store of its own, then
# ../shared/eval/score_extraction.py against it. Extra arguments go to the scorer (e.g. --strict).
#   ./scripts/eval-extraction.sh [--strict]
#   PIKA_MODE=embedded ./scripts/eval-extraction.sh   the same against one embedded process
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
eval_set="${PIKA_EVAL_SET:-../shared/eval/extraction-dev.jsonl}"
scorer="${PIKA_EVAL_SCORER:-../shared/eval/score_extraction.py}"
source scripts/lib/throwaway-server.sh
PROFILE=release start_throwaway_server eval
python3 "$scorer" --url "$SERVER_URL" --key "$SERVER_SECRET" "$@" "$eval_set"
