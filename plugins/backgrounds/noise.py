"""``source.noise``: a noise pattern as a picture."""

from __future__ import annotations

import numpy as np

from vfx import opt
from vfx.ops.color import srgb_decode

from ._common import _Backdrop, _grid, _seed, _torch


class Noise(_Backdrop):
    """A noise pattern as a picture: Perlin, simplex, Worley (cellular), fBm or turbulence.

    The noise value ``v`` (0..1 after mapping: ``0.5 + 0.5 n`` for signed noise, as is for Worley and
    turbulence) is stretched by ``contrast`` about 0.5 and maps ``color_a`` (0) to ``color_b`` (1),
    blended in sRGB so that 0.5 reads as mid-grey. ``speed`` evolves it over time through the
    noise's third coordinate; ``offset`` pans it.
    """

    type = "background.noise"

    class Options(_Backdrop.Options):
        basis = opt.Choice(
            "fbm", choices=("perlin", "simplex", "worley", "fbm", "turbulence", "ridged"), doc="the noise"
        )
        fractal_basis = opt.Choice(
            "perlin", choices=("perlin", "simplex", "worley"), doc="the noise fbm/turbulence/ridged sum up"
        )
        scale = opt.Float(4.0, min=0.01, max=1000.0, doc="features per frame height")
        octaves = opt.Int(5, min=1, max=12, animate=False, doc="octaves of fbm/turbulence/ridged")
        lacunarity = opt.Float(2.0, min=1.01, max=4.0, animate=False, doc="frequency step between octaves")
        gain = opt.Float(0.5, min=0.05, max=1.0, animate=False, doc="amplitude step between octaves")
        speed = opt.Float(0.25, min=0.0, max=100.0, doc="evolution in noise units per second (0: still)")
        offset = opt.Vec([0.0, 0.0], doc="pan [x, y] in frame heights")
        contrast = opt.Float(1.0, min=0.0, max=20.0, doc="stretch about the middle (1: as is)")
        color_a = opt.Color("black", doc="colour at 0")
        color_b = opt.Color("white", doc="colour at 1")

    def draw(self, t, p):
        torch = _torch()
        from vfx.ops import noise

        dev = self.device
        h, w = self.video.height, self.video.width
        X, Y = _grid(h, w, h, w, dev)
        s = float(p["scale"])
        x = (X + float(p["offset"][0])) * s
        y = (Y + float(p["offset"][1])) * s
        speed = float(p["speed"])
        z = speed * t if speed > 0 else None
        seed = _seed(self, "noise")
        o = self.options
        if o.basis in ("perlin", "simplex"):
            v = 0.5 + 0.5 * getattr(noise, o.basis)(x, y, z, seed=seed)
        elif o.basis == "worley":
            v = noise.worley(x, y, z, seed=seed)
        else:
            kw = dict(
                octaves=o.octaves, lacunarity=float(o.lacunarity), gain=float(o.gain), seed=seed, basis=o.fractal_basis
            )
            if o.basis == "fbm":
                v = 0.5 + 0.5 * noise.fbm(x, y, z, **kw)
            elif o.basis == "turbulence":
                v = noise.turbulence(x, y, z, **kw)
            else:
                v = noise.ridged(x, y, z, **kw)
        v = (0.5 + (v - 0.5) * float(p["contrast"])).clamp(0.0, 1.0)
        a = torch.tensor(np.asarray(p["color_a"][:3], np.float32), device=dev).view(3, 1, 1)
        b = torch.tensor(np.asarray(p["color_b"][:3], np.float32), device=dev).view(3, 1, 1)
        srgb = a + (b - a) * v[None]
        return srgb_decode(srgb)
