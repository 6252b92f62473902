"""Signal nodes: per-frame values that drive other nodes' options (``{ driver = "id" }``)."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import opt
from vfx.ops.color import LUMA


class Luma(vfx.Signal):
    """The mean luminance (0..1, linear light, BT.709 weights) of each frame of a video.

    Drive an option with it: ``intensity = { driver = "plate_luma", scale = 2.0 }`` makes a
    value follow the brightness of the plate (flashes, flicker matching).
    """

    type = "signal.luma"
    signals = ("value",)

    class Options(vfx.Options):
        input = opt.Input(doc="the video to measure")
        region = opt.Vec(
            [0.0, 0.0, 1.0, 1.0], length=4, animate=False, doc="[x0, y0, x1, y1] of the measured area, 0..1"
        )

    def configure(self):
        x0, y0, x1, y1 = self.options.region
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise vfx.ConfigureError(
                "region must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1, same for y", option="region"
            )
        self._frames = self.input("input").video.frame_count

    def signal(self, name, frames):
        import torch

        src = self.input("input")
        x0, y0, x1, y1 = self.options.region
        out = np.zeros(len(frames))
        inside = [(k, f) for k, f in enumerate(frames) if 0 <= f < self._frames]
        if not inside:
            return out
        pixels = self.pull(src, [f for _, f in inside]).pixels
        h, w = pixels.shape[2:]
        crop = pixels[
            :, :3, int(y0 * h) : max(int(y1 * h), int(y0 * h) + 1), int(x0 * w) : max(int(x1 * w), int(x0 * w) + 1)
        ]
        weights = torch.tensor(LUMA, device=crop.device).view(1, 3, 1, 1)
        luma = (crop * weights).sum(1).mean(dim=(1, 2)).cpu().numpy()
        out[[k for k, _ in inside]] = luma
        return out
