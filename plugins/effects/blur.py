"""``effect.blur`` and ``effect.glow`` (the glow's CPU combine is ``_glow_kernel``)."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, empty_pixels, empty_planes, opt
from vfx.ops import backend, jit
from vfx.ops.color import luma
from vfx.ops.filters import gaussian_blur_frames
from vfx.ops.resample import downsample_box, upsample_bilinear

from ._common import _channels_last, _col, _linear_rgb


class Blur(vfx.Effect):
    """Gaussian blur of any size, on premultiplied RGBA so soft alpha edges do not darken.

    Give ``sigma`` (the Gaussian's standard deviation in pixels) or ``radius`` (the visible
    extent, ``radius = 3 * sigma``); with neither, sigma is 2. The kernel is cut at 4 sigma, as
    in scipy and scikit-image, and edges are clamped (border pixels repeat). Up to sigma 8 the
    blur is exactly two 1-D convolutions; larger blurs run on a frame box-downsampled by a power
    of two (to a sigma of 4 to 8 there), corrected for the variance the downsampling and the
    bilinear upsampling add, so the cost hardly grows with the radius while the result stays
    close to the true Gaussian (against scikit-image on 0..1 pictures: mean error about 1e-4,
    largest about 1e-3).
    """

    type = "effect.blur"
    animated_batches = True

    class Options(vfx.Effect.Options):
        sigma = opt.Float(
            None, min=0.0, max=1000.0, doc="standard deviation in pixels (default 2 unless radius is given)"
        )
        radius = opt.Float(None, min=0.0, max=3000.0, doc="blur radius in pixels instead of sigma: sigma = radius / 3")

    def configure(self):
        super().configure()
        if self.options.sigma is not None and self.options.radius is not None:
            raise ConfigureError("give sigma or radius, not both (radius = 3 * sigma)", option="radius")

    def sigmas(self, indices):
        if self.options.radius is not None:
            return self.values("radius", indices) / 3.0
        if self.options.sigma is not None:
            return self.values("sigma", indices)
        return np.full(len(indices), 2.0)

    def render(self, indices):
        batch = self.pull(self.input("input"), indices)
        sigmas = self.sigmas(indices)
        if np.all(sigmas <= 1e-3):
            return batch
        return FrameBatch(indices, gaussian_blur_frames(batch.pixels, sigmas))


class Glow(vfx.Effect):
    """Bloom: the bright parts of the picture, blurred at several scales, added back as light.

    The bright pass works on Rec.709 luminance L of the (premultiplied, linear) colour with a
    soft knee: the part of each pixel above ``threshold`` is kept, ``rgb * max(s, L - t) / L``
    with ``s = clamp(L - t + k, 0, 2k)^2 / 4k`` (t threshold, k knee), so the glow eases in
    over ``threshold - knee .. threshold + knee`` instead of switching on. That light is blurred
    at ``octaves`` scales, sigma = ``radius / 3``, then halved for each further octave, averaged,
    tinted by ``color`` and scaled by ``intensity``. ``blend = "add"`` adds it to the input
    (physically, light adds); ``"screen"`` adds ``glow * (1 - min(x, 1))``, which is the screen
    formula 1 - (1 - x)(1 - glow) for x in 0..1 and never pushes a bright pixel much past white.
    Alpha becomes ``g + a * (1 - g)`` with g the glow's brightest channel (clamped to 1, taken at
    the glow's working resolution), so a glow around an element on a transparent plate shows when that plate is composited. When the
    finest octave's sigma is 2 pixels or more, the bright pass and the blurs run at half
    resolution (a glow has no fine detail to lose), which halves the cost.
    """

    type = "effect.glow"
    animated_batches = True

    class Options(vfx.Effect.Options):
        threshold = opt.Float(0.6, min=0.0, max=100.0, doc="linear luminance above which pixels glow")
        knee = opt.Float(0.2, min=0.0, max=10.0, doc="softness of the threshold, in luminance (0: hard cut)")
        radius = opt.Float(60.0, min=0.5, max=3000.0, doc="extent of the widest glow in pixels (3 sigma)")
        octaves = opt.Int(4, min=1, max=8, animate=False, doc="blur scales, each half the size of the previous")
        intensity = opt.Float(1.0, min=0.0, max=100.0, doc="strength of the glow")
        color = opt.Color("white", doc="tint of the glow")
        blend = opt.Choice("add", choices=("add", "screen"), doc="how the glow is combined with the input")

    def render(self, indices):
        import torch

        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        intensity = self.values("intensity", indices)
        if np.all(intensity <= 0):
            return batch
        n, _, h, w = px.shape
        octaves = self.options.octaves
        sigma0 = self.values("radius", indices) / 3.0
        # Glows are soft: when the finest octave is wide enough, the bright pass and every blur run
        # at half resolution (the sigmas corrected for the 2x2 box and the final bilinear upsampling).
        half = bool(np.all(sigma0 / 2 ** (octaves - 1) >= 2.0)) and min(h, w) >= 32
        if half:
            f = 2
            ph, pw = h % 2, w % 2
            src = torch.nn.functional.pad(px, (0, pw, 0, ph), mode="replicate") if ph or pw else px
            src = downsample_box(src, 2)
        else:
            f, src = 1, px[:, :3]
        kernels = f > 1 and backend.allows("numba", px)
        if kernels:
            from . import _glow_kernel as glow_kernel

            threshold, knee = self.values("threshold", indices), self.values("knee", indices)
            bright = empty_planes((n, src.shape[2], src.shape[3], 3))
            for i in range(n):
                glow_kernel.bright_pass(
                    jit.rgba(src[i]), bright[i].numpy().reshape(-1), np.float32(threshold[i]), np.float32(knee[i])
                )
            bright = bright.permute(0, 3, 1, 2)
        else:
            src = src[:, :3]
            t = _col(self.values("threshold", indices), px)
            k = _col(self.values("knee", indices), px)
            lum = luma(src)
            soft = torch.minimum((lum - t + k).clamp_min(0.0), 2 * k)
            soft = soft * soft / (4 * k + 1e-6)
            weight = torch.maximum(soft, lum - t).clamp_min(0.0) / lum.clamp_min(1e-6)
            bright = _channels_last(src * weight)
        glow = None
        for o in range(octaves):
            sigma = sigma0 / 2**o
            if f > 1:
                sigma = np.sqrt(np.maximum(sigma**2 - 0.25 - 4 / 6, 0.25)) / f
            part = gaussian_blur_frames(bright, sigma, max_direct=3.0)
            glow = part if glow is None else glow.add_(part)
        color = self.values("color", indices)
        tint = _linear_rgb(color) * color[:, 3:4] * (intensity / octaves)[:, None]
        opaque = not self.input("input").video.has_alpha
        if kernels:
            out = empty_pixels(n, h, w)
            screen = self.options.blend == "screen"
            for i in range(n):
                glow_kernel.combine(
                    jit.rgba(px[i]),
                    glow[i].permute(1, 2, 0).contiguous().numpy(),
                    jit.rgba(out[i], out=True),
                    h,
                    w,
                    tint[i].astype(np.float32),
                    opaque,
                    screen,
                )
            return FrameBatch(indices, out)
        glow.mul_(_col(tint, px))
        # The glow's coverage g (its brightest channel) travels with it as a fourth channel, so the
        # upsampling and the final sum each take one pass over four interleaved channels.
        coverage = torch.zeros_like(glow[:, :1]) if opaque else glow.amax(dim=1, keepdim=True).clamp_(0.0, 1.0)
        glow = _channels_last(torch.cat([glow, coverage], dim=1))
        if f > 1:
            glow = upsample_bilinear(glow, 2)[:, :, :h, :w]
        if not opaque:
            glow[:, 3:4].mul_(1.0 - px[:, 3:4])  # alpha: a + g (1 - a) = g + a (1 - g)
        if self.options.blend == "screen":
            glow[:, :3].mul_(1.0 - px[:, :3].clamp(0.0, 1.0))
        out = torch.empty_like(px, memory_format=torch.channels_last)
        return FrameBatch(indices, torch.add(px, glow, out=out))
