"""Per-pixel CPU kernels compiled with Numba: the switch and the decorators.

A chain of per-pixel steps written with torch makes one pass over memory per step; a kernel
runs the whole chain while each pixel is in registers, and its simple loops over float32
arrays vectorize (LLVM, the host's widest SIMD). ``vfx.fastmath`` has the float32 math
(``powf``, the sRGB curves) that keeps them vectorized. Kernels compile on first use, are
cached on disk and release the GIL. Numba is imported only when a kernel module is.

Nodes keep a torch path for other devices (and tests switch ``ENABLED`` off to check that
path on the CPU): ``enabled(tensor)`` says whether to take the kernel.
"""
from __future__ import annotations

import functools
import importlib.util

#: tests switch this off to run the torch path on the CPU
ENABLED = True

# No nnan/ninf (the compiler may not assume values are finite) and no reassociation (results do not
# depend on how the compiler regroups sums): contraction to FMA and fast reciprocals only. The
# polynomial math of ``vfx.fastmath`` is for finite values: its powf maps NaN to 0.
FASTMATH = {"contract", "arcp", "afn", "nsz"}


def enabled(x) -> bool:
    """Whether ``x`` (a tensor) should go through a Numba kernel: on the CPU, with Numba installed."""
    return ENABLED and x.device.type == "cpu" and available()


@functools.cache
def available() -> bool:
    """Whether Numba is installed (without importing it)."""
    return importlib.util.find_spec("numba") is not None


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
