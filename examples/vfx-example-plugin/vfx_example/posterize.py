"""The ``example.posterize`` effect: each colour channel reduced to a few levels.

This module is the plugin: the entry point ``example = "vfx_example.posterize"`` (group ``vfx``)
points here, and vfx calls the ``register_nodes`` hook below when it builds its registry.
"""
from __future__ import annotations

import vfx
from vfx import FrameBatch, opt


def _srgb_encode(x):
    """Linear light (0..1) to the sRGB curve, on whatever device ``x`` lives."""
    import torch
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308).pow(1 / 2.4) - 0.055)


def _srgb_decode(s):
    """The sRGB curve back to linear light."""
    import torch
    return torch.where(s <= 0.04045, s / 12.92, ((s.clamp_min(0.04045) + 0.055) / 1.055).pow(2.4))


class Posterize(vfx.Effect):
    """Reduces each colour channel to ``levels`` evenly spaced values (a poster or screen-print look).

    The steps are even in sRGB (``space = "srgb"``, as an image editor does it) or in linear light.
    Colours are quantised unpremultiplied, so soft alpha edges keep their colour; alpha itself is
    untouched. Values outside 0..1 are clamped first. ``dither`` adds noise before rounding to
    break up banding; the noise is seeded per frame from the pipeline seed, so any frame range
    renders the same pixels. Audio passes through unchanged.
    """

    type = "example.posterize"

    class Options(vfx.Options):
        input = opt.Input(doc="the clip to posterize")
        levels = opt.Int(4, min=2, max=256, doc="values per colour channel")
        mix = opt.Float(1.0, min=0.0, max=1.0, doc="0 leaves the input as it is, 1 is fully posterized")
        space = opt.Choice("srgb", choices=("srgb", "linear"), doc="where the steps are even")
        dither = opt.Float(0.0, min=0.0, max=1.0, doc="noise added before rounding, in steps (0: none)")

    # --- graph time: no pixels yet ------------------------------------------------------------
    def configure(self):
        src = self.input("input")
        # Frame for frame: same size, rate, length and alpha as the input; its audio passes through.
        self.video = src.video
        self.audio = src.audio

    # --- render time --------------------------------------------------------------------------
    def render(self, indices):
        import torch
        batch = self.pull(self.input("input"), indices)
        o = self.options
        if o.mix == 0.0:
            return batch                      # nothing to do; the input batch is not modified
        pixels = batch.pixels                 # (N, 4, H, W) float32, premultiplied, linear light
        alpha = pixels[:, 3:4]
        # Unpremultiply into a new tensor (never write into ``pixels``: other nodes may share it).
        straight = torch.where(alpha > 1e-6, pixels[:, :3] / alpha.clamp_min(1e-6),
                               0.0).clamp(0.0, 1.0)
        x = _srgb_encode(straight) if o.space == "srgb" else straight
        steps = o.levels - 1
        scaled = x * steps + 0.5
        if o.dither > 0:
            scaled = scaled + o.dither * (self._noise(indices, pixels) - 0.5)
        q = torch.floor(scaled).clamp(0, steps) / steps
        q = _srgb_decode(q) if o.space == "srgb" else q
        if o.mix < 1.0:
            q = torch.lerp(straight, q, o.mix)
        out = torch.cat([q * alpha, alpha], dim=1)
        # Batches are stored channels-last, which is what encoders convert from without a copy.
        return FrameBatch(indices, out.contiguous(memory_format=torch.channels_last))

    def _noise(self, indices, pixels):
        """Uniform noise per frame from ``ctx.generator(frame)``: the same in any chunk or batch."""
        import torch
        _, _, h, w = pixels.shape
        frames = [torch.rand((3, h, w), generator=self.ctx.generator(i, "dither")) for i in indices]
        return torch.stack(frames).to(pixels.device)

    def render_audio(self, start, count):
        return self.input("input").audio_samples(start, count)


@vfx.hookimpl
def register_nodes(register):
    register(Posterize)
