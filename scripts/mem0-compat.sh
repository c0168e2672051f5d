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

has_mem0() {
  "$venv/bin/python" -c \
    'import importlib.metadata as m, sys; sys.exit(m.version("mem0ai") != sys.argv[1])' \
    "$mem0_version" >/dev/null 2>&1
}
if ! has_mem0; then
  echo "installing mem0ai==$mem0_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "mem0ai==$mem0_version"
  if ! has_mem0; then
    echo "mem0ai==$mem0_version did not install into $venv" >&2
    exit 1
  fi
fi

other_secret="other-secret-$$"

# One mode against a server of its own; run in a subshell, whose EXIT trap removes the server.
check_mode() {
  local mode="$1"
  if [ "$mode" = embedded ]; then
    export PIKA_MODE=embedded
  else
    unset PIKA_MODE
  fi
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

failed=()
for mode in scaled-out embedded; do
  echo "== mem0ai $mem0_version against PIKA Memory, $mode"
  # errexit off out here so a failing mode does not stop the next; on in the subshell, where a
  # failed step (a build, the database, the server) ends the mode.
  set +e
  (
    set -e
    check_mode "$mode"
  )
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    failed+=("$mode")
  fi
done
if [ "${#failed[@]}" -ne 0 ]; then
  echo "mem0 compatibility failed: ${failed[*]}" >&2
  exit 1
fi
echo "mem0ai $mem0_version works against PIKA Memory, scaled out and embedded"
