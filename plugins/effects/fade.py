"""``effect.fade``."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, opt
from vfx.ops.curves import smooth

from vfx.ops.composite import mix

from ._common import _channels_last, _linear_rgb


class Fade(vfx.Effect):
    """Fades from a colour (black by default) at the start and to it at the end, or to transparent.

    ``in`` frames at the start: frame 0 is fully ``color``, frame ``in`` and later fully the
    input, in between a linear mix (``curve = "smooth"`` eases it with a smoothstep). ``out``
    mirrors this at the end using the input's length: the last frame is fully the colour and
    ``out`` frames before it fully the input. The mix is in linear light on premultiplied
    pixels, so ``color = "transparent"`` fades the picture's alpha out too.
    """

    type = "effect.fade"
    animated_batches = True

    class Options(vfx.Effect.Options):
        vars()["in"] = opt.Time(0, doc="fade-in length at the start (0: none)")
        out = opt.Time(0, doc="fade-out length at the end (0: none)")
        color = opt.Color("black", doc='the colour faded from and to ("transparent" fades alpha)')
        curve = opt.Choice("linear", choices=("linear", "smooth"), doc="linear mix or smoothstep")

    def configure(self):
        super().configure()
        count = self.video.frame_count
        for name in ("in", "out"):
            length = getattr(self.options, name)
            if length >= count:
                raise ConfigureError(f"a {length}-frame fade does not fit the input's {count} frames", option=name)
        color = self.options.color
        translucent = isinstance(color, vfx.Animated) or color[3] < 1.0
        self.video = self.video.with_(has_alpha=self.video.has_alpha or translucent)

    def weights(self, indices) -> np.ndarray:
        """How much of the input shows at each frame (0: only the colour, 1: only the input)."""
        f = np.asarray(indices, np.float64)
        last = self.video.frame_count - 1
        fade_in, fade_out = getattr(self.options, "in"), self.options.out
        v = np.ones_like(f)
        if fade_in > 0:
            v = np.minimum(v, f / fade_in)
        if fade_out > 0:
            v = np.minimum(v, (last - f) / fade_out)
        v = np.clip(v, 0.0, 1.0)
        return smooth(v) if self.options.curve == "smooth" else v

    def render(self, indices):
        import torch

        v = self.weights(indices)
        if np.all(v >= 1.0):
            return self.pull(self.input("input"), indices)
        px = _channels_last(self.pull_writable(self.input("input"), indices))  # mixed in place
        color = self.values("color", indices)
        target = np.concatenate([_linear_rgb(color) * color[:, 3:4], color[:, 3:4]], axis=1)
        colour = torch.as_tensor(target, dtype=torch.float32, device=px.device)
        for k in np.flatnonzero(v < 1.0):
            mix(colour[k].view(4, 1, 1).expand_as(px[k]), px[k], float(v[k]), out=px[k])
        return FrameBatch(indices, px, owned=True)
