"""``source.color`` and ``source.testpattern``."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import AudioBuffer, FrameBatch, StreamInfo, opt
from vfx.ops.color import srgb_decode

from ._common import _audio_info


class ColorSource(vfx.Source):
    """A solid colour (transparent allowed) at the pipeline size or a given one."""

    type = "source.color"

    class Options(vfx.Options):
        color = opt.Color("black", doc='the colour: "#rrggbb", "#rrggbbaa", a name, or [r, g, b]')
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")
        size = opt.Vec(None, integer=True, min=1, animate=False, doc="[width, height] (default: the pipeline size)")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        color = self.options.color
        alpha = True if isinstance(color, vfx.Animated) else color[3] < 1
        self.video = StreamInfo(w, h, s.fps, self.options.duration or s.duration, alpha)

    def render(self, indices):
        from vfx import constant
        from vfx.ops import color

        rgba = color.linear_rgba(self.options.color)
        return FrameBatch(indices, constant(len(indices), self.video.width, self.video.height, rgba, self.device))


_BARS = [
    (0.75, 0.75, 0.75),
    (0.75, 0.75, 0),
    (0, 0.75, 0.75),
    (0, 0.75, 0),
    (0.75, 0, 0.75),
    (0.75, 0, 0),
    (0, 0, 0.75),
]


class TestPattern(vfx.Source):
    """Test patterns drawn on the tensor device, with an optional sine test tone for audio.

    ``bars`` (SMPTE-style colour bars), ``gradient`` (ramps), ``checker``, ``grid``, ``zoneplate``
    (animated) and ``noise`` (seeded per frame). A bright bar sweeps across every pattern once a
    second unless ``sweep = false``, so motion and dropped frames are visible.
    """

    type = "source.testpattern"

    class Options(vfx.Options):
        pattern = opt.Choice(
            "bars", choices=("bars", "gradient", "checker", "grid", "zoneplate", "noise"), doc="which pattern"
        )
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")
        size = opt.Vec(None, integer=True, min=1, animate=False, doc="[width, height] (default: the pipeline size)")
        sweep = opt.Bool(True, doc="draw a moving bar so motion is visible")
        tone = opt.Float(0.0, min=0.0, max=20000.0, animate=False, doc="test tone frequency in Hz (0: no audio)")
        tone_level = opt.Float(-18.0, min=-96.0, max=0.0, animate=False, doc="tone level in dBFS")
        beep = opt.Bool(False, doc="pulse the tone: on for the first quarter of each second")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        count = self.options.duration or s.duration
        self.video = StreamInfo(w, h, s.fps, count, False)
        self.audio = _audio_info(self, count) if self.options.tone > 0 else None
        self._static = None

    def _grid(self):
        import torch

        h, w = self.video.height, self.video.width
        y = (torch.arange(h, device=self.device, dtype=torch.float32) + 0.5) / h
        x = (torch.arange(w, device=self.device, dtype=torch.float32) + 0.5) / w
        return y.view(h, 1).expand(h, w), x.view(1, w).expand(h, w)

    def _static_srgb(self):
        import torch

        y, x = self._grid()
        h, w = y.shape
        p = self.options.pattern
        if p == "bars":
            img = torch.zeros(3, h, w, device=self.device)
            col = (x * 7).long().clamp(max=6)
            table = torch.tensor(_BARS, device=self.device)
            img[:] = table[col].permute(2, 0, 1)
            low = y > 0.75
            ramp = x.clone()
            img[:, low] = ramp[low]
        elif p == "gradient":
            img = torch.stack([x, y, 1 - x * 0.5 - y * 0.5])
        elif p == "checker":
            cells = 16
            c = ((x * cells).floor() + (y * cells * h / w).floor()) % 2
            img = (c * 0.8 + 0.1).expand(3, h, w)
        elif p == "grid":
            step = max(8, w // 32)
            yy = (y * h).long()
            xx = (x * w).long()
            line = ((xx % step) == 0) | ((yy % step) == 0)
            img = torch.where(
                line, torch.tensor(0.9, device=self.device), torch.tensor(0.15, device=self.device)
            ).expand(3, h, w)
        else:
            return None
        return img.contiguous()

    def render(self, indices):
        import torch

        n, h, w = len(indices), self.video.height, self.video.width
        fps = float(self.video.fps)
        p = self.options.pattern
        if p in ("zoneplate", "noise"):
            frames = []
            for i in indices:
                if p == "noise":
                    g = self.ctx.generator(i)
                    frames.append(torch.rand(3, h, w, generator=g).to(self.device))
                else:
                    y, x = self._grid()
                    r2 = ((x - 0.5) ** 2 + ((y - 0.5) * h / w) ** 2) * (w * 0.1)
                    frames.append((0.5 + 0.5 * torch.sin(r2 * math.pi * 1.0 + i / fps * 2 * math.pi)).expand(3, h, w))
            srgb = torch.stack(frames)
        else:
            if self._static is None:
                self._static = self._static_srgb()
            srgb = self._static.unsqueeze(0).expand(n, -1, -1, -1)
        if self.options.sweep:
            srgb = srgb.clone()
            bar = max(2, w // 60)
            for k, i in enumerate(indices):
                x0 = int(((i / fps) % 1.0) * (w - bar))
                srgb[k, :, :, x0 : x0 + bar] = 1.0
        linear = srgb_decode(srgb)
        alpha = torch.ones(n, 1, h, w, device=self.device)
        pixels = torch.cat([linear, alpha], 1).contiguous(memory_format=torch.channels_last)
        return FrameBatch(indices, pixels, owned=True)  # a fresh tensor, kept nowhere else

    def render_audio(self, start, count):
        s = self.audio
        t = (np.arange(start, start + count, dtype=np.float64)) / s.sample_rate
        amp = 10 ** (self.options.tone_level / 20)
        wave = amp * np.sin(2 * np.pi * self.options.tone * t)
        if self.options.beep:
            wave *= (t % 1.0) < 0.25
        wave[np.arange(start, start + count) >= s.sample_count] = 0
        return AudioBuffer(np.repeat(wave[None].astype(np.float32), s.channels, axis=0), s.sample_rate)
