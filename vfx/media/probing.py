"""What a media file holds, read without decoding more than needed.

The video track's timing comes from its packets (``vfx.media.index``): frame count, duration in
presentation time, whether the rate varies, and the nominal rate (a phone's 29.97 clip on a
600-tick clock says 30000/1001, not its 36000/1201 average). Geometry and tags come from the
stream and its first decoded frame: rotation and flips (the display matrix), sample aspect ratio,
field order, colour tags, and whether the pictures use the alpha their format carries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError
from .colorspace import PRIMARIES

#: codecs and pixel formats whose alpha is often present but unused: they have alpha only when
#: decoded pictures use it
_ALPHA_CHECKED_CODECS = ("png", "gif", "apng", "qtrle", "webp")
_ALPHA_CHECK_FRAMES = 8

_TRANSFER = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
_MATRIX = {
    0: "gbr",
    1: "bt709",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "ycgco",
    9: "bt2020nc",
    10: "bt2020c",
    14: "ictcp",
}
_RANGE = {1: "tv", 2: "pc"}
_FIELD_ORDER = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}


@dataclass
class VideoTrack:
    """The first video stream of a file (its stored pictures; ``upright_filters`` turns them)."""

    width: int
    height: int
    fps: Fraction  # nominal rate
    frame_count: int
    codec: str
    pix_fmt: str
    has_alpha: bool  # the pictures use alpha (the format carries it, and for PNG/GIF: used)
    start_time: float  # seconds, the first frame's presentation time
    duration: float = 0.0  # presentation time from the first frame's start to the last one's end
    vfr: bool = False
    average_fps: Fraction = Fraction(0)
    sar: Fraction = Fraction(1)  # sample (pixel) aspect ratio
    display_matrix: tuple | None = None
    rotation: int = 0  # degrees clockwise the stored picture is turned to be upright
    field_order: str = "unknown"
    color: dict = field(default_factory=dict)  # primaries, transfer, matrix, range (names; absent: unknown)
    alpha_in_format: bool = False
    index: object = field(default=None, repr=False)  # the FrameIndex (None when not counted)


@dataclass
class AudioTrack:
    """One audio stream of a file."""

    sample_rate: int
    channels: int
    duration: float
    codec: str
    track: int = 0  # 0-based among the file's audio streams
    start_time: float = 0.0
    language: str | None = None


@dataclass
class MediaInfo:
    """Tracks and container of a media file."""

    path: Path
    container: str
    duration: float
    video: VideoTrack | None
    audio: AudioTrack | None  # the first audio track
    audio_tracks: list[AudioTrack] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = {"path": str(self.path), "container": self.container, "duration": round(self.duration, 6)}
        if self.video:
            v = self.video
            out["video"] = {
                "width": v.width,
                "height": v.height,
                "fps": str(v.fps),
                "frames": v.frame_count,
                "codec": v.codec,
                "pix_fmt": v.pix_fmt,
                "alpha": v.has_alpha,
                "vfr": v.vfr,
                "average_fps": str(v.average_fps),
                "start_time": round(v.start_time, 6),
                "duration": round(v.duration, 6),
                "rotation": v.rotation,
                "sar": str(v.sar),
                "field_order": v.field_order,
                "color": v.color,
            }
            if mirrored(v.display_matrix):
                out["video"]["mirrored"] = True
        if self.audio:
            a = self.audio
            out["audio"] = _audio_dict(a)
        if len(self.audio_tracks) > 1:
            out["audio_tracks"] = [_audio_dict(a) for a in self.audio_tracks]
        return out


def _audio_dict(a: AudioTrack) -> dict:
    d = {
        "track": a.track,
        "sample_rate": a.sample_rate,
        "channels": a.channels,
        "duration": round(a.duration, 6),
        "codec": a.codec,
        "start_time": round(a.start_time, 6),
    }
    if a.language:
        d["language"] = a.language
    return d


def open_container(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MediaError(f"cannot open {path}: {reason} (not a media file PyAV can read?)") from None


def rotation_of(matrix) -> float:
    """Degrees clockwise the picture is turned for display (ffmpeg's ``get_rotation``), in [0, 360)."""
    if not matrix:
        return 0.0
    sx, sy = math.hypot(matrix[0], matrix[3]), math.hypot(matrix[1], matrix[4])
    if not sx or not sy:
        return 0.0
    theta = round(math.degrees(math.atan2(matrix[1] / sy, matrix[0] / sx)))  # -av_display_rotation_get
    return theta - 360 * math.floor(theta / 360 + 0.9 / 360)


def mirrored(matrix) -> bool:
    """Whether a display matrix mirrors the picture (besides turning it)."""
    return bool(matrix) and matrix[0] * matrix[4] - matrix[1] * matrix[3] < 0


def upright_filters(matrix) -> list[tuple[str, str]]:
    """The libavfilter chain that shows a picture upright, as the ffmpeg CLI's autorotate builds it."""
    if not matrix:
        return []
    theta = rotation_of(matrix)
    if abs(theta - 90) < 1:
        return [("transpose", "cclock_flip" if matrix[3] > 0 else "clock")]
    if abs(theta - 180) < 1:
        return ([("hflip", "")] if matrix[0] < 0 else []) + ([("vflip", "")] if matrix[4] < 0 else [])
    if abs(theta - 270) < 1:
        return [("transpose", "clock_flip" if matrix[3] < 0 else "cclock")]
    if abs(theta) < 1:
        return [("vflip", "")] if matrix[4] < 0 else []
    raise MediaError(
        f"the display matrix turns the picture by {theta:g} degrees; only multiples of 90 are "
        'supported (set rotate = "none" to ignore it)'
    )


def rotation_filters(degrees: int) -> list[tuple[str, str]]:
    """The chain that turns a picture ``degrees`` (0, 90, 180, 270) clockwise."""
    return {0: [], 90: [("transpose", "clock")], 180: [("hflip", ""), ("vflip", "")], 270: [("transpose", "cclock")]}[
        degrees % 360
    ]


def probe(path: str | Path, count_frames: bool = True) -> MediaInfo:
    """Read the tracks of ``path``; raise ``MediaError`` when it is not readable media.

    ``count_frames``: index the video stream's packets (frame count, presentation times, rate);
    without it the count is estimated from the duration and nothing is decoded.
    """
    path = Path(path)
    with open_container(path) as container:
        duration = (container.duration or 0) / 1_000_000
        video = None
        if container.streams.video:
            video = _video_track(path, container, count_frames, duration)
        tracks = []
        for k, a in enumerate(container.streams.audio):
            a_dur = float(a.duration * a.time_base) if a.duration else duration
            start = float(a.start_time * a.time_base) if a.start_time is not None and a.time_base else 0.0
            tracks.append(
                AudioTrack(
                    a.codec_context.sample_rate,
                    a.codec_context.channels,
                    a_dur,
                    a.codec_context.name,
                    k,
                    start,
                    a.language,
                )
            )
        if video is None and not tracks:
            raise MediaError(f"{path}: no video or audio stream")
        return MediaInfo(path, container.format.name, duration, video, tracks[0] if tracks else None, tracks)


def _video_track(path: Path, container, count_frames: bool, duration: float) -> VideoTrack:
    vs = container.streams.video[0]
    ctx = vs.codec_context
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    if not rate:
        raise MediaError(f"{path}: the video stream has no frame rate")
    fmt = ctx.format.name if ctx.format else (ctx.pix_fmt or "")
    alpha_in_format = bool(ctx.format and any(c.is_alpha for c in ctx.format.components)) or fmt == "pal8"
    start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
    sar = vs.sample_aspect_ratio or ctx.sample_aspect_ratio
    sar = Fraction(sar.numerator, sar.denominator) if sar else Fraction(1)
    color = {
        name: table[v]
        for name, table, v in (
            ("primaries", PRIMARIES, ctx.color_primaries),
            ("transfer", _TRANSFER, ctx.color_trc),
            ("matrix", _MATRIX, ctx.colorspace),
            ("range", _RANGE, ctx.color_range),
        )
        if v in table
    }
    track = VideoTrack(
        ctx.width,
        ctx.height,
        Fraction(rate.numerator, rate.denominator),
        0,
        ctx.name,
        fmt,
        alpha_in_format,
        start,
        sar=sar,
        field_order=_FIELD_ORDER.get(int(ctx.field_order or 0), "unknown"),
        color=color,
        alpha_in_format=alpha_in_format,
    )
    track.average_fps = track.fps
    if not count_frames:
        frames = vs.frames
        if not frames or frames <= 0:
            frames = round((float(vs.duration * vs.time_base) if vs.duration else duration) * track.fps)
        track.frame_count = int(frames)
        track.duration = frames / track.fps
        return track
    from .index import frame_index, nominal_rate

    index = frame_index(path)
    track.index = index
    track.frame_count = len(index)
    track.duration = float(index.duration)
    track.start_time = float(index.origin * index.time_base) if index.exact else start
    track.vfr = index.is_vfr
    if len(index) > 1:
        track.average_fps = index.average_rate
        track.fps = index.rate
    else:
        track.fps = nominal_rate(track.fps)
    _inspect_frames(path, container, track)
    return track


def _inspect_frames(path: Path, container, track: VideoTrack):
    """Display matrix, field order and alpha use from the first decoded frames."""
    import av

    vs = container.streams.video[0]
    check_alpha = track.alpha_in_format and (track.codec in _ALPHA_CHECKED_CODECS or track.pix_fmt == "pal8")
    used = False
    try:
        for n, frame in enumerate(container.decode(vs)):
            if n == 0:
                matrix = next((sd for sd in frame.side_data if sd.type.name == "DISPLAYMATRIX"), None)
                if matrix is not None:
                    import numpy as np

                    values = tuple(int(x) for x in np.frombuffer(bytes(matrix), np.int32)[:9])
                    track.display_matrix = values
                    track.rotation = int(rotation_of(values))
                if track.field_order == "unknown" and not frame.interlaced_frame:
                    track.field_order = "progressive"
                if not track.pix_fmt:
                    track.pix_fmt = frame.format.name
            if not check_alpha:
                break
            if frame.to_ndarray(format="rgba")[..., 3].min() < 255:
                used = True
                break
            if n + 1 >= _ALPHA_CHECK_FRAMES:
                break
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: the first video frame cannot be decoded: {exc}") from None
    if check_alpha:
        track.has_alpha = used
