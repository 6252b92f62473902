"""Procedural backdrops: sky, layered mountains, starfield, nebula and a plain noise generator.

Every node here is a source drawn on the pipeline's device from ``vfx.ops.noise``, at any size, opaque,
animated over time and deterministic: the noise seed comes from the pipeline seed and the node id,
and time ``t = frame / fps`` enters the noise directly (as a drift offset or as the third noise
coordinate), so any frame renders alone exactly as it does inside a whole render.

Lengths are measured in frame heights (a scene looks the same at 960x540 and 1920x1080) and
positions are normalized ``[x, y]`` in 0..1 of the frame (``[0, 0]`` top left). Colours are sRGB
options; the pictures are made in linear light. Smooth fields (clouds, nebula gas, mist) are
evaluated on a coarser grid and upsampled; edges (sun disc, ridgelines, stars) are drawn at full
resolution.
"""

from __future__ import annotations

import vfx

from .noise import Noise
from .sky import Mountains, Sky
from .stars import Nebula, Starfield


@vfx.hookimpl
def register_nodes(register):
    """Register the backdrop node types."""
    for cls in (Sky, Mountains, Starfield, Nebula, Noise):
        register(cls)
