"""Small helpers shared by the built-in effects (per-frame option columns, channels-last output).

The pixel operations they use (sRGB curves, premultiplied alpha, luma, the Gaussian blur,
resampling) are in ``vfx.ops``."""

from __future__ import annotations

import numpy as np

from vfx.ops import color


# --- small tensor helpers ------------------------------------------------------------------------


def _channels_last(t):
    import torch

    return t.contiguous(memory_format=torch.channels_last)


def _col(values, like):
    """Per-frame values (N,) or (N, k) as a float32 (N, k, 1, 1) tensor on ``like``'s device."""
    import torch

    v = torch.as_tensor(np.ascontiguousarray(values, dtype=np.float32), device=like.device)
    if v.ndim == 1:
        v = v[:, None]
    return v[:, :, None, None]


def _assemble(rgb, alpha, *, premultiply: bool, out):
    """Colour and alpha (colour times alpha where ``premultiply``) written into ``out``, a
    channels-last (N, 4, H, W) tensor."""
    if premultiply:
        return color.premultiply(rgb, alpha, out=out)
    out[:, :3] = rgb
    out[:, 3:4] = alpha
    return out


def _linear_rgb(colors):
    """(N, 4) straight sRGB option values to (N, 3) linear RGB (float64 numpy)."""
    return color.srgb_to_linear(np.asarray(colors)[:, :3])
