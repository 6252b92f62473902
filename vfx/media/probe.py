"""What a media file holds, read without decoding more than needed."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError


@dataclass
class VideoTrack:
    """The first video stream of a file."""

    width: int
    height: int
    fps: Fraction
    frame_count: int
    codec: str
    pix_fmt: str
    has_alpha: bool
    start_time: float


@dataclass
class AudioTrack:
    """The first audio stream of a file."""

    sample_rate: int
    channels: int
    duration: float
    codec: str


@dataclass
class MediaInfo:
    """Tracks and container of a media file."""

    path: Path
    container: str
    duration: float
    video: VideoTrack | None
    audio: AudioTrack | None

    def as_dict(self) -> dict:
        out = {"path": str(self.path), "container": self.container, "duration": round(self.duration, 6)}
        if self.video:
            v = self.video
            out["video"] = {"width": v.width, "height": v.height, "fps": str(v.fps), "frames": v.frame_count,
                            "codec": v.codec, "pix_fmt": v.pix_fmt, "alpha": v.has_alpha}
        if self.audio:
            a = self.audio
            out["audio"] = {"sample_rate": a.sample_rate, "channels": a.channels,
                            "duration": round(a.duration, 6), "codec": a.codec}
        return out


def open_container(path: Path):
    import av
    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MediaError(f"cannot open {path}: {reason} (not a media file PyAV can read?)") from None


def probe(path: str | Path, count_frames: bool = True) -> MediaInfo:
    """Read the tracks of ``path``; raise ``MediaError`` when it is not readable media."""
    path = Path(path)
    with open_container(path) as container:
        duration = (container.duration or 0) / 1_000_000
        video = audio = None
        if container.streams.video:
            vs = container.streams.video[0]
            ctx = vs.codec_context
            rate = vs.average_rate or vs.guessed_rate or vs.base_rate
            if not rate:
                raise MediaError(f"{path}: the video stream has no frame rate")
            fps = Fraction(rate.numerator, rate.denominator)
            frames = vs.frames
            if not frames or frames <= 0:
                if count_frames:
                    frames = sum(1 for p in container.demux(vs) if p.size)
                else:
                    frames = round((float(vs.duration * vs.time_base) if vs.duration else duration) * fps)
            fmt = ctx.format.name if ctx.format else (ctx.pix_fmt or "")
            has_alpha = bool(ctx.format and any(c.is_alpha for c in ctx.format.components))
            start = float(vs.start_time * vs.time_base) if vs.start_time is not None else 0.0
            video = VideoTrack(ctx.width, ctx.height, fps, int(frames), ctx.name, fmt, has_alpha, start)
        if container.streams.audio:
            a = container.streams.audio[0]
            a_dur = float(a.duration * a.time_base) if a.duration else duration
            audio = AudioTrack(a.codec_context.sample_rate, a.codec_context.channels, a_dur, a.codec_context.name)
        if video is None and audio is None:
            raise MediaError(f"{path}: no video or audio stream")
        return MediaInfo(path, container.format.name, duration, video, audio)
