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
timeout 300 "$exe" gui --self-test
echo "self-test passed in $(( ($(date +%s%N) - start) / 1000000 )) ms"
