#!/usr/bin/env bash
# The docs page rendered by a real browser with no network: headless Chromium (Debian's
# `chromium`, installed here if missing) loads /docs of a throwaway server, every request that is
# not to the loopback goes to a dead proxy, and the rendered DOM must list every route of the
# API. A screenshot is kept for a human to look at.
#   ./scripts/docs-page-check.sh        (screenshot in $ARTIFACT_DIR, default target/artifacts)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/services.sh >/dev/null
source scripts/lib/chromium.sh
ensure_chromium
source scripts/lib/throwaway-server.sh
start_throwaway_server docs
artifacts="${ARTIFACT_DIR:-target/artifacts}"
mkdir -p "$artifacts"
profile="$(mktemp -d -t pika-chromium.XXXXXX)"
# Loopback bypasses a proxy by default; anything else meets port 9, where nothing listens.
browser=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --proxy-server=http://127.0.0.1:9 --user-data-dir="$profile"
  --virtual-time-budget=15000 --window-size=1280,2200)
routes="$(curl -fs "$SERVER_URL/openapi.json" | python3 -c \
  'import json,sys; print("\n".join(json.load(sys.stdin)["paths"]))')"
dom="$(timeout 120 "${browser[@]}" --dump-dom "$SERVER_URL/docs" 2>/dev/null | sed 's/\xe2\x80\x8b//g')"
missing=0
while read -r route; do
  # A here-string, not `printf | grep -q`: grep quitting at the first match would break the
  # pipe, and with pipefail a found route would count as missing.
  if ! grep -qF -- "$route" <<<"$dom"; then
    echo "the rendered docs page does not show $route" >&2
    missing=1
  fi
done <<<"$routes"
timeout 120 "${browser[@]}" --screenshot="$artifacts/docs-page.png" "$SERVER_URL/docs" \
  >/dev/null 2>&1
rm -rf "$profile"
size="$(stat -c %s "$artifacts/docs-page.png" 2>/dev/null || echo 0)"
if [ "$size" -lt 20000 ]; then
  echo "the screenshot $artifacts/docs-page.png is missing or blank ($size bytes)" >&2
  missing=1
fi
if [ "$missing" -ne 0 ]; then
  exit 1
fi
echo "docs page rendered offline with all $(wc -l <<<"$routes") routes; screenshot $artifacts/docs-page.png"
