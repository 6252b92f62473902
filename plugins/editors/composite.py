"""``editor.composite``: layers blended over each other."""
from __future__ import annotations

import numpy as np

import vfx
from vfx import AudioBuffer, FrameBatch, opt
from vfx.frames import samples_at

from ._common import _audio_len


BLENDS = ("over", "add", "multiply", "screen")


class Layer(vfx.Options):
    """One composite layer."""

    input = opt.Input(doc="the layer's node")
    position = opt.Vec([0, 0], doc="[x, y] of the layer's top-left corner in pixels")
    scale = opt.Float(1.0, min=0.001, max=100.0, doc="uniform scale")
    size = opt.Vec(None, integer=True, min=1, doc="[width, height] in pixels (instead of scale)")
    opacity = opt.Float(1.0, min=0.0, max=1.0, doc="0 transparent .. 1 opaque")
    blend = opt.Choice("over", choices=BLENDS, doc="blend mode")
    start = opt.Time(0, doc="output frame where the layer's first frame appears")


def blend_into(dst, src, mode: str, opacity: float):
    """Blend premultiplied ``src`` into ``dst`` in place (same shapes)."""
    if opacity < 1.0:
        src = src * opacity
    sa = src[:, 3:4]
    if mode == "over":
        dst.mul_(1 - sa).add_(src)
    elif mode == "add":
        da = dst[:, 3:4].clone()
        dst[:, :3].add_(src[:, :3])
        dst[:, 3:4] = sa + da * (1 - sa)
    elif mode == "screen":
        rgb = src[:, :3] + dst[:, :3] - src[:, :3] * dst[:, :3]
        dst[:, 3:4] = sa + dst[:, 3:4] * (1 - sa)
        dst[:, :3] = rgb
    elif mode == "multiply":
        da = dst[:, 3:4]
        rgb = src[:, :3] * dst[:, :3] + src[:, :3] * (1 - da) + dst[:, :3] * (1 - sa)
        dst[:, 3:4] = sa + da - sa * da
        dst[:, :3] = rgb
    return dst


class Composite(vfx.Editor):
    """Layers stacked bottom to top, each placed, scaled, faded and blended (premultiplied, linear)."""

    type = "editor.composite"

    class Options(vfx.Options):
        layers = opt.Table(Layer, shorthand="input",
                           doc="bottom-to-top list of node ids or tables {input, position, scale, size, "
                               "opacity, blend, start}")
        size = opt.Vec(None, integer=True, min=2, animate=False,
                       doc="[width, height] of the canvas (default: the pipeline size)")
        duration = opt.Time(None, min_frames=1, doc="length (default: the bottom layer's end)")
        audio = opt.Choice("first", choices=("first", "mix", "none"),
                           doc="audio: the bottom layer's, all layers mixed, or none")
        filter = opt.Choice("bilinear", choices=("nearest", "bilinear", "bicubic", "area", "lanczos"),
                            doc="resampling filter for scaled layers")
        fast_scale = opt.Bool(True, doc="scale decoded video with swscale before it enters linear light (fast, "
                                        "like ffmpeg's scale filter); false resamples in linear light")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        layers = [(entry, self.input(entry.input, ref=True)) for entry in self.options.layers]
        bottom_entry, bottom = layers[0]
        count = self.options.duration or bottom_entry.start + bottom.video.frame_count
        self.video = vfx.StreamInfo(w, h, s.fps, count, True)
        audible = [(e, n) for e, n in layers if n.audio is not None]
        if self.options.audio == "first":
            audible = audible[:1] if bottom.audio is not None else []
        self._audible = [] if self.options.audio == "none" else audible
        self.audio = _audio_len(self, count) if self._audible else None

    def _layers(self):
        """(layer options, node, width, height) with the current (possibly animated) values."""
        for entry in self.options.layers:
            node = self.input(entry.input, ref=True)
            if entry.size:
                lw, lh = entry.size
            else:
                lw = max(1, round(node.video.width * entry.scale))
                lh = max(1, round(node.video.height * entry.scale))
            yield entry, node, lw, lh

    def _covers(self, entry, lw, lh):
        return (entry.position == (0.0, 0.0) and (lw, lh) == (self.video.width, self.video.height)
                and entry.opacity == 1.0 and entry.blend == "over")

    def render(self, indices):
        import torch
        from vfx.ops import resample
        n, W, H = len(indices), self.video.width, self.video.height
        canvas = None
        for k, (entry, node, lw, lh) in enumerate(self._layers()):
            local = [i - entry.start for i in indices]
            live = [j for j, li in enumerate(local) if 0 <= li < node.video.frame_count]
            if not live:
                continue
            x0, y0 = int(round(entry.position[0])), int(round(entry.position[1]))
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + lw), min(H, y0 + lh)
            if cx0 >= cx1 or cy0 >= cy1:
                continue
            if canvas is None and k == 0 and len(live) == n and self._covers(entry, lw, lh):
                canvas = self.pull_writable(node, local)
                continue
            batch = self.pull(node, [local[j] for j in live])
            pixels = resample.resize_batch(batch, lw, lh, self.options.filter, before_linear=self.options.fast_scale)
            if canvas is None:
                canvas = torch.zeros((n, H, W, 4), device=self.device).permute(0, 3, 1, 2)
            src = pixels[:, :, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
            if len(live) == n:
                blend_into(canvas[:, :, cy0:cy1, cx0:cx1], src, entry.blend, entry.opacity)
            else:
                for j_src, j in enumerate(live):
                    blend_into(canvas[j:j + 1, :, cy0:cy1, cx0:cx1], src[j_src:j_src + 1], entry.blend,
                               entry.opacity)
        if canvas is None:
            canvas = torch.zeros((n, H, W, 4), device=self.device).permute(0, 3, 1, 2)
        return FrameBatch(indices, canvas)

    def render_audio(self, start, count):
        s = self.ctx.settings
        out = np.zeros((s.channels, count), np.float32)
        for entry, node in self._audible:
            offset = samples_at(entry.start, s.fps, s.sample_rate)
            lo = max(start, offset)
            hi = min(start + count, offset + node.audio.sample_count)
            if lo < hi:
                out[:, lo - start:hi - start] += node.audio_samples(lo - offset, hi - lo).samples
        return AudioBuffer(out, s.sample_rate)
