"""``effect.vignette``."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import FrameBatch, opt
from vfx.ops.curves import smooth

from ._common import _channels_last, _col, _linear_rgb


class Vignette(vfx.Effect):
    """Darkens (or tints) the picture towards its edges.

    The distance from ``center`` is measured in an ellipse that ``roundness`` blends between the
    frame's shape (0: distance 1 at the middle of each edge) and a circle (1), scaled so that
    the corners of the frame are always at distance sqrt(2) = 1.41 from a centred vignette. The
    vignette starts at distance ``radius`` and reaches full strength ``softness`` further out
    (a smoothstep); there each pixel's colour moves ``amount`` of the way to ``color`` (its
    alpha scales the amount; alpha of the picture is kept, so a tinted vignette stays within
    the picture's coverage).
    """

    type = "effect.vignette"
    animated_batches = True

    class Options(vfx.Effect.Options):
        amount = opt.Float(0.5, min=0.0, max=1.0, doc="strength at the edges: 0 none, 1 fully the colour")
        radius = opt.Float(0.6, min=0.0, max=3.0, doc="distance from the centre where it starts (corners: 1.41)")
        softness = opt.Float(0.8, min=0.0, max=4.0, doc="distance over which it fades in (0: hard edge)")
        roundness = opt.Float(1.0, min=0.0, max=1.0, doc="0 follows the frame's aspect, 1 is a circle")
        center = opt.Vec([0.5, 0.5], doc="[x, y] of the centre, 0..1 of the frame's width and height")
        color = opt.Color("black", doc="the colour at the edges (black darkens)")

    def render(self, indices):
        import torch

        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        amount = self.values("amount", indices)
        color = self.values("color", indices)
        strength = amount * color[:, 3]
        if np.all(strength <= 0):
            return batch
        n, _, h, w = px.shape
        round_ = self.values("roundness", indices)
        diag = math.hypot(w, h) / (2 * math.sqrt(2))
        sx = (w / 2) * (1 - round_) + diag * round_
        sy = (h / 2) * (1 - round_) + diag * round_
        center = self.values("center", indices)
        xs = torch.arange(w, device=px.device, dtype=torch.float32) + 0.5
        ys = torch.arange(h, device=px.device, dtype=torch.float32) + 0.5
        dx = (xs.view(1, 1, 1, w) - _col(center[:, 0] * w, px)) / _col(sx, px)
        dy = (ys.view(1, 1, h, 1) - _col(center[:, 1] * h, px)) / _col(sy, px)
        r = torch.sqrt(dx * dx + dy * dy)
        r0 = _col(self.values("radius", indices), px)
        soft = _col(np.maximum(self.values("softness", indices), 1e-4), px)
        f = smooth((r - r0) / soft) * _col(strength, px)  # (N, 1, H, W)
        out = px * (1.0 - f)  # all four channels: fast and dense
        rgb = _linear_rgb(color)
        if np.any(rgb > 0):  # towards a colour: add it, within alpha
            out[:, :3] += (f * px[:, 3:4]) * _col(rgb, px)
        out[:, 3:4] = px[:, 3:4]
        return FrameBatch(indices, _channels_last(out))
