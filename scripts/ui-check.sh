#!/usr/bin/env bash
# The Inspector (issue 21) in a real browser: Playwright for Python (PyPI) drives Debian's
# Chromium (installed here if missing; Playwright's own browser download is not reachable)
# against a throwaway server, scaled out and then embedded (tests/ui/test_inspector.py: sign in,
# a user's fact and its source turn, its history, an edit, a search, projections, forgetting,
# a wrong key). Screenshots of every page go to $ARTIFACT_DIR/ui (default target/artifacts/ui).
# Playwright lives in a git-ignored venv, .venv-ui/, reused while it holds the pinned version.
#   ./scripts/ui-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q chromium >/dev/null
  }
fi
playwright_version=1.65.2
venv=.venv-ui
has_playwright() {
  "$venv/bin/python" -c \
    'import importlib.metadata as m, sys; sys.exit(m.version("playwright") != sys.argv[1])' \
    "$playwright_version" >/dev/null 2>&1
}
if ! has_playwright; then
  echo "installing playwright==$playwright_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "playwright==$playwright_version"
  has_playwright || { echo "playwright did not install into $venv" >&2; exit 1; }
fi
artifacts="${ARTIFACT_DIR:-target/artifacts}/ui"

# One mode against a server of its own; run in a subshell, whose EXIT trap removes the server.
check_mode() {
  local mode="$1"
  if [ "$mode" = embedded ]; then
    export PIKA_MODE=embedded
  else
    unset PIKA_MODE
  fi
  source scripts/lib/throwaway-server.sh
  start_throwaway_server ui
  if ! "$venv/bin/python" tests/ui/test_inspector.py --url "$SERVER_URL" \
    --key "$SERVER_SECRET" --chromium "$(command -v chromium)" --artifacts "$artifacts/$mode"; then
    echo "the Inspector failed in a browser ($mode); warnings and errors the server logged:" >&2
    grep -E "WARN|ERROR|panicked" "$SERVER_LOG" | tail -n 50 >&2 || true
    exit 1
  fi
}

failed=()
for mode in scaled-out embedded; do
  echo "== the Inspector in Chromium, $mode"
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
  echo "the Inspector browser check failed: ${failed[*]}" >&2
  exit 1
fi
echo "the Inspector works in Chromium, scaled out and embedded; screenshots in $artifacts"
