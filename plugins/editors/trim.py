"""``editor.trim``."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import AudioBuffer, ConfigureError, opt, samples_at

from ._common import _audio_len


class Trim(vfx.Editor):
    """Frames [start, end) of the input (or ``duration`` frames from ``start``), audio cut to match."""

    type = "editor.trim"
    needs_torch = False

    class Options(vfx.Options):
        input = opt.Input(doc="the clip to cut")
        start = opt.Time(0, doc="first frame kept (frames, seconds or timecode)")
        end = opt.Time(None, doc="first frame dropped at the end (default: the input's end)")
        duration = opt.Time(None, min_frames=1, doc="frames kept, instead of end")

    def configure(self):
        src = self.input("input")
        o = self.options
        if o.end is not None and o.duration is not None:
            raise ConfigureError("give end or duration, not both", option="duration")
        end = (
            o.end if o.end is not None else (o.start + o.duration if o.duration is not None else src.video.frame_count)
        )
        if o.start >= src.video.frame_count:
            raise ConfigureError(
                f"start {o.start} is at or past the input's {src.video.frame_count} frames", option="start"
            )
        if end > src.video.frame_count:
            raise ConfigureError(
                f"end {end} is past the input's {src.video.frame_count} frames",
                option="end" if o.end is not None else "duration",
            )
        if end <= o.start:
            raise ConfigureError(f"end {end} is not after start {o.start}", option="end")
        self._start = o.start
        self.video = src.video.with_(frame_count=end - o.start)
        self.audio = _audio_len(self, end - o.start) if src.audio else None

    def render(self, indices):
        return self.pull(self.input("input"), [i + self._start for i in indices]).reindexed(indices)

    def render_audio(self, start, count):
        s = self.ctx.settings
        offset = samples_at(self._start, s.fps, s.sample_rate)
        out = np.zeros((s.channels, max(0, count)), np.float32)
        lo, hi = max(0, start), min(start + count, self.audio.sample_count)
        if hi > lo:  # only the kept part of the input; zeros outside it, as promised
            out[:, lo - start : hi - start] = self.input("input").audio_samples(lo + offset, hi - lo).samples
        return AudioBuffer(out, s.sample_rate)
