"""``source.video``: video files (with their audio)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

import vfx
from vfx import AudioBuffer, ConfigureError, FrameBatch, StreamInfo, opt
from vfx.media import MATRIX_CHOICES, RANGE_CHOICES, TRANSFER_CHOICES

from ._common import _audio_info


def _to_pixels(frames: list, device, has_alpha: bool):
    """Decoded frames (tagged by ``colorspace.tag``) to the graph's linear RGBA, 16 bits deep when they are."""
    from vfx.media import to_rgba_batch
    from vfx.ops import color

    return color.to_linear(to_rgba_batch(frames), device=device, premultiply=has_alpha)


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
        audio_track = opt.Int(0, min=0, animate=False, doc="which audio track, 0-based among the file's audio streams")
        rotate = _Rotate(
            "auto",
            choices=("auto", "none", "0", "90", "180", "270"),
            doc="turn the picture: auto (by the file's display matrix, as players do), none, or "
            "a clockwise angle instead of the file's",
        )
        pixel_aspect = opt.Choice(
            "square",
            choices=("square", "keep"),
            doc="non-square pixels (a sample aspect ratio): square scales the width as "
            "ffmpeg's scale=iw*sar:ih does; keep passes the stored size and SAR on",
        )
        alpha = opt.Choice(
            "auto",
            choices=("auto", "on", "off"),
            doc="alpha: auto (when the format carries it; PNG and GIF: when the first frames "
            "use it), on, or off (opaque)",
        )
        color_matrix = opt.Choice(
            "auto",
            choices=MATRIX_CHOICES,
            doc="YUV matrix of the file (auto: its tags; untagged: bt601 below 720 lines, bt709 from 720)",
        )
        color_range = opt.Choice(
            "auto",
            choices=RANGE_CHOICES,
            doc="YUV range of the file (auto: its tags; yuvj formats are full; untagged: limited)",
        )
        color_transfer = opt.Choice(
            "auto",
            choices=TRANSFER_CHOICES,
            doc="transfer curve of the file (auto: its tags); the graph reads every SDR curve as sRGB and "
            "refuses pq/hlg (HDR) where a node changes pixels; a pass-through keeps this tag",
        )

    def configure(self):
        from vfx.media import probe

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
        if v.alpha_in_format and not has_alpha:  # decoded alpha the graph must not see
            self._filters.append(("format", _without_alpha(v.pix_fmt)))
        self.video = StreamInfo(width, height, fps, count, has_alpha, sar=sar)
        self._audio_track = None
        if info.audio_tracks and o.audio:
            if o.audio_track >= len(info.audio_tracks):
                raise ConfigureError(
                    f"{o.path.name} has {len(info.audio_tracks)} audio track"
                    f"{'s' if len(info.audio_tracks) != 1 else ''} (0-based); there is no track "
                    f"{o.audio_track}",
                    option="audio_track",
                )
            self._audio_track = o.audio_track
        elif o.audio_track and o.audio:
            raise ConfigureError(f"{o.path.name} has no audio track", option="audio_track")
        self.audio = _audio_info(self, count) if self._audio_track is not None else None
        self._reader = self._audio_reader = None

    def _geometry(self, v):
        """(filters, upright size, SAR) for the stored pictures of track ``v`` under the options."""
        from vfx.media import rotation_filters, upright_filters

        rotate = self.options.rotate
        try:
            filters = (
                upright_filters(v.display_matrix)
                if rotate == "auto"
                else rotation_filters(0 if rotate == "none" else int(rotate))
            )
        except vfx.MediaError as exc:
            raise ConfigureError(f"{self.options.path.name}: {exc}", option="rotate") from None
        width, height, sar = v.width, v.height, v.sar
        if any(name == "transpose" for name, _ in filters):
            width, height, sar = height, width, 1 / sar
        if sar != 1 and self.options.pixel_aspect == "square":
            width = max(1, int(width * float(sar)))  # as ffmpeg's scale=iw*sar:ih (truncated)
            filters.append(("scale", f"{width}:{height}"))
            filters.append(("setsar", "1"))
            sar = Fraction(1)
        return filters, (width, height), sar

    def input_files(self):
        return [self.options.path]

    def open(self):
        from vfx.media import AudioReader, VideoReader

        self._reader = VideoReader(
            self.options.path, self.track.index, self.video.fps, self._filters, sar=self.track.sar
        )
        if self.audio:
            self._audio_reader = AudioReader(
                self.options.path,
                self.audio.sample_rate,
                self.audio.channels,
                origin=self.track.start_time,
                track=self._audio_track,
            )

    def render(self, indices):
        if self._reader is None:
            self.open()
        from vfx.media import tag

        o = self.options
        frames = tag(self._reader.frames(indices), o.color_matrix, o.color_range, o.color_transfer)
        return FrameBatch(indices, native=frames, size=(self.video.width, self.video.height), convert=self._pixels_of)

    def _pixels_of(self, frames: list):
        """The decoded frames in the graph's linear RGBA (when a node asks for pixels), errors named."""
        try:
            return _to_pixels(frames, self.device, self.video.has_alpha)
        except vfx.MediaError as exc:
            raise vfx.MediaError(f"node '{self.id}': option 'path': {self.options.path}: {exc}") from None

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
