"""Per-pixel CPU kernels compiled with Numba: the decorators, frame hand-over and parameter blocks.

A chain of per-pixel steps written with torch makes one pass over memory per step; a kernel
runs the whole chain while each pixel is in registers, and its simple loops over float32
arrays vectorize (LLVM, the host's widest SIMD). ``vfx.ops.jit.fastmath`` has the float32 math
(``powf``, the sRGB curves) that keeps them vectorized, ``vfx.ops.jit.simd`` LLVM vector code
the vectorizer cannot find. Kernels compile on first use, are cached on disk and release the
GIL. Numba is imported only when a kernel module is.

Nodes keep a torch path for other devices: ``vfx.ops.backend.allows("numba", tensor)`` says
whether to take the kernel (and ``backend.only("torch")`` makes tests take the torch path).
"""

from __future__ import annotations

import collections

import numpy as np

# No nnan/ninf (the compiler may not assume values are finite) and no reassociation (results do not
# depend on how the compiler regroups sums): contraction to FMA and fast reciprocals only. The
# polynomial math of ``fastmath`` is for finite values: its powf maps NaN to 0.
FASTMATH = {"contract", "arcp", "afn", "nsz"}


def kernel(fn):
    """Compile ``fn`` as a CPU kernel: no GIL, no bounds checks, cached on disk."""
    import numba

    return numba.njit(fn, fastmath=FASTMATH, nogil=True, cache=True, error_model="numpy")


def inline(fn):
    """Compile ``fn`` as a helper that kernels inline (so its loop body can vectorize)."""
    import numba

    return numba.njit(fn, fastmath=FASTMATH, inline="always", error_model="numpy")


def rgba(frame, *, out: bool = False):
    """One (4, H, W) CPU frame as the flat float32 NumPy array of its interleaved RGBA, for a kernel.

    A view of the frame's memory when it is channels-last (every ``empty_pixels`` frame), else a
    copy; ``out`` (a frame the kernel writes) must be a view.
    """
    hwc = frame.permute(1, 2, 0)
    if not hwc.is_contiguous():
        if out:
            raise ValueError("a kernel's output frame must be channels-last")
        hwc = hwc.contiguous()
    return hwc.numpy().reshape(-1)


class ParamBlock:
    """A kernel's per-frame float32 parameters, declared once: named slots of given widths, in order.

    ``BLOCK = ParamBlock(("gains", 3), ("contrast", 1), ...)`` lays the slots out back to back.
    ``BLOCK.at`` is a named tuple of their offsets, which a kernel reads as compile-time constants
    (``params[BLOCK.at.gains + 1]``); ``BLOCK.size`` is the row length; ``BLOCK.pack(n, **values)``
    fills the rows of ``n`` frames for the node.
    """

    def __init__(self, *slots: tuple[str, int]):
        names = [name for name, _ in slots]
        if len(set(names)) != len(names):
            raise ValueError(f"a parameter block names a slot twice: {names}")
        offsets, widths, size = [], {}, 0
        for name, width in slots:
            offsets.append(size)
            widths[name] = int(width)
            size += int(width)
        # field names known only at run time: mypy cannot type this namedtuple's constructor
        self.at = collections.namedtuple("Offsets", names)(*offsets)  # type: ignore[arg-type]
        self.widths = widths
        self.size = size

    def pack(self, n: int, **values) -> np.ndarray:
        """An (n, size) float32 array: each named slot filled with its value (a number, one value per
        frame, the slot's ``width`` values, or (n, width)), every slot not named 0."""
        unknown = set(values) - set(self.widths)
        if unknown:
            raise ValueError(f"no slot(s) {sorted(unknown)} in the block; slots are {', '.join(self.widths)}")
        out = np.zeros((n, self.size), np.float32)
        for name, value in values.items():
            o, width = getattr(self.at, name), self.widths[name]
            if width == 1:
                out[:, o] = value
            else:
                out[:, o : o + width] = value
        return out
