"""The ``example.posterize`` effect: each colour channel reduced to a few levels.

This module is the plugin: the entry point ``example = "vfx_example.posterize"`` (group ``vfx``)
points here, and vfx calls the hooks below when it builds its registry or its command line.
"""

from __future__ import annotations

import click

import vfx
from vfx import FrameBatch, opt
from vfx.ops.color import premultiply, srgb_decode, srgb_encode, unpremultiply


class Posterize(vfx.Effect):
    """Reduces each colour channel to ``levels`` evenly spaced values (a poster or screen-print look).

    The steps are even in sRGB (``space = "srgb"``, as an image editor does it) or in linear light.
    Colours are quantised unpremultiplied, so soft alpha edges keep their colour; alpha itself is
    untouched. Values outside 0..1 are clamped first. ``dither`` adds noise before rounding to
    break up banding; the noise is seeded per frame from the pipeline seed, so any frame range
    renders the same pixels. Audio passes through unchanged.
    """

    type = "example.posterize"

    # Extending vfx.Effect.Options keeps the two options every effect has: ``input`` (redeclared
    # here only for its description) and ``mask``, with which the engine limits the effect.
    class Options(vfx.Effect.Options):
        input = opt.Input(doc="the clip to posterize")
        levels = opt.Int(4, min=2, max=256, doc="values per colour channel")
        mix = opt.Float(1.0, min=0.0, max=1.0, doc="0 leaves the input as it is, 1 is fully posterized")
        space = opt.Choice("srgb", choices=("srgb", "linear"), doc="where the steps are even")
        dither = opt.Float(0.0, min=0.0, max=1.0, doc="noise added before rounding, in steps (0: none)")

    # configure() and render_audio() come from vfx.Effect: the output has the input's size, rate,
    # length and alpha, and the input's audio passes through.

    def render(self, indices):
        import torch

        batch = self.pull(self.input("input"), indices)
        o = self.options
        if o.mix == 0.0:
            return batch  # nothing to do; the input batch is not modified
        pixels = batch.pixels  # (N, 4, H, W) float32, premultiplied, linear light
        # Unpremultiply into a new tensor (never write into ``pixels``: other nodes may share it).
        rgb, alpha = unpremultiply(pixels)
        straight = rgb.clamp(0.0, 1.0)
        x = srgb_encode(straight) if o.space == "srgb" else straight
        steps = o.levels - 1
        scaled = x * steps + 0.5
        if o.dither > 0:
            scaled = scaled + o.dither * (self._noise(indices, pixels) - 0.5)
        q = torch.floor(scaled).clamp(0, steps) / steps
        q = srgb_decode(q) if o.space == "srgb" else q
        if o.mix < 1.0:
            q = torch.lerp(straight, q, o.mix)
        out = premultiply(q, alpha)
        # Batches are stored channels-last, which is what encoders convert from without a copy.
        return FrameBatch(indices, out.contiguous(memory_format=torch.channels_last))

    def _noise(self, indices, pixels):
        """Uniform noise per frame from ``ctx.generator(frame)``: the same in any chunk or batch."""
        import torch

        _, _, h, w = pixels.shape
        frames = [torch.rand((3, h, w), generator=self.ctx.generator(i, "dither")) for i in indices]
        return torch.stack(frames).to(pixels.device)


def level_values(levels: int, space: str = "srgb") -> list[int]:
    """The 8-bit values a channel of an sRGB output takes after posterizing to ``levels``."""
    import torch

    steps = torch.arange(levels, dtype=torch.float64) / (levels - 1)
    encoded = steps if space == "srgb" else srgb_encode(steps)
    return [round(v * 255) for v in encoded.tolist()]


@vfx.hookimpl
def register_nodes(register):
    register(Posterize)


@vfx.hookimpl
def register_commands(cli):
    @cli.command("posterize-levels")
    @click.argument("levels", type=click.IntRange(2, 256))
    @click.option(
        "--space",
        type=click.Choice(["srgb", "linear"]),
        default="srgb",
        show_default=True,
        help="where the steps are even",
    )
    def posterize_levels(levels, space):
        """Print the 8-bit values example.posterize leaves in an sRGB output."""
        click.echo(" ".join(str(v) for v in level_values(levels, space)))
