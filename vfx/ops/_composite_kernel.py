"""``vfx.ops.composite.over``'s CPU kernel (Numba): src over a region of dst, in place, in one pass.

Both arrays are handed over as flat float32 views of their memory with element offsets and
strides per frame and per row: a region of a channels-last canvas is rows of interleaved RGBA
pixels, contiguous within a row, so the inner loop runs over contiguous memory and vectorizes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .jit import kernel
from .jit.fastmath import f32

if TYPE_CHECKING:
    from torch import Tensor


@kernel
def _over(d, d_frame, d_row, s, s_frame, s_row, n, h, w4, opacity):
    """``d = s * opacity + d * (1 - s_alpha * opacity)`` over n frames of h rows of w4 floats."""
    one = f32(1.0)
    for f in range(n):
        for i in range(h):
            db = f * d_frame + i * d_row
            sb = f * s_frame + i * s_row
            for j in range(0, w4, 4):
                k = one - s[sb + j + 3] * opacity
                d[db + j] = s[sb + j] * opacity + d[db + j] * k
                d[db + j + 1] = s[sb + j + 1] * opacity + d[db + j + 1] * k
                d[db + j + 2] = s[sb + j + 2] * opacity + d[db + j + 2] * k
                d[db + j + 3] = s[sb + j + 3] * opacity + d[db + j + 3] * k


def _flat(x: Tensor) -> tuple[np.ndarray, int, int]:
    """(N, 4, h, w) ``x`` with channels-last rows as (a flat NumPy view from its first element,
    frame stride, row stride), strides in floats."""
    n, _c, h, w = x.shape
    span = (n - 1) * x.stride(0) + (h - 1) * x.stride(2) + 4 * w
    flat = x.as_strided((span,), (1,), x.storage_offset()).numpy()
    return flat, x.stride(0), x.stride(2)


def over_frames(dst: Tensor, src: Tensor, opacity: float) -> None:
    """Run the kernel on CPU tensors (``dst`` with channels-last rows, written in place)."""
    import torch

    if not (src.stride(1) == 1 and src.stride(3) == 4) or src.dtype != torch.float32:
        src = src.to(torch.float32).contiguous(memory_format=torch.channels_last)
    n, _c, h, w = dst.shape
    d, d_frame, d_row = _flat(dst)
    s, s_frame, s_row = _flat(src)
    _over(d, d_frame, d_row, s, s_frame, s_row, n, h, 4 * w, np.float32(opacity))
