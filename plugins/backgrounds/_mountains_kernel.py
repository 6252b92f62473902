"""The mountains' CPU kernel: one range laid over the picture behind it in one pass (Numba).

Per pixel below the range's top row: the face's colour towards the haze by the layer's
atmospheric perspective and its drifting mist, then over the picture by the crest's
antialiased coverage. Formulas and order are the torch path's (``sky.Mountains.draw``); the
test suite checks that both give the same frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit import ParamBlock, kernel
from vfx.ops.jit.fastmath import expf, f32

#: one layer's values: the y of its foot (frame heights), its haze amount, the mist's strength,
#: the mist's height above the foot, the haze colour (linear RGB)
PARAMS = ParamBlock(("base", 1), ("fog", 1), ("mist", 1), ("foot", 1), ("haze_color", 3))
P = PARAMS.at


@kernel
def layer_over(img, face, crest, mist_field, top, params):
    """Lay a range over ``img`` (3, H, W) float32 from row ``top`` down: ``face`` (3, H - top, W)
    its colour, ``crest`` (W,) the crest's y in frame heights, ``mist_field`` (H, W) the mist."""
    h, w = img.shape[1], img.shape[2]
    fh = f32(h)
    base, fog, mist, foot_height = params[P.base], params[P.fog], params[P.mist], params[P.foot]
    fog_total = np.empty(w, np.float32)
    cover = np.empty(w, np.float32)
    for y in range(top, h):
        yy = (f32(y) + f32(0.5)) / fh
        above = base - yy
        foot = expf(-above / foot_height) if above > f32(0.0) else expf(above / f32(0.04))
        near = mist * foot
        for x in range(w):
            m = min(max(near * mist_field[y, x], f32(0.0)), f32(1.0))
            fog_total[x] = f32(1.0) - (f32(1.0) - fog) * (f32(1.0) - m)
            cover[x] = min(max((yy - crest[x]) * fh + f32(0.5), f32(0.0)), f32(1.0))
        for c in range(3):
            haze = params[P.haze_color + c]
            src = face[c, y - top]
            dst = img[c, y]
            for x in range(w):
                col = src[x] + (haze - src[x]) * fog_total[x]
                dst[x] = dst[x] + (col - dst[x]) * cover[x]
