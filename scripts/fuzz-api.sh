#!/usr/bin/env bash
# Schema fuzzing: schemathesis generates requests from /openapi.json of a real server (its own
# database, Redis prefix and queues) and fails on any 5xx or any answer that does not match the
# documented schema. schemathesis lives in a git-ignored venv, .venv-fuzz/.
#   ./scripts/fuzz-api.sh [extra schemathesis arguments]
# FUZZ_MAX_EXAMPLES (default 30) and FUZZ_MAX_TIME (seconds, default 150) bound the run. A
# request may take up to 35 s: Mem0's add waits up to 30 s for its job, as documented.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh
./scripts/fetch-model.sh
venv=.venv-fuzz
if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "installing schemathesis into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis>=4.3,<5"
fi
source scripts/lib/throwaway-server.sh
start_throwaway_server fuzz
status=0
"$venv/bin/schemathesis" run "$SERVER_URL/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --header "Authorization: Bearer $SERVER_SECRET" \
  --max-examples "${FUZZ_MAX_EXAMPLES:-30}" \
  --max-time "${FUZZ_MAX_TIME:-150}" \
  --request-timeout 35 \
  --seed "${FUZZ_SEED:-$RANDOM}" \
  --no-color --generation-database none \
  "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis failed; warnings and errors the server logged:" >&2
  grep -E "WARN|ERROR|panicked" "$SERVER_LOG" | tail -n 50 >&2 || true
fi
exit "$status"
