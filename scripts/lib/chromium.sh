# Sourced by the browser checks: `ensure_chromium` installs Debian's chromium when it is
# missing (Playwright's own browser download is not reachable here).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    return 0
  fi
  echo "installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q chromium >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q chromium >/dev/null
  }
}
