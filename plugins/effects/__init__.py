"""Built-in effects: grade, blur, glow, vignette, grain, fade, keying, explosion, lightning and
the geometric warps (transform, shake).

Every effect here works on whole batches of premultiplied linear RGBA frames on the pipeline's
device and reads its options per batch with ``self.values``, so keyframes, expressions and
drivers on any numeric or colour option cost nothing extra. Their pixel operations (Gaussian
blur, sRGB curves, resampling, LUTs) are the shared ones in ``vfx.ops``. On a CPU, grade, grain,
a half-resolution glow and the chroma keyer hand their per-pixel work to Numba kernels
(``_grade_kernel``, ``_grain_kernel``, ``_glow_kernel``, ``_keying_kernel``, each beside the node it
serves); the torch code is what GPUs run, and tests check that both agree.
"""

from __future__ import annotations

import vfx

from .blur import Blur, Glow
from .explosion import Explosion
from .fade import Fade
from .geometry import Shake, Transform
from .grade import Grade
from .grain import Grain
from .keying import ChromaKey, LumaKey
from .lightning import Lightning
from .ocio import OcioEffect
from .vignette import Vignette


@vfx.hookimpl
def register_nodes(register):
    """Register the effect node types."""
    for cls in (Grade, Blur, Glow, Vignette, Grain, Fade, Explosion, Transform, Shake, ChromaKey, LumaKey, Lightning):
        register(cls)
    register(OcioEffect)
