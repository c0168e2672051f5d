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
source scripts/lib/chromium.sh
source scripts/lib/both-modes.sh
ensure_chromium
playwright_version=1.65.2
venv=.venv-ui
source scripts/lib/pinned-venv.sh
pinned_venv "$venv" playwright "$playwright_version"
artifacts="${ARTIFACT_DIR:-target/artifacts}/ui"

# One mode against a server of its own.
check_mode() {
  local mode="$1"
  source scripts/lib/throwaway-server.sh
  start_throwaway_server ui
  if ! "$venv/bin/python" tests/ui/test_inspector.py --url "$SERVER_URL" \
    --key "$SERVER_SECRET" --chromium "$(command -v chromium)" --artifacts "$artifacts/$mode"; then
    echo "the Inspector failed in a browser ($mode); warnings and errors the server logged:" >&2
    grep -E "WARN|ERROR|panicked" "$SERVER_LOG" | tail -n 50 >&2 || true
    exit 1
  fi
}

in_both_modes "the Inspector in Chromium" check_mode
echo "the Inspector works in Chromium, scaled out and embedded; screenshots in $artifacts"
