"""The chroma keyer's CPU kernels (Numba): the matte in one pass, and the spill removal with the
matte multiplied in, in another (the matte's shrink and feather work on the whole frame between);
without shrink and feather, ``chroma_key`` runs both in one pass, no matte plane between them.

Formulas are ``plugins.keying.ChromaKey``'s torch path; the test suite checks both give the same
frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit.fastmath import f32, srgb_encode, unpremultiply
from vfx.ops.jit import ParamBlock, kernel

#: matte parameters: the Cb and Cr weights of sRGB-encoded R, G, B, the key's Cb and Cr, its chroma
#: (the distance unit), the tolerance and the softness
MATTE = ParamBlock(("cb", 3), ("cr", 3), ("key_cb", 1), ("key_cr", 1), ("scale", 1), ("tolerance", 1), ("softness", 1))
M = MATTE.at
#: spill parameters: the 3x3 basis turning the key hue onto green (row-major), then the RGB direction
#: the excess is taken away along
SPILL = ParamBlock(("basis", 9), ("direction", 3))
S = SPILL.at


@kernel
def chroma_matte(src, matte, params, opaque):
    """The key matte of one frame: ``src`` flat premultiplied RGBA float32, ``matte`` one float32
    per pixel (written), ``params`` laid out by ``MATTE``; ``opaque``: the input has no alpha."""
    wb0, wb1, wb2 = params[M.cb], params[M.cb + 1], params[M.cb + 2]
    wr0, wr1, wr2 = params[M.cr], params[M.cr + 1], params[M.cr + 2]
    kcb, kcr, scale = params[M.key_cb], params[M.key_cr], params[M.scale]
    start, width = params[M.tolerance], params[M.softness]
    hard = width <= f32(0.0)
    width = max(width, f32(1e-6))
    for i in range(matte.shape[0]):
        a = src[4 * i + 3]
        inv = f32(1.0) if opaque else unpremultiply(a)
        r = srgb_encode(min(max(src[4 * i] * inv, f32(0.0)), f32(1.0)))
        g = srgb_encode(min(max(src[4 * i + 1] * inv, f32(0.0)), f32(1.0)))
        b = srgb_encode(min(max(src[4 * i + 2] * inv, f32(0.0)), f32(1.0)))
        cb = wb0 * r + wb1 * g + wb2 * b - kcb
        cr = wr0 * r + wr1 * g + wr2 * b - kcr
        d = np.sqrt(cb * cb + cr * cr) / scale
        if hard:
            matte[i] = f32(1.0) if d >= start else f32(0.0)
        else:
            m = min(max((d - start) / width, f32(0.0)), f32(1.0))
            # the torch path's snap (keying._snapped_): exact 0 and 1 on every instruction set
            matte[i] = f32(0.0) if m < f32(2.0**-20) else f32(1.0) if m > f32(1.0 - 2.0**-20) else m


@kernel
def despill(src, matte, dst, params, opaque):
    """Spill removal and the matte: ``dst`` (flat premultiplied RGBA, written) is the straight colour
    of ``src`` with the key hue's excess taken away, alpha the matte times the input's alpha."""
    t00, t01, t02 = params[S.basis], params[S.basis + 1], params[S.basis + 2]
    t10, t11, t12 = params[S.basis + 3], params[S.basis + 4], params[S.basis + 5]
    t20, t21, t22 = params[S.basis + 6], params[S.basis + 7], params[S.basis + 8]
    dr, dg, db = params[S.direction], params[S.direction + 1], params[S.direction + 2]
    for i in range(matte.shape[0]):
        a = src[4 * i + 3]
        inv = f32(1.0) if opaque else unpremultiply(a)
        r = src[4 * i] * inv
        g = src[4 * i + 1] * inv
        b = src[4 * i + 2] * inv
        turned_r = t00 * r + t01 * g + t02 * b
        turned_g = t10 * r + t11 * g + t12 * b
        turned_b = t20 * r + t21 * g + t22 * b
        excess = max(turned_g - max(turned_r, turned_b), f32(0.0))
        alpha = matte[i] * a
        dst[4 * i] = max(r - dr * excess, f32(0.0)) * alpha
        dst[4 * i + 1] = max(g - dg * excess, f32(0.0)) * alpha
        dst[4 * i + 2] = max(b - db * excess, f32(0.0)) * alpha
        dst[4 * i + 3] = alpha


@kernel
def chroma_key(src, dst, matte_params, spill_params, opaque):
    """``chroma_matte`` then ``despill`` in one pass over a frame: their loop bodies, one after the
    other (the same arithmetic, so the same numbers; helpers shared between the kernels kept
    these loops from vectorizing)."""
    wb0, wb1, wb2 = matte_params[M.cb], matte_params[M.cb + 1], matte_params[M.cb + 2]
    wr0, wr1, wr2 = matte_params[M.cr], matte_params[M.cr + 1], matte_params[M.cr + 2]
    kcb, kcr, scale = matte_params[M.key_cb], matte_params[M.key_cr], matte_params[M.scale]
    start, width = matte_params[M.tolerance], matte_params[M.softness]
    hard = width <= f32(0.0)
    width = max(width, f32(1e-6))
    t00, t01, t02 = spill_params[S.basis], spill_params[S.basis + 1], spill_params[S.basis + 2]
    t10, t11, t12 = spill_params[S.basis + 3], spill_params[S.basis + 4], spill_params[S.basis + 5]
    t20, t21, t22 = spill_params[S.basis + 6], spill_params[S.basis + 7], spill_params[S.basis + 8]
    dr, dg, db = spill_params[S.direction], spill_params[S.direction + 1], spill_params[S.direction + 2]
    for i in range(src.shape[0] // 4):
        a = src[4 * i + 3]
        inv = f32(1.0) if opaque else unpremultiply(a)
        r = src[4 * i] * inv
        g = src[4 * i + 1] * inv
        b = src[4 * i + 2] * inv
        er = srgb_encode(min(max(r, f32(0.0)), f32(1.0)))
        eg = srgb_encode(min(max(g, f32(0.0)), f32(1.0)))
        eb = srgb_encode(min(max(b, f32(0.0)), f32(1.0)))
        cb = wb0 * er + wb1 * eg + wb2 * eb - kcb
        cr = wr0 * er + wr1 * eg + wr2 * eb - kcr
        d = np.sqrt(cb * cb + cr * cr) / scale
        if hard:
            matte = f32(1.0) if d >= start else f32(0.0)
        else:
            m = min(max((d - start) / width, f32(0.0)), f32(1.0))
            matte = f32(0.0) if m < f32(2.0**-20) else f32(1.0) if m > f32(1.0 - 2.0**-20) else m
        turned_r = t00 * r + t01 * g + t02 * b
        turned_g = t10 * r + t11 * g + t12 * b
        turned_b = t20 * r + t21 * g + t22 * b
        excess = max(turned_g - max(turned_r, turned_b), f32(0.0))
        alpha = matte * a
        dst[4 * i] = max(r - dr * excess, f32(0.0)) * alpha
        dst[4 * i + 1] = max(g - dg * excess, f32(0.0)) * alpha
        dst[4 * i + 2] = max(b - db * excess, f32(0.0)) * alpha
        dst[4 * i + 3] = alpha
