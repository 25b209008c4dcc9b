#!/usr/bin/env bash
# Build the one-folder bundle (dist/cnnlab), slim it, pack it, and run its self-test.
#   packaging/build.sh            # uses .venv/bin/python, or $PYTHON
# Prints the build time, the folder's size, the compressed size and the frozen app's start-up time.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
version=$("$PYTHON" -c "import cnnlab; print(cnnlab.__version__)")
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/cnnlab.spec
bundle=dist/cnnlab

# Strip regular shared objects, but never those in *.libs/ folders (NumPy's OpenBLAS there breaks:
# "ELF load command address/offset not page-aligned"). Dangling symlinks go first.
find "$bundle" -xtype l -delete
if command -v strip >/dev/null 2>&1; then
  find "$bundle" -type f -name '*.so*' -not -path '*.libs/*' -print0 | xargs -0 -r strip --strip-unneeded 2>/dev/null || true
fi
# ICU's data library (32 MB) cut to what Qt can use here (about 4 MB); see packaging/slim_icu.py.
"$PYTHON" packaging/slim_icu.py "$bundle"
install -m 644 resources/cnnlab.desktop "$bundle/cnnlab.desktop"
install -m 644 resources/icons/cnnlab-256.png "$bundle/cnnlab.png"
build_seconds=$(( $(date +%s) - start ))

archive="dist/cnnlab-${version}-linux-$(uname -m).tar.gz"
tar -C dist -czf "$archive" cnnlab
echo "build: ${build_seconds} s"
echo "bundle: $(du -sh "$bundle" | cut -f1) unpacked in $bundle; $(du -h "$archive" | cut -f1) as $archive"

packaging/smoke_test.sh "$bundle/cnnlab"
