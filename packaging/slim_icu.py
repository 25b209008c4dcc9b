"""Shrink the ICU data library Qt brings into the bundle (32 MB of the bundle's 177 MB) to what the lab
can use: about 4 MB.

    python packaging/slim_icu.py dist/cnnlab        # run by packaging/build.sh

What Qt 6 asks ICU for: the root collation (QCollator, localeAwareCompare), normalisation and IDNA
(QUrl), case mapping, break rules, time-zone rules, and converters for legacy encodings by name. Its
own tables cover locale formats and Unicode properties; ICU's properties are compiled into libicuuc.
So the library keeps every item that is not about one locale, the root and English locale bundles,
the break-rule files, and the single-byte converter tables; it drops other locales' display names,
collations, currencies and units, the transliteration rules, the CJK, Thai, Lao, Khmer and Burmese
word dictionaries, the large multi-byte converter tables, the character-name table and the spoof
checker's confusables.

How: libicudata.so.NN holds one ICU "common data" package (header, table of contents, items) as the
symbol icudtNN_dat. The package is rewritten with fewer items (the format is a list of named blobs,
each 16-byte aligned) and assembled back into a shared library exporting the same symbol, with
binutils' ``as`` and ``ld`` (which the build needs anyway, for ``strip``). Without them, or if the
library does not look as expected, the file is left as it was and the script says so.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

KEEP_LOCALES = {"root", "en", "en_US", "en_US_POSIX", "en_001", "en_150", "en_GB"}
LOCALE = re.compile(r"^(root|[a-z]{2,3}(_[A-Za-z0-9]+)*)\.res$")
SMALL_CONVERTER = 10_000  # bytes: the single-byte tables (ISO-8859-*, windows-125*) are all below this
DROP_ITEMS = {"unames.icu", "confusables.cfu"}
DROP_CATEGORIES = ("translit/",)  # transliteration rules (1 MB): Qt has no use for them


def keep(name: str, size: int) -> bool:
    """``name`` is an item's path inside the package ("icudt73l/coll/de.res")."""
    base = name.rsplit("/", 1)[-1]
    if any(f"/{category}" in name for category in DROP_CATEGORIES):
        return False
    if LOCALE.match(base):
        return base[: -len(".res")] in KEEP_LOCALES
    if base.endswith(".dict") or base in DROP_ITEMS:
        return False
    if base.endswith(".cnv"):
        return size < SMALL_CONVERTER
    return True


def read_package(blob: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(header bytes, [(item name, item bytes)]) of an ICU common data package."""
    header_size, magic1, magic2 = struct.unpack_from("<HBB", blob, 0)
    if (magic1, magic2) != (0xDA, 0x27) or blob[12:16] != b"CmnD" or blob[8] != 0:  # little-endian only
        raise ValueError("not a little-endian ICU common data package")
    (count,) = struct.unpack_from("<I", blob, header_size)
    toc = [struct.unpack_from("<II", blob, header_size + 4 + 8 * i) for i in range(count)]
    items = []
    for i, (name_at, data_at) in enumerate(toc):
        start = header_size + name_at
        name = blob[start : blob.index(b"\0", start)].decode("ascii")
        end = toc[i + 1][1] if i + 1 < count else len(blob) - header_size
        items.append((name, blob[header_size + data_at : header_size + end]))
    if any(toc[i][1] >= toc[i + 1][1] for i in range(count - 1)):
        raise ValueError("items are not stored in table order")
    return blob[:header_size], items


def write_package(header: bytes, items: list[tuple[str, bytes]]) -> bytes:
    """The package with these items, in the layout ICU's own tools write (names sorted, data aligned)."""
    items = sorted(items)
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in items)
    toc_size = 4 + 8 * len(items)
    data_start = -(-(toc_size + len(names)) // 16) * 16
    toc, data, name_at, offset = [], [], toc_size, data_start
    for name, payload in items:
        toc.append(struct.pack("<II", name_at, offset))
        name_at += len(name) + 1
        padded = payload + b"\0" * (-len(payload) % 16)
        data.append(padded)
        offset += len(padded)
    body = struct.pack("<I", len(items)) + b"".join(toc) + names
    return header + body + b"\0" * (data_start - len(body)) + b"".join(data)


def data_symbol(library: Path) -> tuple[str, int, int]:
    """(symbol name, file offset, size) of the icudtNN_dat symbol, read with ``objdump``."""
    symbols = subprocess.run(["objdump", "-T", str(library)], capture_output=True, text=True, check=True)
    for line in symbols.stdout.splitlines():
        fields = line.split()  # address, flags..., section, size, name
        if fields and re.fullmatch(r"icudt\d+_dat", fields[-1]):
            name, address, size = fields[-1], int(fields[0], 16), int(fields[-2], 16)
            break
    else:
        raise ValueError("no icudtNN_dat symbol")
    sections = subprocess.run(["objdump", "-h", str(library)], capture_output=True, text=True, check=True)
    for line in sections.stdout.splitlines():
        fields = line.split()  # index, name, size, vma, lma, file offset, alignment
        if len(fields) >= 6 and fields[1] == ".rodata":
            vma, file_offset = int(fields[3], 16), int(fields[5], 16)
            return name, address - vma + file_offset, size
    raise ValueError("no .rodata section")


def build_library(package: bytes, symbol: str, soname: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        (tmp_dir / "data.bin").write_bytes(package)
        source = (
            f".section .rodata\n.globl {symbol}\n.type {symbol}, @object\n.balign 16\n{symbol}:\n"
            f'.incbin "{tmp_dir / "data.bin"}"\n.size {symbol}, . - {symbol}\n'
            '.section .note.GNU-stack,"",@progbits\n'
        )
        (tmp_dir / "data.s").write_text(source)
        subprocess.run(["as", "-o", str(tmp_dir / "data.o"), str(tmp_dir / "data.s")], check=True)
        subprocess.run(
            ["ld", "-shared", "-soname", soname, "-o", str(tmp_dir / "lib.so"), str(tmp_dir / "data.o")],
            check=True,
        )
        shutil.move(str(tmp_dir / "lib.so"), out)


def slim(library: Path) -> tuple[int, int]:
    """Rewrite ``library`` in place; returns (bytes before, bytes after)."""
    symbol, offset, size = data_symbol(library)
    blob = library.read_bytes()
    header, items = read_package(blob[offset : offset + size])
    kept = [(name, payload) for name, payload in items if keep(name, len(payload))]
    new = library.with_suffix(library.suffix + ".slim")
    build_library(write_package(header, kept), symbol, library.name, new)
    before = library.stat().st_size
    new.replace(library)
    return before, library.stat().st_size


def main(bundle: str) -> int:
    libraries = [p for p in Path(bundle).rglob("libicudata.so*") if p.is_file() and not p.is_symlink()]
    if not libraries:
        print("slim_icu: no libicudata in the bundle; nothing to do")
        return 0
    if not (shutil.which("as") and shutil.which("ld") and shutil.which("objdump")):
        print("slim_icu: binutils (as, ld, objdump) not found; ICU data left whole (about 30 MB more)")
        return 0
    for library in libraries:
        try:
            before, after = slim(library)
        except (ValueError, subprocess.CalledProcessError, OSError) as exc:
            print(f"slim_icu: {library.name} left as it was: {exc}")
            continue
        print(f"slim_icu: {library.name} {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist/cnnlab"))
