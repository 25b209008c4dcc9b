"""How long ago this process started, for the start-up figure ("window shown N ms after start").

Measured from the operating system's record of the process start (Linux: ``/proc/self/stat``), so the
interpreter's own start and every import count; elsewhere from the time this module was first imported.
"""

from __future__ import annotations

import os
import time

_FALLBACK_START = time.monotonic()


def process_age_ms() -> float:
    """Milliseconds since this process started."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        with open("/proc/uptime", "rb") as uptime:
            up = float(uptime.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        started = int(fields[19]) / ticks  # field 22 of stat: start time, in clock ticks after boot
        return max((up - started) * 1000.0, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return (time.monotonic() - _FALLBACK_START) * 1000.0
