"""The grain's per-pixel CPU kernel (Numba): the noise, weighted by luma, added in square-root
encoding, in one pass. Formulas are ``plugins.effects.Grain``'s torch path; the test suite checks
both give the same frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit.fastmath import f32, luma, unpremultiply
from vfx.ops.jit import kernel


@kernel
def add_grain(src, noise, dst, amount, response, has_alpha):
    """Grain one frame: ``src`` and ``dst`` flat premultiplied RGBA float32, ``noise`` (C, H * W)
    float32 with C = 1 (monochrome) or 3, ``amount`` its weight (unit deviation folded in)."""
    n = src.shape[0] // 4
    mono = noise.shape[0] == 1
    flat = f32(1.0) - response
    curve = f32(4.0) * response
    for i in range(n):
        a = src[4 * i + 3]
        inv = unpremultiply(a) if has_alpha else f32(1.0)
        r = src[4 * i] * inv
        g = src[4 * i + 1] * inv
        b = src[4 * i + 2] * inv
        lum = np.sqrt(min(max(luma(r, g, b), f32(0.0)), f32(1.0)))
        weight = (lum * (f32(1.0) - lum) * curve + flat) * amount
        nr = noise[0, i]
        ng = nr if mono else noise[1, i]
        nb = nr if mono else noise[2, i]
        er = max(np.sqrt(max(r, f32(0.0))) + nr * weight, f32(0.0))
        eg = max(np.sqrt(max(g, f32(0.0))) + ng * weight, f32(0.0))
        eb = max(np.sqrt(max(b, f32(0.0))) + nb * weight, f32(0.0))
        scale = a if has_alpha else f32(1.0)
        dst[4 * i] = er * er * scale
        dst[4 * i + 1] = eg * eg * scale
        dst[4 * i + 2] = eb * eb * scale
        dst[4 * i + 3] = a
