#!/usr/bin/env bash
# Mem0 compatibility (issue 20): the PyPI mem0ai client, unchanged but for its host, against a
# throwaway server scaled out and then embedded (tests/mem0/test_mem0_client.py). The server has
# a second tenant's key, so the test can check that another tenant sees nothing. mem0ai lives in
# a git-ignored venv, .venv-mem0/, reused while it holds the pinned version.
#   ./scripts/mem0-compat.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
mem0_version=2.2.1
venv=.venv-mem0
# No telemetry; mem0 writes its config under MEM0_DIR when imported, not under $HOME.
export MEM0_TELEMETRY=false MEM0_DIR="$PWD/$venv/mem0-home"

source scripts/lib/pinned-venv.sh
pinned_venv "$venv" mem0ai "$mem0_version"

other_secret="other-secret-$$"

# One mode against a server of its own.
check_mode() {
  local mode="$1"
  export THROWAWAY_EXTRA_KEYS="other:$other_secret"
  source scripts/lib/throwaway-server.sh
  start_throwaway_server mem0
  if ! "$venv/bin/python" tests/mem0/test_mem0_client.py \
    --url "$SERVER_URL" --key "$SERVER_SECRET" --other-key "$other_secret"; then
    echo "mem0ai failed against PIKA Memory ($mode); warnings and errors the server logged:" >&2
    grep -E "WARN|ERROR|panicked" "$SERVER_LOG" | tail -n 50 >&2 || true
    exit 1
  fi
}

source scripts/lib/both-modes.sh
in_both_modes "mem0ai $mem0_version against PIKA Memory" check_mode
echo "mem0ai $mem0_version works against PIKA Memory, scaled out and embedded"
