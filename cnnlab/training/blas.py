"""How many threads NumPy's BLAS may use, process-wide: one helper for the CLI and the app.

One thread by default: cnnlab's networks are small, and measured on two cores, OpenBLAS's second thread
gained the seed net little when the machine was idle but made steps up to 50x slower whenever anything
else was running, as the two threads waited on each other (and, next to the GUI, its spinning helper
brought the seed net from 6,000-7,000 images/s down to 200-700).
"""

from __future__ import annotations

from typing import Any


def limit_blas_threads(threads: int = 1) -> Any:
    """Let BLAS use ``threads`` threads from now on; returns threadpoolctl's limiter (its
    ``restore_original_limits()`` puts the previous limits back)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"BLAS threads must be a whole number of at least 1, got {threads!r}")
    import numpy  # noqa: F401  (threadpoolctl can only limit a BLAS that is already loaded)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")
