"""The grade's CPU kernel: every step of ``effect.grade`` in one pass over a frame (Numba).

The frame goes through in chunks of ``CHUNK`` pixels: the chunk's straight colour is taken
apart into three small planes, each enabled step runs as one simple loop over them (loops that
vectorize, the planes staying in the processor's cache), and the result is premultiplied and
put back together. The LUT's trilinear lookup reads the cube at data-dependent places, which
does not vectorize across pixels; it runs as a plain loop between the vectorized ones, with
each lookup vectorized inside (``vfx.ops.jit.simd.trilinear_rgb``).

Formulas and order are the torch path's (``plugins.effects.Grade``); the test suite checks that
both give the same frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit.fastmath import f32, luma, powf, srgb_decode, srgb_encode, unpremultiply
from vfx.ops.jit import ParamBlock, kernel
from vfx.ops.jit.simd import trilinear_rgb

#: pixels per chunk: four float32 planes of this length fit in a core's L1/L2 cache
CHUNK = 2048

# which steps run (bits of ``flags``)
ALPHA, GAINS, CONTRAST, SATURATION, LIFT_GAIN, GAMMA, LUT, LUT_SRGB, LUT_MIX = (1 << k for k in range(9))

#: a frame's values: RGB gains (exposure), contrast and its pivot, saturation, lift and gain (RGB),
#: 1 / gamma (RGB), the LUT's domain minimum and its points per unit (RGB), the LUT's mix
PARAMS = ParamBlock(
    ("gains", 3),
    ("contrast", 1),
    ("pivot", 1),
    ("saturation", 1),
    ("lift", 3),
    ("gain", 3),
    ("inv_gamma", 3),
    ("lut_lo", 3),
    ("lut_scale", 3),
    ("mix", 1),
)
P = PARAMS.at


def padded_table(table):
    """The kernel's layout of a (B, G, R, 3) LUT: flat float32 (B, G, R, 4), RGB and a pad."""
    size = table.shape[0]
    padded = np.zeros((size, size, size, 4), np.float32)
    padded[..., :3] = table
    return padded.reshape(-1)


