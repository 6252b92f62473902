"""Synthetic input media for the benchmarks, made with the ffmpeg binary from imageio-ffmpeg.

Every clip is H.264 High yuv420p with a 2 s GOP and stereo AAC at 128 kb/s: ``testsrc2`` or
``mandelbrot`` video with a ``sine`` tone. Files are named by their parameters and made once;
delete ``benchmarks/work/`` to make them again.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LOGO_SIZE = (400, 200)


@dataclass(frozen=True)
class Clip:
    """One synthetic clip: a lavfi video pattern plus a sine tone."""

    pattern: str  # "testsrc2" or "mandelbrot"
    width: int
    height: int
    fps: int
    seconds: int
    tone_hz: int

    @property
    def name(self) -> str:
        return f"{self.pattern}_{self.height}p{self.fps}_{self.seconds}s.mp4"

    @property
    def frames(self) -> int:
        return self.fps * self.seconds


W1_INPUT = Clip("testsrc2", 1920, 1080, 24, 10, 440)
W2_CLIP_A = Clip("testsrc2", 1920, 1080, 24, 8, 440)
W2_CLIP_B = Clip("mandelbrot", 1920, 1080, 24, 8, 660)
W3_SHORT = Clip("testsrc2", 1280, 720, 30, 10, 440)
W3_LONG = Clip("testsrc2", 1280, 720, 30, 60, 440)


def clip_command(clip: Clip, path: Path) -> list[str]:
    """The ffmpeg command line that writes ``clip`` to ``path``."""
    size = f"{clip.width}x{clip.height}"
    return [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{clip.pattern}=size={size}:rate={clip.fps}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={clip.tone_hz}:sample_rate=48000",
        "-t",
        str(clip.seconds),
        "-c:v",
        "libx264",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-preset",
        "fast",
        "-crf",
        "18",
        "-g",
        str(2 * clip.fps),
        "-keyint_min",
        str(2 * clip.fps),
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        str(path),
    ]


def make_clip(clip: Clip, work: Path) -> Path:
    """Write ``clip`` into ``work`` unless it is already there; return its path."""
    path = work / clip.name
    if not path.exists():
        partial = path.with_name("partial_" + path.name)
        subprocess.run(clip_command(clip, partial), check=True)
        partial.rename(path)
    return path


def make_logo(work: Path) -> Path:
    """A 400x200 RGBA PNG: a soft translucent plate with an opaque badge, transparent elsewhere."""
    path = work / "logo_400x200.png"
    if not path.exists():
        logo = Image.new("RGBA", LOGO_SIZE, (0, 0, 0, 0))
        draw = ImageDraw.Draw(logo)
        draw.rounded_rectangle((0, 0, 399, 199), radius=40, fill=(20, 40, 90, 140))
        draw.ellipse((20, 20, 180, 180), fill=(255, 150, 0, 255))
        draw.rectangle((200, 70, 380, 130), fill=(255, 255, 255, 230))
        logo.save(path)
    return path


def make_all(work: Path) -> dict[str, Path]:
    """Every input the workloads use, keyed by role."""
    work.mkdir(parents=True, exist_ok=True)
    return {
        "w1": make_clip(W1_INPUT, work),
        "w2_a": make_clip(W2_CLIP_A, work),
        "w2_b": make_clip(W2_CLIP_B, work),
        "logo": make_logo(work),
        "w3_10s": make_clip(W3_SHORT, work),
        "w3_60s": make_clip(W3_LONG, work),
    }
