"""``effect.grain``: film grain (its CPU per-pixel work is ``_grain_kernel``)."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import FrameBatch, empty_pixels, opt, row_strips
from vfx.ops import backend, jit, resample
from vfx.ops.color import luma, unpremultiply

from ._common import _assemble, _col


class Grain(vfx.Effect):
    """Film grain: Gaussian noise of a given size, monochrome or per channel, seeded per frame.

    The grain is added to the colour in a square-root encoding (close to how the eye sees
    brightness, like sRGB): ``e = sqrt(x)``, ``e' = e + amount * w * noise``, ``out = e'^2``. It
    is weaker in the deep shadows and the highlights: ``w = 1 - response + response * 4 L (1 - L)``
    with L the square-root-encoded luma (clamped to 0..1), so with ``response = 1`` pure black
    and pure white get none and mid-grey the most. ``size`` is the grain's scale in pixels
    (noise drawn at 1/size of the resolution and upsampled bicubically, renormalised to unit
    deviation per frame). ``color`` mixes monochrome grain (0) with independent grain per channel (1).
    The noise of frame i comes from that frame's own generator, so a frame renders the same
    alone or in any batch, and differs between frames and seeds.
    """

    type = "effect.grain"
    animated_batches = True

    class Options(vfx.Effect.Options):
        amount = opt.Float(
            0.04, min=0.0, max=1.0, doc="grain strength: standard deviation in square-root-encoded units"
        )
        size = opt.Float(1.5, min=1.0, max=32.0, doc="grain size in pixels")
        color = opt.Float(0.0, min=0.0, max=1.0, doc="0 monochrome grain, 1 independent grain per channel")
        response = opt.Float(
            0.7, min=0.0, max=1.0, doc="how much less grain in shadows and highlights (0: the same everywhere)"
        )

    def _noise(self, frame: int, channels: int, stream: str, size: float, h: int, w: int):
        """Gaussian noise (1, channels, h, w) for one frame, of grain size ``size`` pixels, and the
        factor that brings it to unit deviation (applied by the caller, with the grain's strength)."""
        import torch

        g = self.ctx.generator(frame, stream)
        if size <= 1.0:
            return torch.randn((1, channels, h, w), generator=g).to(self.device), 1.0
        hs, ws = max(2, round(h / size)), max(2, round(w / size))
        small = torch.randn((1, channels, hs, ws), generator=g)
        big = resample.resize(small.to(self.device), w, h, "bicubic", clamp=False)
        return big, 1.0 / max(float(big.std()), 1e-6)

    def render(self, indices):
        import torch

        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        amount = self.values("amount", indices)
        if np.all(amount <= 0):
            return batch
        n, _, h, w = px.shape
        size, color = self.values("size", indices), self.values("color", indices)
        channels = 3 if np.any(color > 0) else 1
        noise = torch.empty((n, channels, h, w), device=px.device)
        scale = np.ones(n)  # unit deviation, folded into the grain's weight
        for k, i in enumerate(indices):
            c = float(color[k])
            if c <= 0.0:
                noise[k], scale[k] = self._noise(i, 1, "grain", float(size[k]), h, w)
            elif c >= 1.0:
                noise[k], scale[k] = self._noise(i, 3, "grain-color", float(size[k]), h, w)
            else:
                mono, f = self._noise(i, 1, "grain", float(size[k]), h, w)
                chroma, g = self._noise(i, 3, "grain-color", float(size[k]), h, w)
                noise[k] = chroma[0].mul_(g * math.sqrt(c)).add_(mono[0], alpha=f * math.sqrt(1.0 - c))
        has_alpha = self.input("input").video.has_alpha
        out = empty_pixels(n, h, w, px.device)
        if backend.allows("numba", px):
            from ._grain_kernel import add_grain

            response = self.values("response", indices)
            for k in range(n):
                add_grain(
                    jit.rgba(px[k]),
                    noise[k].view(channels, h * w).numpy(),
                    jit.rgba(out[k], out=True),
                    np.float32(amount[k] * scale[k]),
                    np.float32(response[k]),
                    has_alpha,
                )
            return FrameBatch(indices, out)
        resp = _col(self.values("response", indices), px)
        amount = _col(amount * scale, px)
        for y0, y1 in row_strips(px):
            rgb, alpha = unpremultiply(px[:, :, y0:y1].contiguous(), has_alpha)
            lum = luma(rgb).clamp_(0.0, 1.0).sqrt_()
            weight = lum.mul_(1.0 - lum).mul_(4.0 * resp).add_(1.0 - resp).mul_(amount)
            e = rgb.clamp_min(0.0).sqrt_().add_(noise[:, :, y0:y1].mul_(weight)).clamp_min_(0.0)
            _assemble(e.mul_(e), alpha, premultiply=has_alpha, out=out[:, :, y0:y1])
        return FrameBatch(indices, out)