@kernel
def grade_frame(src, dst, params, table, size, flags):
    """Grade one frame: ``src`` and ``dst`` are flat premultiplied RGBA float32 (H * W * 4),
    ``params`` the frame's values (laid out by ``PARAMS``), ``table`` the cube of ``size`` points a side
    as ``padded_table`` lays it out (unused without the ``LUT`` flag)."""
    n = src.shape[0] // 4
    r = np.empty(CHUNK, np.float32)
    g = np.empty(CHUNK, np.float32)
    b = np.empty(CHUNK, np.float32)
    a = np.empty(CHUNK, np.float32)
    pre_r = np.empty(CHUNK, np.float32)
    pre_g = np.empty(CHUNK, np.float32)
    pre_b = np.empty(CHUNK, np.float32)
    cell = np.empty(CHUNK, np.int32)
    gr, gg, gb = params[P.gains], params[P.gains + 1], params[P.gains + 2]
    contrast, pivot, sat = params[P.contrast], params[P.pivot], params[P.saturation]
    lr, lg, lb = params[P.lift], params[P.lift + 1], params[P.lift + 2]
    kr, kg, kb = params[P.gain], params[P.gain + 1], params[P.gain + 2]
    er, eg, eb = params[P.inv_gamma], params[P.inv_gamma + 1], params[P.inv_gamma + 2]
    lo_r, lo_g, lo_b = params[P.lut_lo], params[P.lut_lo + 1], params[P.lut_lo + 2]
    sc_r, sc_g, sc_b = params[P.lut_scale], params[P.lut_scale + 1], params[P.lut_scale + 2]
    mix = params[P.mix]
    top = f32(size - 1)
    last_cell = f32(size - 2)
    row, slab = np.uintp(4 * size), np.uintp(4 * size * size)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        o = 4 * start
        if flags & ALPHA:
            for i in range(m):
                alpha = src[o + 4 * i + 3]
                inv = unpremultiply(alpha)
                r[i] = src[o + 4 * i] * inv
                g[i] = src[o + 4 * i + 1] * inv
                b[i] = src[o + 4 * i + 2] * inv
                a[i] = alpha
        else:
            for i in range(m):
                r[i] = src[o + 4 * i]
                g[i] = src[o + 4 * i + 1]
                b[i] = src[o + 4 * i + 2]
                a[i] = src[o + 4 * i + 3]
        if flags & CONTRAST:  # the gains (all positive) ride along
            sr, sg, sb = gr / pivot, gg / pivot, gb / pivot
            for i in range(m):
                r[i] = pivot * powf(max(r[i], f32(0.0)) * sr, contrast) + min(r[i], f32(0.0)) * gr
                g[i] = pivot * powf(max(g[i], f32(0.0)) * sg, contrast) + min(g[i], f32(0.0)) * gg
                b[i] = pivot * powf(max(b[i], f32(0.0)) * sb, contrast) + min(b[i], f32(0.0)) * gb
        elif flags & GAINS:
            for i in range(m):
                r[i] *= gr
                g[i] *= gg
                b[i] *= gb
        if flags & SATURATION:
            rest = f32(1.0) - sat
            for i in range(m):
                y = rest * luma(r[i], g[i], b[i])
                r[i] = sat * r[i] + y
                g[i] = sat * g[i] + y
                b[i] = sat * b[i] + y
        if flags & LIFT_GAIN:
            for i in range(m):
                r[i] = kr * (r[i] + lr * (f32(1.0) - r[i]))
                g[i] = kg * (g[i] + lg * (f32(1.0) - g[i]))
                b[i] = kb * (b[i] + lb * (f32(1.0) - b[i]))
        if flags & GAMMA:
            for i in range(m):
                r[i] = powf(max(r[i], f32(0.0)), er) + min(r[i], f32(0.0))
                g[i] = powf(max(g[i], f32(0.0)), eg) + min(g[i], f32(0.0))
                b[i] = powf(max(b[i], f32(0.0)), eb) + min(b[i], f32(0.0))
        if flags & LUT:
            if flags & LUT_MIX:
                for i in range(m):
                    pre_r[i] = r[i]
                    pre_g[i] = g[i]
                    pre_b[i] = b[i]
            if flags & LUT_SRGB:
                for i in range(m):
                    r[i] = srgb_encode(r[i])
                    g[i] = srgb_encode(g[i])
                    b[i] = srgb_encode(b[i])
            for i in range(m):  # cube cells (flat index of their lower corner) and fractions
                ur = min(max((r[i] - lo_r) * sc_r, f32(0.0)), top)
                ug = min(max((g[i] - lo_g) * sc_g, f32(0.0)), top)
                ub = min(max((b[i] - lo_b) * sc_b, f32(0.0)), top)
                ir = min(np.floor(ur), last_cell)
                ig = min(np.floor(ug), last_cell)
                ib = min(np.floor(ub), last_cell)
                cell[i] = np.int32(ib * f32(slab) + ig * f32(row) + ir * f32(4.0))
                r[i], g[i], b[i] = ur - ir, ug - ig, ub - ib
            for i in range(m):
                r[i], g[i], b[i] = trilinear_rgb(table, np.uintp(cell[i]), row, slab, r[i], g[i], b[i])
            if flags & LUT_SRGB:
                for i in range(m):
                    r[i] = srgb_decode(r[i])
                    g[i] = srgb_decode(g[i])
                    b[i] = srgb_decode(b[i])
            if flags & LUT_MIX:
                for i in range(m):
                    r[i] = pre_r[i] + mix * (r[i] - pre_r[i])
                    g[i] = pre_g[i] + mix * (g[i] - pre_g[i])
                    b[i] = pre_b[i] + mix * (b[i] - pre_b[i])
        if flags & ALPHA:
            for i in range(m):
                dst[o + 4 * i] = r[i] * a[i]
                dst[o + 4 * i + 1] = g[i] * a[i]
                dst[o + 4 * i + 2] = b[i] * a[i]
                dst[o + 4 * i + 3] = a[i]
        else:
            for i in range(m):
                dst[o + 4 * i] = r[i]
                dst[o + 4 * i + 1] = g[i]
                dst[o + 4 * i + 2] = b[i]
                dst[o + 4 * i + 3] = a[i]
