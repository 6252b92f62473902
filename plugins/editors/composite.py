"""``editor.composite``: layers blended over each other."""

from __future__ import annotations

import numpy as np

import vfx
from vfx import AudioBuffer, FrameBatch, empty_pixels, opt, samples_at
from vfx.ops.composite import BLENDS, blend, placement

from ._common import _audio_len


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
    """Blend premultiplied ``src`` into ``dst`` in place (same shapes): ``vfx.ops.composite.blend``."""
    return blend(dst, src, mode, opacity)


class Composite(vfx.Editor):
    """Layers stacked bottom to top, each placed, scaled, faded and blended (premultiplied, linear)."""

    type = "editor.composite"
    animated_batches = True

    class Options(vfx.Options):
        layers = opt.Table(
            Layer,
            shorthand="input",
            doc="bottom-to-top list of node ids or tables {input, position, scale, size, opacity, blend, start}",
        )
        size = opt.Vec(
            None, integer=True, min=2, animate=False, doc="[width, height] of the canvas (default: the pipeline size)"
        )
        duration = opt.Time(None, min_frames=1, doc="length (default: the bottom layer's end)")
        audio = opt.Choice(
            "first", choices=("first", "mix", "none"), doc="audio: the bottom layer's, all layers mixed, or none"
        )
        filter = opt.Choice(
            "bilinear",
            choices=("nearest", "bilinear", "bicubic", "area", "lanczos"),
            doc="resampling filter for scaled layers",
        )
        fast_scale = opt.Bool(
            True,
            doc="scale decoded video with swscale before it enters linear light (fast, "
            "like ffmpeg's scale filter); false resamples in linear light",
        )

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

    @staticmethod
    def _size(entry, node):
        """The (width, height) a layer is drawn at."""
        if entry.size:
            return tuple(entry.size)
        return (max(1, round(node.video.width * entry.scale)), max(1, round(node.video.height * entry.scale)))

    def _covers(self, key):
        x, y, lw, lh, opacity, mode = key
        return (
            (x, y) == (0, 0) and (lw, lh) == (self.video.width, self.video.height) and opacity == 1.0 and mode == "over"
        )

    def render(self, indices):
        """Each layer is resampled and blended only over the rectangle it covers, clipped to the
        canvas; an opaque full-frame bottom layer is the canvas itself (no copy when it is owned).
        Animated layer options are read per frame here (one canvas for the batch)."""
        n, W, H = len(indices), self.video.width, self.video.height
        fps = self.ctx.settings.fps
        canvas = None
        for k, entry in enumerate(self.options.layers):
            node = self.input(entry.input, ref=True)
            local = [i - entry.start for i in indices]
            live = [j for j, li in enumerate(local) if 0 <= li < node.video.frame_count]
            if not live:
                continue
            animated = bool(entry.animations())
            keys = []  # per live frame: (x, y, width, height, opacity, blend)
            for j in live:
                e = entry.at(indices[j], fps) if animated else entry
                lw, lh = self._size(e, node)
                keys.append((int(round(e.position[0])), int(round(e.position[1])), lw, lh, float(e.opacity), e.blend))
            if canvas is None and k == 0 and len(live) == n and all(self._covers(key) for key in keys):
                canvas = self.pull_writable(node, local)
                continue
            if canvas is None:
                canvas = self._blank(n)
            by_size: dict = {}
            for p, key in enumerate(keys):
                if placement(key[0], key[1], key[2], key[3], W, H) is not None:
                    by_size.setdefault(key[2:4], []).append(p)
            for (lw, lh), ps in by_size.items():
                self._draw(
                    canvas, node, [live[p] for p in ps], [local[live[p]] for p in ps], [keys[p] for p in ps], lw, lh
                )
        if canvas is None:
            canvas = self._blank(n)
        return FrameBatch(indices, canvas, owned=True)  # fresh or handed over: no one else sees it

    def _blank(self, n):
        """A transparent canvas: channels-last (n, 4, H, W)."""
        return empty_pixels(n, self.video.height, self.video.width, self.device).zero_()

    def _draw(self, canvas, node, rows, frames, keys, lw, lh):
        """Layer frames ``frames`` of ``node`` at size (lw, lh), each blended into canvas row
        ``rows[i]`` at its own ``keys[i]`` (position, opacity, blend), over its rectangle only."""
        from vfx.ops import resample

        W, H = self.video.width, self.video.height
        batch = self.pull(node, frames)
        pixels = resample.resize_batch(batch, lw, lh, self.options.filter, before_linear=self.options.fast_scale)
        together = len(set(keys)) == 1 and rows == list(range(rows[0], rows[0] + len(rows)))
        for i in [0] if together else range(len(rows)):
            x, y, _, _, opacity, mode = keys[i]
            place = placement(x, y, lw, lh, W, H)
            span = slice(rows[i], rows[i] + len(rows)) if together else slice(rows[i], rows[i] + 1)
            src = pixels[
                slice(0, len(rows)) if together else slice(i, i + 1),
                :,
                place.sy : place.sy + place.height,
                place.sx : place.sx + place.width,
            ]
            blend(canvas[span, :, place.y0 : place.y1, place.x0 : place.x1], src, mode, opacity)

    def render_audio(self, start, count):
        s = self.ctx.settings
        out = np.zeros((s.channels, count), np.float32)
        for entry, node in self._audible:
            offset = samples_at(entry.start, s.fps, s.sample_rate)
            lo = max(start, offset)
            hi = min(start + count, offset + node.audio.sample_count)
            if lo < hi:
                out[:, lo - start : hi - start] += node.audio_samples(lo - offset, hi - lo).samples
        return AudioBuffer(out, s.sample_rate)
