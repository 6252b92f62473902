"""float32 math for Numba kernels (``vfx.ops.jit``) that vectorizes: powers, exp2, log2, sRGB curves.

A call to libm's ``pow`` stops LLVM from vectorizing a loop, so ``powf``, ``exp2f`` and
``log2f`` are polynomials on the float's bits (Chebyshev fits made at import). ``powf``'s
relative error is below 2.5e-7 + 1e-7 (|e log2 x| + |e|): about 1e-6 for the sRGB curves.
Importing this module imports Numba.

Numba's disk cache checks only a kernel's own source file: after changing this module, delete
the ``*.nbi``/``*.nbc`` files in the kernels' ``__pycache__`` (or touch the kernel modules).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from . import inline

f32 = np.float32


def _fit(fn, lo: float, hi: float, degree: int) -> list:
    """Power-series coefficients (lowest first) of a Chebyshev fit of ``fn`` on [lo, hi]."""
    x = np.linspace(lo, hi, 4001)
    fit = np.polynomial.chebyshev.Chebyshev.fit(x, fn(x), degree, domain=[lo, hi])
    return [f32(c) for c in fit.convert(kind=np.polynomial.Polynomial).coef]


# log2(1 + t) for t in [0, 1), and 2^f for f in [0, 1); highest power first, for ``_horner``
_LOG2 = tuple(reversed(_fit(lambda t: np.log2(1.0 + t), 0.0, 1.0, 8)))
_EXP2 = tuple(reversed(_fit(np.exp2, 0.0, 1.0, 7)))


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
def _horner(x, coefficients):
    """The polynomial with these coefficients (highest power first) at x."""
    p = coefficients[0]
    for k in range(1, len(coefficients)):
        p = p * x + coefficients[k]
    return p


@inline
def log2f(x):
    """log2 of a positive float32 (0 gives about -127)."""
    i = _float_bits(x)
    e = f32((i >> 23) - 127)
    t = _bits_float((i & 0x7FFFFF) | 0x3F800000) - f32(1.0)
    return e + _horner(t, _LOG2)


@inline
def exp2f(y):
    """2^y for float32 y, clamped to the normal range (2^-126 .. 2^127)."""
    y = min(max(y, f32(-126.0)), f32(127.0))
    k = np.floor(y)
    f = y - k
    return _horner(f, _EXP2) * _bits_float((np.int32(k) + np.int32(127)) << 23)


@inline
def powf(x, e):
    """x^e for finite x >= 0 and e >= 0 (0^0 is 1, as in torch)."""
    p = exp2f(e * log2f(x))
    return p if x > f32(0.0) else (f32(1.0) if e == f32(0.0) else f32(0.0))


@inline
def srgb_encode(x):
    """Linear to the sRGB curve; negatives stay on its linear segment, values above 1 on the power."""
    c = f32(0.0031308)
    return f32(1.055) * powf(max(x, c), f32(1 / 2.4)) - f32(0.055) + f32(12.92) * (min(x, c) - c)


@inline
def srgb_decode(x):
    """The sRGB curve to linear; the inverse of ``srgb_encode``."""
    d = f32(0.04045)
    return powf((max(x, d) + f32(0.055)) * f32(1 / 1.055), f32(2.4)) - d / f32(12.92) + min(x, d) * f32(1 / 12.92)


@inline
def luma(r, g, b):
    """Rec.709 luma of linear RGB."""
    return f32(0.2126) * r + f32(0.7152) * g + f32(0.0722) * b


@inline
def unpremultiply(alpha):
    """The factor that turns premultiplied colour straight: 1 / alpha, 0 where alpha is (nearly) 0."""
    return f32(1.0) / max(alpha, f32(1e-6)) if alpha > f32(1e-6) else f32(0.0)


@inline
def expf(x):
    """e^x for float32 x (``exp2f`` of x log2 e: results below 2^-126 come out as 2^-126)."""
    return exp2f(x * f32(1.4426950408889634))


@inline
def smoothstep(e0, e1, x):
    """``vfx.ops.curves.smoothstep`` for float32 numbers: 0 at ``e0``, 1 at ``e1``, the cubic between."""
    u = min(max((x - e0) / (e1 - e0), f32(0.0)), f32(1.0))
    return u * u * (f32(3.0) - f32(2.0) * u)
