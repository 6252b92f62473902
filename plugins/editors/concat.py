"""``editor.concat``."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import AudioBuffer, ConfigureError, opt, samples_at

from ._common import _audio_len, _gather


class Concat(vfx.Editor):
    """Clips one after the other; all must share one frame size (resize them first)."""

    type = "editor.concat"
    needs_torch = False

    class Options(vfx.Options):
        inputs = opt.Inputs(min_count=2, doc="the clips, in order")

    def configure(self):
        clips = self.input("inputs")
        first = clips[0].video
        for i, c in enumerate(clips[1:], start=2):
            if (c.video.width, c.video.height) != (first.width, first.height):
                raise ConfigureError(
                    f"clip {i} ('{c.id}') is {c.video.width}x{c.video.height}, clip 1 is "
                    f"{first.width}x{first.height}; add an editor.resize",
                    option="inputs",
                )
        self._offsets = np.cumsum([0] + [c.video.frame_count for c in clips]).tolist()
        total = self._offsets[-1]
        self.video = first.with_(frame_count=total, has_alpha=any(c.video.has_alpha for c in clips))
        self.audio = _audio_len(self, total) if any(c.audio for c in clips) else None

    def render(self, indices):
        clips = self.input("inputs")
        runs: list[tuple] = []
        for i in indices:
            k = int(np.searchsorted(self._offsets, i, side="right") - 1)
            if runs and runs[-1][0] is clips[k]:
                runs[-1][1].append(i - self._offsets[k])
            else:
                runs.append((clips[k], [i - self._offsets[k]]))
        return _gather(self, runs, indices)

    def render_audio(self, start, count):
        s = self.ctx.settings
        out = np.zeros((s.channels, count), np.float32)
        for k, clip in enumerate(self.input("inputs")):
            a0 = samples_at(self._offsets[k], s.fps, s.sample_rate)
            a1 = samples_at(self._offsets[k + 1], s.fps, s.sample_rate)
            lo, hi = max(start, a0), min(start + count, a1)
            if lo >= hi or clip.audio is None:
                continue
            part = clip.audio_samples(lo - a0, hi - lo).samples
            out[:, lo - start : hi - start] = part[:, : hi - lo]
        return AudioBuffer(out, s.sample_rate)
