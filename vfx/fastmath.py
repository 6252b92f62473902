"""float32 math for Numba kernels (``vfx.jit``) that vectorizes: powers, exp2, log2, sRGB curves.

A call to libm's ``pow`` stops LLVM from vectorizing a loop, so ``powf``, ``exp2f`` and
``log2f`` are polynomials on the float's bits (relative error below 5e-7; Chebyshev fits made
at import). Importing this module imports Numba.

Numba's disk cache checks only a kernel's own source file: after changing this module, delete
the ``*.nbi``/``*.nbc`` files in the kernels' ``__pycache__`` (or touch the kernel modules).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import inline

f32 = np.float32


def _fit(fn, lo: float, hi: float, degree: int) -> list:
    """Power-series coefficients (lowest first) of a Chebyshev fit of ``fn`` on [lo, hi]."""
    x = np.linspace(lo, hi, 4001)
    fit = np.polynomial.chebyshev.Chebyshev.fit(x, fn(x), degree, domain=[lo, hi])
    return [f32(c) for c in fit.convert(kind=np.polynomial.Polynomial).coef]


# log2(1 + t) for t in [0, 1), and 2^f for f in [0, 1)
_L = _fit(lambda t: np.log2(1.0 + t), 0.0, 1.0, 8)
_E = _fit(np.exp2, 0.0, 1.0, 7)
L0, L1, L2, L3, L4, L5, L6, L7, L8 = _L
E0, E1, E2, E3, E4, E5, E6, E7 = _E


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float32, as an int32."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _bits_float(typingctx, i):
    """The float32 with these bits."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@inline
def log2f(x):
    """log2 of a positive float32 (0 gives about -127)."""
    i = _float_bits(x)
    e = f32((i >> 23) - 127)
    t = _bits_float((i & 0x7FFFFF) | 0x3F800000) - f32(1.0)
    p = L8 * t + L7
    p = p * t + L6
    p = p * t + L5
    p = p * t + L4
    p = p * t + L3
    p = p * t + L2
    p = p * t + L1
    return e + (p * t + L0)


@inline
def exp2f(y):
    """2^y for float32 y, clamped to the normal range (2^-126 .. 2^127)."""
    y = min(max(y, f32(-126.0)), f32(127.0))
    k = np.floor(y)
    f = y - k
    p = E7 * f + E6
    p = p * f + E5
    p = p * f + E4
    p = p * f + E3
    p = p * f + E2
    p = p * f + E1
    p = p * f + E0
    return p * _bits_float((np.int32(k) + np.int32(127)) << 23)


@inline
def powf(x, e):
    """x^e for x >= 0 (0^e is about 0 for e > 0, and 1 for e = 0)."""
    return exp2f(e * log2f(x))


@inline
def srgb_encode(x):
    """Linear to the sRGB curve; negatives stay on its linear segment, values above 1 on the power."""
    c = f32(0.0031308)
    return f32(1.055) * powf(max(x, c), f32(1 / 2.4)) - f32(0.055) + f32(12.92) * (min(x, c) - c)


@inline
def srgb_decode(x):
    """The sRGB curve to linear; the inverse of ``srgb_encode``."""
    d = f32(0.04045)
    return powf((max(x, d) + f32(0.055)) * f32(1 / 1.055), f32(2.4)) - d / f32(12.92) \
        + min(x, d) * f32(1 / 12.92)
