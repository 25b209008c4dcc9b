"""Process settings that keep the window fluid next to a busy training thread.

Measured on two cores with the seed net training in the worker while the event loop was timed
(``python -m cnnlab.app.bench_gui``), each of these mattered:

- BLAS threads: with OpenBLAS's default of one thread per core, its spinning helper fought the GUI and
  the training thread; the seed net trained at 200-700 images/s instead of 6,000-7,000. One BLAS thread
  costs the small networks nothing.
- Garbage collection: Python's cyclic collector ran in whichever thread happened to allocate, holding
  the interpreter for a sweep over every object (the training thread allocates a lot); it was the main
  thread's biggest single cost in a profile. Objects alive after start-up are frozen out of the sweeps,
  and collections run from a timer in the GUI thread only (pyqtgraph's ``GarbageCollector``).
- The interpreter's switch interval: Qt calls into Python for every pyqtgraph item it paints, and each
  such call waits until the training thread lets go of the interpreter, by default after up to 5 ms;
  a repaint of 50 items could stall for 100 ms or more. At 0.2 ms the waits add up to little, and the
  training thread, mostly inside NumPy (which lets go of the interpreter anyway), loses nothing seen.
"""

from __future__ import annotations

import gc
import sys

GUI_SWITCH_INTERVAL = 0.0002
GC_INTERVAL_S = 1.0


class GuiRuntime:
    """The settings above, applied together (or some of them); ``restore()`` puts the previous ones back."""

    def __init__(self, *, blas: bool = True, switch_interval: bool = True, collector: bool = True) -> None:
        # The one helper the CLI and the training workers use too (imported here: after the first frame).
        from cnnlab.training.blas import limit_blas_threads

        self._blas = limit_blas_threads(1) if blas else None
        self._interval = sys.getswitchinterval() if switch_interval else None
        if switch_interval:
            sys.setswitchinterval(GUI_SWITCH_INTERVAL)
        self._collector = None
        if collector:
            from pyqtgraph.util.garbage_collector import GarbageCollector

            self._gc_was_enabled = gc.isenabled()
            gc.collect()
            gc.freeze()  # modules, classes and widgets made so far never need a sweep again
            self._collector = GarbageCollector(interval=GC_INTERVAL_S)

    def restore(self) -> None:
        if self._collector is not None:
            self._collector.timer.stop()
            gc.unfreeze()
            if self._gc_was_enabled:
                gc.enable()
            gc.collect()
        if self._interval is not None:
            sys.setswitchinterval(self._interval)
        if self._blas is not None:
            self._blas.restore_original_limits()


def tune_for_gui(**which: bool) -> GuiRuntime:
    """Apply the settings (the collector needs a QApplication: it runs on a timer in the GUI thread).

    ``which``: ``blas``, ``switch_interval``, ``collector`` (all True by default).
    """
    return GuiRuntime(**which)
