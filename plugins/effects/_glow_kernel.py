"""The glow's last step on a CPU (Numba): the half-resolution glow tinted, its coverage taken,
upsampled 2x (bilinear, pixel centres aligned) and combined with the picture, in one pass.
Formulas are ``plugins.effects.Glow``'s torch path; the test suite checks both give the same
frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit.fastmath import f32, luma
from vfx.ops.jit import kernel


@kernel
def combine(src, glow, dst, height, width, tint, opaque, screen):
    """``dst`` = ``src`` plus the glow, both flat premultiplied RGBA float32 of ``height`` x
    ``width``; ``glow`` is the blurred light, (ceil(height / 2), ceil(width / 2), 3) float32,
    multiplied by ``tint`` (3 values) here."""
    gh, gw = glow.shape[0], glow.shape[1]
    tr, tg, tb = tint[0], tint[1], tint[2]
    tinted = np.empty((gh, gw, 4), np.float32)  # with the coverage as a fourth channel
    for gy in range(gh):
        for j in range(gw):
            r = glow[gy, j, 0] * tr
            g = glow[gy, j, 1] * tg
            b = glow[gy, j, 2] * tb
            tinted[gy, j, 0] = r
            tinted[gy, j, 1] = g
            tinted[gy, j, 2] = b
            tinted[gy, j, 3] = f32(0.0) if opaque else min(max(max(r, max(g, b)), f32(0.0)), f32(1.0))
    flat = tinted.reshape(gh, 4 * gw)
    row = np.empty(4 * gw, np.float32)  # two glow rows interpolated vertically
    wide = np.empty(8 * gw, np.float32)  # that row interpolated horizontally
    for y in range(height):
        sy = (y + f32(0.5)) * f32(0.5) - f32(0.5)
        y0 = int(np.floor(sy))
        fy = sy - f32(y0)
        top = flat[min(max(y0, 0), gh - 1)]
        bottom = flat[min(y0 + 1, gh - 1)]
        for q in range(4 * gw):
            row[q] = top[q] + fy * (bottom[q] - top[q])
        # output column 2j sits at glow column j - 1/4, column 2j + 1 at j + 1/4
        for j in range(gw):
            left = 4 * max(j - 1, 0)
            right = 4 * min(j + 1, gw - 1)
            for c in range(4):
                here = row[4 * j + c]
                wide[8 * j + c] = row[left + c] + f32(0.75) * (here - row[left + c])
                wide[8 * j + 4 + c] = here + f32(0.25) * (row[right + c] - here)
        o = 4 * y * width
        if screen:
            for x in range(width):
                p = o + 4 * x
                dst[p] = src[p] + wide[4 * x] * (f32(1.0) - min(max(src[p], f32(0.0)), f32(1.0)))
                dst[p + 1] = src[p + 1] + wide[4 * x + 1] * (f32(1.0) - min(max(src[p + 1], f32(0.0)), f32(1.0)))
                dst[p + 2] = src[p + 2] + wide[4 * x + 2] * (f32(1.0) - min(max(src[p + 2], f32(0.0)), f32(1.0)))
                dst[p + 3] = src[p + 3] + wide[4 * x + 3] * (f32(1.0) - src[p + 3])
        else:
            for x in range(width):
                p = o + 4 * x
                dst[p] = src[p] + wide[4 * x]
                dst[p + 1] = src[p + 1] + wide[4 * x + 1]
                dst[p + 2] = src[p + 2] + wide[4 * x + 2]
                dst[p + 3] = src[p + 3] + wide[4 * x + 3] * (f32(1.0) - src[p + 3])


@kernel
def bright_pass(src, dst, threshold, knee):
    """The light above the soft-kneed threshold: ``src`` flat RGBA float32 (N pixels), ``dst``
    flat RGB float32 (written)."""
    t, k = threshold, knee
    for i in range(dst.shape[0] // 3):
        r, g, b = src[4 * i], src[4 * i + 1], src[4 * i + 2]
        lum = luma(r, g, b)
        soft = min(max(lum - t + k, f32(0.0)), f32(2.0) * k)
        soft = soft * soft / (f32(4.0) * k + f32(1e-6))
        weight = max(max(soft, lum - t), f32(0.0)) / max(lum, f32(1e-6))
        dst[3 * i] = r * weight
        dst[3 * i + 1] = g * weight
        dst[3 * i + 2] = b * weight
