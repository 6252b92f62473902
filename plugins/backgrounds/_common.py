"""Helpers shared by the procedural backdrops, and their base class ``_Backdrop``."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import FrameBatch, StreamInfo, opt

# ------------------------------------------------------------------------------------ helpers


def _torch():
    import torch

    return torch


def _lin(rgb_row, device):
    """An sRGB option row (r, g, b[, a]) as a linear (3, 1, 1) tensor."""
    from vfx.ops.color import srgb_to_linear

    torch = _torch()
    return torch.tensor(srgb_to_linear(np.asarray(rgb_row[:3], np.float64)), dtype=torch.float32, device=device).view(
        3, 1, 1
    )


def _grid(h, w, frame_h, frame_w, device):
    """Sample positions of an ``h`` x ``w`` grid covering a frame_w x frame_h frame, in frame heights.

    The grid's samples sit where ``interpolate(..., align_corners=False)`` expects them, so a coarse
    grid upsampled lines up with the full-resolution one.
    """
    torch = _torch()
    sx, sy = frame_w / w, frame_h / h
    X = ((torch.arange(w, device=device, dtype=torch.float32) + 0.5) * (sx / frame_h)).view(1, w).expand(h, w)
    Y = ((torch.arange(h, device=device, dtype=torch.float32) + 0.5) * (sy / frame_h)).view(h, 1).expand(h, w)
    return X, Y


def _coarse_size(h, w, max_h):
    if h <= max_h:
        return h, w
    return max_h, max(1, round(w * max_h / h))


def _upsample(t, h, w):
    """(C, hc, wc) to (C, h, w), bilinear (``vfx.ops.resample.resize``)."""
    from vfx.ops import resample

    return resample.resize(t[None], w, h, "bilinear", clamp=False)[0]


def _seed(node, stream: str) -> int:
    return node.ctx.seed_for(0, stream)


class _Backdrop(vfx.Source):
    """Shared plumbing: size/duration options, per-frame drawing into an opaque channels-last batch."""

    animated_batches = True

    class Options(vfx.Options):
        size = opt.Vec(
            None, integer=True, min=1, animate=False, doc="[width, height] in pixels (default: the pipeline size)"
        )
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        self.video = StreamInfo(w, h, s.fps, self.options.duration or s.duration, False)
        self.check()

    def check(self):
        """Extra validation of option combinations (raise ConfigureError naming the option)."""

    def render(self, indices):
        from vfx import empty_pixels

        n, h, w = len(indices), self.video.height, self.video.width
        vals = self.values_for(indices)
        out = empty_pixels(n, h, w, self.device)
        fps = float(self.video.fps)
        for k, i in enumerate(indices):
            p = {name: v[k] for name, v in vals.items()}
            rgb = self.draw(i / fps, p)
            out[k, :3] = rgb.clamp(0.0, 1.0)
            out[k, 3] = 1.0
        return FrameBatch(indices, out)

    def draw(self, t: float, p: dict):
        """One frame at time ``t`` seconds: a linear (3, H, W) tensor on ``self.device``."""
        raise NotImplementedError
