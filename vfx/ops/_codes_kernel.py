"""``vfx.ops.codes.apply_cube_table``'s CPU kernel (Numba): one table load per pixel, in one pass."""

from __future__ import annotations

import numpy as np

from .jit import kernel


@kernel
def cube_lookup(src, table, dst):
    """``dst[i] = table[src[i] & 0xFFFFFF]`` over flat uint32 RGBA pixels (the key is R + 256 G + 65536 B)."""
    mask = np.uint32(0xFFFFFF)
    for i in range(src.shape[0]):
        dst[i] = table[src[i] & mask]
