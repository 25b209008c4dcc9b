"""Per-layer scratch arrays reused from step to step.

Large temporaries (im2col matrices, padded copies) are allocated once per input shape: fresh
allocations of a few hundred kilobytes come from mmap, and touching new pages on every step cost
more than the arithmetic on the small networks cnnlab trains.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class Scratch:
    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(
        self, key: str, shape: tuple[int, ...], dtype: npt.DTypeLike, zero: bool = False, init=None
    ) -> np.ndarray:
        """The array kept under ``key``, made anew (zeros, then ``init(array)`` if given) when it does
        not exist yet or has another shape or dtype; ``zero`` clears a kept one."""
        array = self._arrays.get(key)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = np.zeros(shape, dtype=dtype)
            if init is not None:
                init(array)
            self._arrays[key] = array
        elif zero:
            array.fill(0)
        return array

    def clear(self) -> None:
        self._arrays.clear()
