"""``editor.crossfade``."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import AudioBuffer, ConfigureError, FrameBatch, opt, samples_at
from vfx import empty_pixels
from vfx.ops.composite import mix

from ._common import _audio_len, _gather


class Crossfade(vfx.Editor):
    """The first clip dissolving into the second over ``duration``; the clips overlap by that much."""

    type = "editor.crossfade"

    class Options(vfx.Options):
        inputs = opt.Inputs(min_count=2, doc="[outgoing, incoming] clips")
        duration = opt.Time("1s", min_frames=1, doc="length of the dissolve")

    def configure(self):
        a, b = self.input("inputs")[:2]
        if len(self.input("inputs")) != 2:
            raise ConfigureError("a crossfade takes exactly two inputs", option="inputs")
        if (a.video.width, a.video.height) != (b.video.width, b.video.height):
            raise ConfigureError(
                f"'{a.id}' is {a.video.width}x{a.video.height} but '{b.id}' is "
                f"{b.video.width}x{b.video.height}; add an editor.resize",
                option="inputs",
            )
        d = self.options.duration
        if d > min(a.video.frame_count, b.video.frame_count):
            raise ConfigureError(
                f"duration {d} frames is longer than an input ({a.video.frame_count} and {b.video.frame_count} frames)",
                option="duration",
            )
        self._a, self._b, self._d = a, b, d
        self._cut = a.video.frame_count - d  # first frame of the overlap
        total = a.video.frame_count + b.video.frame_count - d
        self.video = a.video.with_(frame_count=total, has_alpha=a.video.has_alpha or b.video.has_alpha)
        self.audio = _audio_len(self, total) if (a.audio or b.audio) else None

    def weight(self, i: int) -> float:
        """How much of the incoming clip shows at output frame ``i``."""
        return min(1.0, max(0.0, (i - self._cut + 1) / (self._d + 1)))

    def render(self, indices):
        import torch

        a_idx = [i for i in indices if i < self._a.video.frame_count]
        b_idx = [i - self._cut for i in indices if i >= self._cut]
        if not b_idx:
            return _gather(self, [(self._a, a_idx)], indices)
        if not a_idx:
            return _gather(self, [(self._b, b_idx)], indices)
        pa = self.pull(self._a, a_idx).pixels
        row_a = {i: k for k, i in enumerate(a_idx)}
        row_b = {i + self._cut: k for k, i in enumerate(b_idx)}
        if len(b_idx) == len(indices):  # every frame shows the incoming clip: dissolve into its frames
            out = pb = self.pull_writable(self._b, b_idx)
            if not _channels_last(out):
                out = pb = out.contiguous(memory_format=torch.channels_last)
        else:
            pb = self.pull(self._b, b_idx).pixels
            out = empty_pixels(len(indices), self.video.height, self.video.width, pa.device)
        for k, i in enumerate(indices):
            if i not in row_b:
                out[k].copy_(pa[row_a[i]])
            elif i not in row_a:
                if out is not pb:
                    out[k].copy_(pb[row_b[i]])
            else:
                mix(pa[row_a[i]], pb[row_b[i]], self.weight(i), out=out[k])
        return FrameBatch(indices, out, owned=True)

    def render_audio(self, start, count):
        s = self.ctx.settings
        a0 = samples_at(self._cut, s.fps, s.sample_rate)
        a1 = samples_at(self._a.video.frame_count, s.fps, s.sample_rate)
        pos = np.arange(start, start + count)
        out = np.zeros((s.channels, count), np.float32)
        if self._a.audio is not None:
            n = max(0, min(count, a1 - start))
            if n:
                out[:, :n] += self._a.audio_samples(start, n).samples * np.clip((a1 - pos[:n]) / max(1, a1 - a0), 0, 1)
        if self._b.audio is not None:
            lo = max(start, a0)
            if lo < start + count:
                part = self._b.audio_samples(lo - a0, start + count - lo).samples
                gain = np.clip((pos[lo - start :] - a0) / max(1, a1 - a0), 0, 1)
                out[:, lo - start :] += part * gain
        return AudioBuffer(out, s.sample_rate)


def _channels_last(x) -> bool:
    """Whether every frame of (N, 4, H, W) ``x`` is interleaved RGBA rows, as ``mix`` writes them."""
    return all(f.permute(1, 2, 0).is_contiguous() for f in x)
