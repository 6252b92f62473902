"""``editor.speed``."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import AudioBuffer, ConfigureError, opt

from ._common import _audio_len


class Speed(vfx.Editor):
    """Plays the input faster (factor > 1) or slower; audio is resampled with it, like tape."""

    type = "editor.speed"
    needs_torch = False

    class Options(vfx.Options):
        input = opt.Input(doc="the clip")
        factor = opt.Float(min=0.01, max=100.0, animate=False, doc="speed: 2 plays twice as fast, 0.5 half as fast")

    def configure(self):
        src = self.input("input")
        count = math.floor(src.video.frame_count / self.options.factor + 1e-9)
        if count < 1:
            raise ConfigureError("the result would have no frames", option="factor")
        self.video = src.video.with_(frame_count=count)
        self.audio = _audio_len(self, count) if src.audio else None

    def source_frame(self, i: int) -> int:
        return min(self.input("input").video.frame_count - 1, math.floor(i * self.options.factor + 1e-9))

    def render(self, indices):
        return self.pull(self.input("input"), [self.source_frame(i) for i in indices]).reindexed(indices)

    def render_audio(self, start, count):
        f = self.options.factor
        src = self.input("input")
        first = math.floor(start * f)
        need = math.ceil((start + count) * f) - first + 2
        data = src.audio_samples(first, need).samples
        positions = np.arange(start, start + count) * f - first
        xp = np.arange(data.shape[1])
        out = np.stack([np.interp(positions, xp, ch) for ch in data]).astype(np.float32)
        out[:, np.arange(start, start + count) >= self.audio.sample_count] = 0
        return AudioBuffer(out, self.ctx.settings.sample_rate)
