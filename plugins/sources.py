"""Sources: video files, still images, image sequences, solid colours and test patterns."""
from __future__ import annotations

import bisect
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, StreamInfo, AudioInfo, AudioBuffer, opt
from vfx.frames import samples_at


def _audio_info(node, frames: int) -> AudioInfo:
    s = node.ctx.settings
    return AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))


def _to_pixels(frames: list, device, has_alpha: bool):
    """Decoded frames (tagged by ``colorspace.tag``) to the graph's linear RGBA, 16 bits deep when they are."""
    from vfx import color
    from vfx.media.colorspace import to_rgba_batch
    return color.to_linear(to_rgba_batch(frames), device=device, premultiply=has_alpha)


def _rgba(frame) -> np.ndarray:
    """One decoded frame as straight RGBA (uint8, or uint16 when deeper), by its own matrix and range."""
    from vfx.media.colorspace import to_rgba
    return to_rgba(frame)


class _Rotate(opt.Choice):
    """``auto``, ``none`` or a clockwise angle (0, 90, 180, 270), as a number or a string."""

    def parse(self, value, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super().parse(value, ctx)


class VideoSource(vfx.Source):
    """Frames (and an audio track) of any file PyAV decodes, with frame-exact seeking.

    Frames are found by their presentation timestamps, read from the file's packets on first open
    (and cached), so seeks are exact in every container and a clip with a variable frame rate
    stays in sync: at each output frame the source frame on screen at that time is shown (a file
    at another rate is retimed the same way), and the clip lasts as long as its frames do.
    Pictures are turned upright by the file's display matrix (``rotate``) and made square-pixelled
    by its sample aspect ratio (``pixel_aspect``), so every node sees what a player shows.
    """

    type = "source.video"
    needs_torch = False

    class Options(vfx.Options):
        path = opt.InputPath(doc="the video file, relative to the pipeline file")
        audio = opt.Bool(True, doc="expose the file's audio track (if it has one) to audio inputs")
        audio_track = opt.Int(0, min=0, animate=False, doc="which audio track, 0-based among the file's audio "
                                                           "streams")
        rotate = _Rotate("auto", choices=("auto", "none", "0", "90", "180", "270"),
                         doc="turn the picture: auto (by the file's display matrix, as players do), none, or "
                             "a clockwise angle instead of the file's")
        pixel_aspect = opt.Choice("square", choices=("square", "keep"),
                                  doc="non-square pixels (a sample aspect ratio): square scales the width as "
                                      "ffmpeg's scale=iw*sar:ih does; keep passes the stored size and SAR on")
        alpha = opt.Choice("auto", choices=("auto", "on", "off"),
                           doc="alpha: auto (when the format carries it; PNG and GIF: when the first frames "
                               "use it), on, or off (opaque)")
        color_matrix = opt.Choice("auto", choices=("auto", "bt601", "bt709", "bt2020"),
                                  doc="YUV matrix of the file (auto: its tags; untagged: bt601 below 720 "
                                      "lines, bt709 from 720)")
        color_range = opt.Choice("auto", choices=("auto", "limited", "full"),
                                 doc="YUV range of the file (auto: its tags; yuvj formats are full; untagged: limited)")

    def configure(self):
        from vfx.media.probe import probe
        o = self.options
        try:
            info = probe(o.path)
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        if info.video is None:
            raise ConfigureError(f"{o.path} has no video stream (use it as an audio source)", option="path")
        v = info.video
        fps = self.ctx.settings.fps
        # output frames whose middle falls within the clip's presentation time
        count = math.ceil(v.index.duration * fps - Fraction(1, 2)) if v.index is not None else 0
        if count < 1 or v.frame_count < 1:
            raise ConfigureError(f"{o.path} holds no frames", option="path")
        self.track = v
        self._filters, (width, height), sar = self._geometry(v)
        has_alpha = {"auto": v.has_alpha, "on": v.alpha_in_format, "off": False}[o.alpha]
        if o.alpha == "on" and not v.alpha_in_format:
            raise ConfigureError(f"{o.path.name}'s pixel format {v.pix_fmt} has no alpha", option="alpha")
        if v.alpha_in_format and not has_alpha:           # decoded alpha the graph must not see
            self._filters.append(("format", _without_alpha(v.pix_fmt)))
        self.video = StreamInfo(width, height, fps, count, has_alpha, sar=sar)
        self._audio_track = None
        if info.audio_tracks and o.audio:
            if o.audio_track >= len(info.audio_tracks):
                raise ConfigureError(f"{o.path.name} has {len(info.audio_tracks)} audio track"
                                     f"{'s' if len(info.audio_tracks) != 1 else ''} (0-based); there is no track "
                                     f"{o.audio_track}", option="audio_track")
            self._audio_track = o.audio_track
        elif o.audio_track and o.audio:
            raise ConfigureError(f"{o.path.name} has no audio track", option="audio_track")
        self.audio = _audio_info(self, count) if self._audio_track is not None else None
        self._reader = self._audio_reader = None

    def _geometry(self, v):
        """(filters, upright size, SAR) for the stored pictures of track ``v`` under the options."""
        from vfx.media.probe import rotation_filters, upright_filters
        rotate = self.options.rotate
        try:
            filters = (upright_filters(v.display_matrix) if rotate == "auto"
                       else rotation_filters(0 if rotate == "none" else int(rotate)))
        except vfx.MediaError as exc:
            raise ConfigureError(f"{self.options.path.name}: {exc}", option="rotate") from None
        width, height, sar = v.width, v.height, v.sar
        if any(name == "transpose" for name, _ in filters):
            width, height, sar = height, width, 1 / sar
        if sar != 1 and self.options.pixel_aspect == "square":
            width = max(1, int(width * float(sar)))        # as ffmpeg's scale=iw*sar:ih (truncated)
            filters.append(("scale", f"{width}:{height}"))
            filters.append(("setsar", "1"))
            sar = Fraction(1)
        return filters, (width, height), sar

    def input_files(self):
        return [self.options.path]

    def open(self):
        from vfx.media.decode import AudioReader, VideoReader
        self._reader = VideoReader(self.options.path, self.track.index, self.video.fps, self._filters,
                                   sar=self.track.sar)
        if self.audio:
            self._audio_reader = AudioReader(self.options.path, self.audio.sample_rate, self.audio.channels,
                                             origin=self.track.start_time, track=self._audio_track)

    def render(self, indices):
        if self._reader is None:
            self.open()
        from vfx.media.colorspace import tag
        frames = tag(self._reader.frames(indices), self.options.color_matrix, self.options.color_range)
        return FrameBatch(indices, native=frames, size=(self.video.width, self.video.height),
                          convert=lambda fs: _to_pixels(fs, self.device, self.video.has_alpha))

    def render_audio(self, start, count):
        if self._audio_reader is None:
            self.open()
        end = min(start + count, self.audio.sample_count)
        data = self._audio_reader.read(start, max(0, end - start))
        if data.shape[1] < count:
            data = np.pad(data, ((0, 0), (0, count - data.shape[1])))
        return AudioBuffer(data, self.audio.sample_rate)

    def close(self):
        for r in (self._reader, self._audio_reader):
            if r is not None:
                r.close()
        self._reader = self._audio_reader = None


def _without_alpha(pix_fmt: str) -> str:
    """The pixel format of ``pix_fmt`` less its alpha (yuva420p -> yuv420p, bgra -> rgb24, ya8 -> gray)."""
    if pix_fmt.startswith("yuva"):
        return "yuv" + pix_fmt[4:]
    if pix_fmt.startswith("gbrap"):
        return "gbrp" + pix_fmt[5:]
    if pix_fmt.startswith(("rgba64", "bgra64")):
        return "rgb48" + pix_fmt[6:]
    if pix_fmt.startswith("ya16"):
        return "gray16" + pix_fmt[4:]
    return "gray" if pix_fmt == "ya8" else "rgb24"


class ImageSource(vfx.Source):
    """A still image (PNG, JPEG, TIFF, ...) held for a duration.

    It has alpha when its pixels use it (one below full opacity), unless ``alpha`` says otherwise.
    Its size is read from the header and checked against the memory budget (``--max-memory``)
    before it is decoded; an image in a format without alpha is decoded only when rendered.
    """

    type = "source.image"

    class Options(vfx.Options):
        path = opt.InputPath(doc="the image file, relative to the pipeline file")
        duration = opt.Time(None, min_frames=1, doc="how long to hold it (default: the pipeline duration)")
        alpha = opt.Bool(None, doc="keep the image's alpha (default: when its pixels use it); false: opaque")

    def configure(self):
        from vfx.media.images import check_budget, image_header, memory_limit, read_image
        path = self.options.path
        self._rgba = None
        try:
            header = image_header(path)
            check_budget(path, header, memory_limit(self.ctx.extras))
            alpha = self.options.alpha
            if alpha is None and header.has_alpha:
                self._rgba = read_image(path)
                alpha = bool((self._rgba[..., 3] < 255).any())
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        self.video = StreamInfo(header.width, header.height, self.ctx.settings.fps,
                                self.options.duration or self.ctx.settings.duration, bool(alpha))
        self._pixels = None

    def input_files(self):
        return [self.options.path]

    def render(self, indices):
        if self._pixels is None:
            from vfx import color
            from vfx.media.images import read_image
            rgba = self._rgba if self._rgba is not None else read_image(self.options.path)
            if not self.video.has_alpha:
                rgba[..., 3] = 255
            self._pixels = color.to_linear(rgba[None], device=self.device, premultiply=self.video.has_alpha)
            self._rgba = None
        return FrameBatch(indices, self._pixels.expand(len(indices), -1, -1, -1))


_FRAME_NUMBER = re.compile(r"%(0?)(\d*)d")


class ImageSequenceSource(vfx.Source):
    """Numbered images named by a printf pattern such as ``shots/plate_%04d.png``, one a frame.

    The sequence runs from ``start_number`` (default: the lowest number found) to the highest
    number found. A missing number is an error naming it, unless ``gaps = "hold"``: then the image
    before the gap is held through it. The sequence has alpha when its first image's pixels use it
    (as ``source.image``), unless ``alpha`` says otherwise; an image that uses alpha in a sequence
    without it is an error. Every image is checked against the memory budget (``--max-memory``)
    from its header before it is decoded; all must have the size of the first.
    """

    type = "source.image_sequence"

    class Options(vfx.Options):
        path = opt.InputPath(pattern=True, doc="printf-style pattern: frames/img_%04d.png")
        start_number = opt.Int(None, min=0, animate=False, doc="number of the first image (default: the lowest found)")
        gaps = opt.Choice("error", choices=("error", "hold"),
                          doc="a missing number: an error, or hold the image before it")
        alpha = opt.Bool(None, doc="keep the images' alpha (default: when the first image's pixels use it); "
                                   "false: opaque")

    def configure(self):
        self._numbers: list[int] = []           # the numbers of the images found, from the first shown
        pattern = str(self.options.path)
        name = Path(pattern).name
        marks = _FRAME_NUMBER.findall(name)
        if len(marks) != 1 or "%" in _FRAME_NUMBER.sub("", name) or "%" in str(Path(pattern).parent):
            raise ConfigureError(f"the path must hold one frame-number pattern such as %04d in the file name "
                                 f"(and no other %), got {pattern}", option="path")
        folder = Path(pattern).parent
        if not folder.is_dir():
            raise ConfigureError(f"the folder {folder} of the pattern {pattern} does not exist", option="path")
        head, *_, tail = _FRAME_NUMBER.split(name, maxsplit=1)
        regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
        numbers = sorted(n for p in folder.iterdir() if (m := regex.fullmatch(p.name))
                         and name % (n := int(m.group(1))) == p.name)
        if not numbers:
            raise ConfigureError(f"no file matches the pattern {pattern}", option="path")
        start = self.options.start_number
        if start is None:
            start = numbers[0]
        elif start not in numbers:
            raise ConfigureError(f"there is no image number {start} ({pattern % start}); the images found are "
                                 f"numbered {numbers[0]} to {numbers[-1]}", option="start_number")
        numbers = [n for n in numbers if n >= start]
        if self.options.gaps == "error" and numbers[-1] - start + 1 != len(numbers):
            missing = next(n for k, n in enumerate(range(start, numbers[-1] + 1)) if numbers[k] != n)
            raise ConfigureError(f"image number {missing} is missing ({pattern % missing}) in the sequence "
                                 f"{start} to {numbers[-1]}; add it, or set gaps = \"hold\" to hold the image "
                                 "before a gap", option="path")
        self._start, self._numbers = start, numbers
        from vfx.media.images import check_budget, image_header, memory_limit, read_image
        first_path = Path(pattern % start)
        try:
            self._budget = memory_limit(self.ctx.extras)
            header = image_header(first_path)
            check_budget(first_path, header, self._budget)
            alpha = self.options.alpha
            if alpha is None:
                alpha = header.has_alpha and bool((read_image(first_path)[..., 3] < 255).any())
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        self.video = StreamInfo(header.width, header.height, self.ctx.settings.fps, numbers[-1] - start + 1,
                                bool(alpha))

    def _file(self, frame: int) -> Path:
        """The image shown at ``frame``: its own number, or with gaps held the last one before it."""
        k = bisect.bisect_right(self._numbers, self._start + frame) - 1
        return Path(str(self.options.path) % self._numbers[k])

    def input_files(self):
        return [Path(str(self.options.path) % n) for n in getattr(self, "_numbers", [])]

    def render(self, indices):
        from vfx import color
        from vfx.media.images import ImageRenderError, read_image
        arrays = []
        for i in indices:
            path = self._file(i)
            try:
                arr = read_image(path, self._budget)
            except vfx.MediaError as exc:
                raise ImageRenderError(str(exc), node=self.id) from None
            if arr.shape[:2] != (self.video.height, self.video.width):
                raise ImageRenderError(f"{path} is {arr.shape[1]}x{arr.shape[0]}, the first image is "
                                      f"{self.video.width}x{self.video.height}", node=self.id)
            if not self.video.has_alpha:
                if self.options.alpha is None and (arr[..., 3] < 255).any():
                    raise ImageRenderError(f"{path} uses alpha but the first image of the sequence does not; set "
                                          "alpha = true to keep it (or false to drop it)", node=self.id)
                arr[..., 3] = 255
            arrays.append(arr)
        return FrameBatch(indices, color.to_linear(np.stack(arrays), device=self.device,
                                                   premultiply=self.video.has_alpha))


class ColorSource(vfx.Source):
    """A solid colour (transparent allowed) at the pipeline size or a given one."""

    type = "source.color"

    class Options(vfx.Options):
        color = opt.Color("black", doc="the colour: \"#rrggbb\", \"#rrggbbaa\", a name, or [r, g, b]")
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")
        size = opt.Vec(None, integer=True, min=1, animate=False, doc="[width, height] (default: the pipeline size)")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        color = self.options.color
        alpha = True if isinstance(color, opt.Animated) else color[3] < 1
        self.video = StreamInfo(w, h, s.fps, self.options.duration or s.duration, alpha)

    def render(self, indices):
        from vfx import color, imageops
        rgba = color.linear_rgba(self.options.color)
        return FrameBatch(indices, imageops.constant(len(indices), self.video.width, self.video.height,
                                                     rgba, self.device))


_BARS = [(0.75, 0.75, 0.75), (0.75, 0.75, 0), (0, 0.75, 0.75), (0, 0.75, 0), (0.75, 0, 0.75), (0.75, 0, 0),
         (0, 0, 0.75)]


class TestPattern(vfx.Source):
    """Test patterns drawn on the tensor device, with an optional sine test tone for audio.

    ``bars`` (SMPTE-style colour bars), ``gradient`` (ramps), ``checker``, ``grid``, ``zoneplate``
    (animated) and ``noise`` (seeded per frame). A bright bar sweeps across every pattern once a
    second unless ``sweep = false``, so motion and dropped frames are visible.
    """

    type = "source.testpattern"

    class Options(vfx.Options):
        pattern = opt.Choice("bars", choices=("bars", "gradient", "checker", "grid", "zoneplate", "noise"),
                             doc="which pattern")
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
            img = torch.where(line, torch.tensor(0.9, device=self.device),
                              torch.tensor(0.15, device=self.device)).expand(3, h, w)
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
                    frames.append((0.5 + 0.5 * torch.sin(r2 * math.pi * 1.0 + i / fps * 2 * math.pi))
                                  .expand(3, h, w))
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
                srgb[k, :, :, x0:x0 + bar] = 1.0
        linear = torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        alpha = torch.ones(n, 1, h, w, device=self.device)
        pixels = torch.cat([linear, alpha], 1).contiguous(memory_format=torch.channels_last)
        return FrameBatch(indices, pixels, owned=True)       # a fresh tensor, kept nowhere else

    def render_audio(self, start, count):
        s = self.audio
        t = (np.arange(start, start + count, dtype=np.float64)) / s.sample_rate
        amp = 10 ** (self.options.tone_level / 20)
        wave = amp * np.sin(2 * np.pi * self.options.tone * t)
        if self.options.beep:
            wave *= (t % 1.0) < 0.25
        wave[np.arange(start, start + count) >= s.sample_count] = 0
        return AudioBuffer(np.repeat(wave[None].astype(np.float32), s.channels, axis=0), s.sample_rate)


@vfx.hookimpl
def register_nodes(register):
    for cls in (VideoSource, ImageSource, ImageSequenceSource, ColorSource, TestPattern):
        register(cls)
