"""``editor.resize``."""

from __future__ import annotations

from fractions import Fraction

import vfx
from vfx import FrameBatch, opt


class Resize(vfx.Editor):
    """Scale to a size: ``fit`` inside it (letterbox, transparent bars), ``fill`` it (crop) or ``stretch``."""

    type = "editor.resize"

    class Options(vfx.Options):
        input = opt.Input(doc="the clip")
        size = opt.Vec(None, integer=True, min=2, animate=False, doc="[width, height] (default: the pipeline size)")
        mode = opt.Choice("fit", choices=("fit", "fill", "stretch"), doc="how the aspect ratio is kept")
        filter = opt.Choice(
            "bilinear", choices=("nearest", "bilinear", "bicubic", "area", "lanczos"), doc="resampling filter"
        )
        fast_scale = opt.Bool(
            True,
            doc="scale decoded video with swscale before it enters linear light (fast, "
            "like ffmpeg's scale filter); false resamples in linear light",
        )

    def configure(self):
        src = self.input("input").video
        s = self.ctx.settings
        W, H = self.options.size or (s.width, s.height)
        mode = self.options.mode
        if mode == "stretch":
            w, h = W, H
        else:
            shown = src.width * float(src.sar)  # an anamorphic clip kept as stored is shown wider
            scale = (min if mode == "fit" else max)(W / shown, H / src.height)
            w, h = max(1, round(shown * scale)), max(1, round(src.height * scale))
        self._scaled = (w, h)
        self._offset = ((W - w) // 2, (H - h) // 2)
        self.video = src.with_(
            width=W, height=H, sar=Fraction(1), has_alpha=src.has_alpha or (mode == "fit" and (w, h) != (W, H))
        )
        self.audio = self.input("input").audio

    def render(self, indices):
        import torch
        from vfx.ops import resample

        batch = self.pull(self.input("input"), indices)
        w, h = self._scaled
        W, H = self.video.width, self.video.height
        pixels = resample.resize_batch(batch, w, h, self.options.filter, before_linear=self.options.fast_scale)
        if (w, h) == (W, H):
            return FrameBatch(indices, pixels)
        ox, oy = self._offset
        if self.options.mode == "fill":
            return FrameBatch(
                indices, pixels[:, :, -oy : -oy + H, -ox : -ox + W].contiguous(memory_format=torch.channels_last)
            )
        canvas = torch.zeros((len(indices), H, W, 4), device=pixels.device).permute(0, 3, 1, 2)
        canvas[:, :, oy : oy + h, ox : ox + w] = pixels
        return FrameBatch(indices, canvas)

    def render_audio(self, start, count):
        return self.input("input").audio_samples(start, count)
