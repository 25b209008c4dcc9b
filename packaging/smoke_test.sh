#!/usr/bin/env bash
# Smoke-test a frozen cnnlab: it must start, report its version, and pass its own self-test
# (open the main window offscreen, check fonts, train a few steps, classify a drawn stroke, save and
# reload a checkpoint). Exits non-zero on any failure.
#   packaging/smoke_test.sh dist/cnnlab/cnnlab
set -euo pipefail
exe=${1:-dist/cnnlab/cnnlab}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
# A clean home: the frozen app must not depend on anything a developer's machine has lying around.
tmp_home=$(mktemp -d)
trap 'rm -rf "$tmp_home"' EXIT
export HOME="$tmp_home" XDG_CONFIG_HOME="$tmp_home/.config" XDG_CACHE_HOME="$tmp_home/.cache" XDG_DATA_HOME="$tmp_home/.local/share"
unset CNNLAB_DATA_DIR

"$exe" --version
start=$(date +%s%N)
# Each line of the self-test as it comes; the time to the "window" line is the start-up time to a shown
# main window (process start, imports, window built and shown).
set +e
timeout 300 "$exe" gui --self-test | while IFS= read -r line; do
  echo "$line"
  case "$line" in
    "ok    window:"*) echo "start-up: main window shown $(( ($(date +%s%N) - start) / 1000000 )) ms after launch";;
  esac
done
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "self-test FAILED (exit $status)" >&2
  exit 1
fi
echo "self-test passed in $(( ($(date +%s%N) - start) / 1000000 )) ms"

# The bridge loads its modules by name (invisible to PyInstaller): PyTorch export must work frozen, and
# ONNX, left out of the bundle, must say so in one line.
"$exe" train --preset seed --dataset synthetic --epochs 1 --limit 256 --out "$tmp_home/run" --no-record >/dev/null
# Data-parallel training: the worker processes are this executable again (spawn, freeze_support).
parallel=$("$exe" train --preset seed --dataset synthetic --epochs 1 --limit 512 --workers 2 --no-record 2>&1)
case "$parallel" in
  *"2 workers"*) ;;
  *) echo "parallel training: no '2 workers' in its settings line" >&2; exit 1;;
esac
case "$parallel" in
  *"one worker instead"*|*Traceback*) echo "parallel training failed frozen: $parallel" >&2; exit 1;;
esac
echo "parallel training: 2 workers ran frozen"
"$exe" export "$tmp_home/run/checkpoint.npz" --format pytorch --out "$tmp_home/pt" >/dev/null
for f in model.py model.safetensors README.md; do
  [ -s "$tmp_home/pt/$f" ] || { echo "bridge: PyTorch export wrote no $f" >&2; exit 1; }
done
set +e
onnx_message=$("$exe" export "$tmp_home/run/checkpoint.npz" --out "$tmp_home/m.onnx" 2>&1)
onnx_status=$?
set -e
case "$onnx_status:$onnx_message" in
  "2:cnnlab: error: ONNX export and import is not part of this bundle"*) echo "ok    bridge: PyTorch export works; ONNX says it is left out";;
  *) echo "bridge: unexpected ONNX export result (exit $onnx_status): $onnx_message" >&2; exit 1;;
esac
