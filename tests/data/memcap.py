"""Read an IDX file under a memory cap, in a process of its own, and report how it went.

    python -m tests.data.memcap FILE [--cap-mib N] [--max-bytes N]

The address space is capped (``RLIMIT_AS``) at what the interpreter already holds plus ``--cap-mib``, so a
reader that unpacks a gzip bomb dies of ``MemoryError`` instead of taking the machine down. Prints one
JSON object: ``outcome`` ("refused", "read" or "memory"), the message, and the peak resident memory
(``ru_maxrss``) in MiB before and after the read.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys


def address_space_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--cap-mib", type=int, default=256)
    parser.add_argument("--max-bytes", type=int, default=None)
    args = parser.parse_args(argv)

    from cnnlab.data import DataError, read_idx

    before = peak_mib()
    cap = address_space_bytes() + args.cap_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    kwargs = {} if args.max_bytes is None else {"max_bytes": args.max_bytes}
    try:
        array = read_idx(args.file, **kwargs)
        outcome, message = "read", f"{array.shape} {array.dtype}"
    except DataError as exc:
        outcome, message = "refused", str(exc)
    except MemoryError as exc:
        outcome, message = "memory", repr(exc)
    print(
        json.dumps(
            {"outcome": outcome, "message": message, "peak_mib_before": before, "peak_mib": peak_mib()}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
