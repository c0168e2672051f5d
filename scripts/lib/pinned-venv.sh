# Sourced by checks that drive the server with a PyPI client: `pinned_venv DIR PACKAGE
# VERSION` makes DIR (git-ignored) a virtualenv holding PACKAGE==VERSION, reusing it while it
# does, and fails if the install does not take.
pinned_venv() {
  local venv="$1" package="$2" version="$3"
  holds() {
    "$venv/bin/python" -c \
      'import importlib.metadata as m, sys; sys.exit(m.version(sys.argv[1]) != sys.argv[2])' \
      "$package" "$version" >/dev/null 2>&1
  }
  if holds; then
    return 0
  fi
  echo "installing $package==$version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$package==$version"
  if ! holds; then
    echo "$package==$version did not install into $venv" >&2
    return 1
  fi
}
