"""Numba intrinsics that write LLVM vector code the loop vectorizer cannot find by itself.

A 3-D LUT lookup reads its cube at data-dependent places, so a loop over pixels does not
vectorize (and a processor without AVX2 has no gather instruction anyway). The work inside one
lookup does: with RGB padded to four floats, two neighbouring grid points along red are eight
consecutive floats, one AVX load. ``trilinear_rgb`` interpolates with four such loads and six
8-wide operations where the scalar code needs 24 loads and 42 operations.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from . import FASTMATH

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_FLAGS = tuple(sorted(FASTMATH))


@intrinsic
def trilinear_rgb(typingctx, table, k, row, slab, fr, fg, fb):
    """Trilinear interpolation in a cube laid out as flat float32 ``(B, G, R, 4)`` (RGB and a pad).

    ``k`` is the flat index of the cell's lower corner, ``row`` and ``slab`` the flat steps in
    green and blue (``4 * size`` and ``4 * size * size``), ``fr, fg, fb`` the fractions in the
    cell (0..1). The cell must not be the last along any axis: the far corners are read. Returns
    the interpolated (r, g, b) as float32.
    """
    sig = types.UniTuple(types.float32, 3)(table, k, row, slab, fr, fg, fb)

    def codegen(context, builder, signature, args):
        data, k, row, slab, fr, fg, fb = args
        base = context.make_array(signature.args[0])(context, builder, data).data
        wide = ir.VectorType(_F32, 8)

        def splat(x, lanes):
            one = builder.insert_element(ir.Constant(ir.VectorType(_F32, lanes), ir.Undefined), x, ir.Constant(_I32, 0))
            return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes))

        def pair(index):  # the grid point at ``index`` and its neighbour along red: 2 x RGBx
            pointer = builder.bitcast(builder.gep(base, [index]), wide.as_pointer())
            return builder.load(pointer, align=4)

        def lerp(a, b, t):
            return builder.fadd(a, builder.fmul(t, builder.fsub(b, a, flags=_FLAGS), flags=_FLAGS), flags=_FLAGS)

        def half(v, lanes):
            return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, 4), lanes))

        fg8, fb8 = splat(fg, 8), splat(fb, 8)
        k_g, k_b = builder.add(k, row), builder.add(k, slab)
        near = lerp(pair(k), pair(k_g), fg8)  # blue's lower slice, in green
        far = lerp(pair(k_b), pair(builder.add(k_b, row)), fg8)  # its upper slice
        both = lerp(near, far, fb8)  # [lower red | upper red]
        rgbx = lerp(half(both, [0, 1, 2, 3]), half(both, [4, 5, 6, 7]), splat(fr, 4))
        lanes = [builder.extract_element(rgbx, ir.Constant(_I32, c)) for c in range(3)]
        return context.make_tuple(builder, signature.return_type, lanes)

    return sig, codegen
