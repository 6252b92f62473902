"""Editors: trim, concat, composite, crossfade, speed and resize. Audio follows every edit."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

import vfx
from vfx import AudioBuffer, AudioInfo, ConfigureError, FrameBatch, opt
from vfx.frames import samples_at


def _silence(node, count):
    s = node.ctx.settings
    return AudioBuffer.silence(s.channels, count, s.sample_rate)


def _audio_len(node, frames: int) -> AudioInfo:
    s = node.ctx.settings
    return AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))


def _gather(node, sources: list[tuple["vfx.Node", list[int]]], indices: list[int]) -> FrameBatch:
    """Pull runs of frames from several inputs and join them into one batch."""
    return FrameBatch.join([node.pull(src, idx) for src, idx in sources if idx], indices)


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
        end = o.end if o.end is not None else (o.start + o.duration if o.duration is not None
                                               else src.video.frame_count)
        if o.start >= src.video.frame_count:
            raise ConfigureError(f"start {o.start} is at or past the input's {src.video.frame_count} frames",
                                 option="start")
        if end > src.video.frame_count:
            raise ConfigureError(f"end {end} is past the input's {src.video.frame_count} frames",
                                 option="end" if o.end is not None else "duration")
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
        if hi > lo:               # only the kept part of the input; zeros outside it, as promised
            out[:, lo - start:hi - start] = self.input("input").audio_samples(lo + offset, hi - lo).samples
        return AudioBuffer(out, s.sample_rate)


class Concat(vfx.Editor):
    """Clips one after the other; all must share one frame size (resize them first)."""

    type = "editor.concat"
    needs_torch = False

    class Options(vfx.Options):
        inputs = opt.Inputs(min_count=2, doc="the clips, in order")

    def configure(self):
        clips = self.inputs["inputs"]
        first = clips[0].video
        for i, c in enumerate(clips[1:], start=2):
            if (c.video.width, c.video.height) != (first.width, first.height):
                raise ConfigureError(f"clip {i} ('{c.id}') is {c.video.width}x{c.video.height}, clip 1 is "
                                     f"{first.width}x{first.height}; add an editor.resize", option="inputs")
        self._offsets = np.cumsum([0] + [c.video.frame_count for c in clips]).tolist()
        total = self._offsets[-1]
        self.video = first.with_(frame_count=total, has_alpha=any(c.video.has_alpha for c in clips))
        self.audio = _audio_len(self, total) if any(c.audio for c in clips) else None

    def render(self, indices):
        clips = self.inputs["inputs"]
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
        for k, clip in enumerate(self.inputs["inputs"]):
            a0 = samples_at(self._offsets[k], s.fps, s.sample_rate)
            a1 = samples_at(self._offsets[k + 1], s.fps, s.sample_rate)
            lo, hi = max(start, a0), min(start + count, a1)
            if lo >= hi or clip.audio is None:
                continue
            part = clip.audio_samples(lo - a0, hi - lo).samples
            out[:, lo - start:hi - start] = part[:, :hi - lo]
        return AudioBuffer(out, s.sample_rate)


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
        layers = [(entry, self.nodes_by_id[entry.input]) for entry in self.options.layers]
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
            node = self.nodes_by_id[entry.input]
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
        from vfx import imageops
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
            pixels = imageops.resize_batch(batch, lw, lh, self.options.filter, before_linear=self.options.fast_scale)
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


class Crossfade(vfx.Editor):
    """The first clip dissolving into the second over ``duration``; the clips overlap by that much."""

    type = "editor.crossfade"

    class Options(vfx.Options):
        inputs = opt.Inputs(min_count=2, doc="[outgoing, incoming] clips")
        duration = opt.Time("1s", min_frames=1, doc="length of the dissolve")

    def configure(self):
        a, b = self.inputs["inputs"][:2]
        if len(self.inputs["inputs"]) != 2:
            raise ConfigureError("a crossfade takes exactly two inputs", option="inputs")
        if (a.video.width, a.video.height) != (b.video.width, b.video.height):
            raise ConfigureError(f"'{a.id}' is {a.video.width}x{a.video.height} but '{b.id}' is "
                                 f"{b.video.width}x{b.video.height}; add an editor.resize", option="inputs")
        d = self.options.duration
        if d > min(a.video.frame_count, b.video.frame_count):
            raise ConfigureError(f"duration {d} frames is longer than an input "
                                 f"({a.video.frame_count} and {b.video.frame_count} frames)", option="duration")
        self._a, self._b, self._d = a, b, d
        self._cut = a.video.frame_count - d           # first frame of the overlap
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
        pb = self.pull(self._b, b_idx).pixels
        row_a = {i: k for k, i in enumerate(a_idx)}
        row_b = {i + self._cut: k for k, i in enumerate(b_idx)}
        out = []
        for i in indices:
            if i not in row_b:
                out.append(pa[row_a[i]])
            elif i not in row_a:
                out.append(pb[row_b[i]])
            else:
                out.append(torch.lerp(pa[row_a[i]], pb[row_b[i]], self.weight(i)))
        return FrameBatch(indices, torch.stack(out).contiguous(memory_format=torch.channels_last))

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
                gain = np.clip((pos[lo - start:] - a0) / max(1, a1 - a0), 0, 1)
                out[:, lo - start:] += part * gain
        return AudioBuffer(out, s.sample_rate)


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


class Resize(vfx.Editor):
    """Scale to a size: ``fit`` inside it (letterbox, transparent bars), ``fill`` it (crop) or ``stretch``."""

    type = "editor.resize"

    class Options(vfx.Options):
        input = opt.Input(doc="the clip")
        size = opt.Vec(None, integer=True, min=2, animate=False, doc="[width, height] (default: the pipeline size)")
        mode = opt.Choice("fit", choices=("fit", "fill", "stretch"), doc="how the aspect ratio is kept")
        filter = opt.Choice("bilinear", choices=("nearest", "bilinear", "bicubic", "area", "lanczos"),
                            doc="resampling filter")
        fast_scale = opt.Bool(True, doc="scale decoded video with swscale before it enters linear light (fast, "
                                        "like ffmpeg's scale filter); false resamples in linear light")

    def configure(self):
        src = self.input("input").video
        s = self.ctx.settings
        W, H = self.options.size or (s.width, s.height)
        mode = self.options.mode
        if mode == "stretch":
            w, h = W, H
        else:
            shown = src.width * float(src.sar)        # an anamorphic clip kept as stored is shown wider
            scale = (min if mode == "fit" else max)(W / shown, H / src.height)
            w, h = max(1, round(shown * scale)), max(1, round(src.height * scale))
        self._scaled = (w, h)
        self._offset = ((W - w) // 2, (H - h) // 2)
        self.video = src.with_(width=W, height=H, sar=Fraction(1),
                               has_alpha=src.has_alpha or (mode == "fit" and (w, h) != (W, H)))
        self.audio = self.input("input").audio

    def render(self, indices):
        import torch
        from vfx import imageops
        batch = self.pull(self.input("input"), indices)
        w, h = self._scaled
        W, H = self.video.width, self.video.height
        pixels = imageops.resize_batch(batch, w, h, self.options.filter, before_linear=self.options.fast_scale)
        if (w, h) == (W, H):
            return FrameBatch(indices, pixels)
        ox, oy = self._offset
        if self.options.mode == "fill":
            return FrameBatch(indices, pixels[:, :, -oy:-oy + H, -ox:-ox + W].contiguous(
                memory_format=torch.channels_last))
        canvas = torch.zeros((len(indices), H, W, 4), device=pixels.device).permute(0, 3, 1, 2)
        canvas[:, :, oy:oy + h, ox:ox + w] = pixels
        return FrameBatch(indices, canvas)

    def render_audio(self, start, count):
        return self.input("input").audio_samples(start, count)


@vfx.hookimpl
def register_nodes(register):
    for cls in (Trim, Concat, Composite, Crossfade, Speed, Resize):
        register(cls)
