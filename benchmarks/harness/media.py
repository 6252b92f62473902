"""Synthetic input media for the benchmarks, made with the ffmpeg binary from imageio-ffmpeg.

Every clip is H.264 High yuv420p with a 2 s GOP and stereo AAC at 128 kb/s: ``testsrc2``,
``mandelbrot`` or a green-screen plate (``testsrc2`` over flat green) with a ``sine`` tone. Besides
the clips: W2's RGBA logo, W4's 1080p still and W6's 33-point ``.cube``. Files are named by their parameters and made once;
delete ``benchmarks/work/`` to make them again.
"""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LOGO_SIZE = (400, 200)
#: the W4 screen colour (a broadcast chroma green) and the size of the W6 look's cube
SCREEN_GREEN = "00b140"
LUT_POINTS = 33
#: W4's plate: ``testsrc2`` moving over a flat green screen (a lavfi graph; its output is ``out0``)
GREENSCREEN = (
    f"color=c=0x{SCREEN_GREEN}:size={{size}}:rate={{fps}}[screen];testsrc2=size=960x720:rate={{fps}}[fg];"
    "[screen][fg]overlay=x='480+240*sin(2*PI*t/4)':y='180+60*cos(2*PI*t/3)'[out0]"
)


@dataclass(frozen=True)
class Clip:
    """One synthetic clip: a lavfi video pattern plus a sine tone."""

    pattern: str  # "testsrc2", "mandelbrot" or "greenscreen"
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

    @property
    def lavfi(self) -> str:
        """The lavfi source of the pictures."""
        size = f"{self.width}x{self.height}"
        if self.pattern == "greenscreen":
            return GREENSCREEN.format(size=size, fps=self.fps)
        return f"{self.pattern}=size={size}:rate={self.fps}"


W1_INPUT = Clip("testsrc2", 1920, 1080, 24, 10, 440)
W2_CLIP_A = Clip("testsrc2", 1920, 1080, 24, 8, 440)
W2_CLIP_B = Clip("mandelbrot", 1920, 1080, 24, 8, 660)
W3_SHORT = Clip("testsrc2", 1280, 720, 30, 10, 440)
W3_LONG = Clip("testsrc2", 1280, 720, 30, 60, 440)
W4_PLATE = Clip("greenscreen", 1920, 1080, 24, 8, 550)


def clip_command(clip: Clip, path: Path) -> list[str]:
    """The ffmpeg command line that writes ``clip`` to ``path``."""
    return [
        FFMPEG,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        clip.lavfi,
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


def make_still(work: Path) -> Path:
    """A 1920x1080 RGB PNG for W4's background: a warm-to-cool diagonal gradient with soft rings."""
    path = work / "still_1080p.png"
    if not path.exists():
        y, x = np.mgrid[0:1080, 0:1920].astype(np.float32)
        t = (x / 1919 + y / 1079) / 2
        rings = 0.5 + 0.5 * np.cos(np.hypot(x - 1400, y - 300) / 40)
        rgb = np.stack([0.9 - 0.6 * t, 0.3 + 0.3 * rings * (1 - t), 0.2 + 0.7 * t], axis=-1)
        Image.fromarray(np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), "RGB").save(path)
    return path


def make_cube(work: Path) -> Path:
    """W6's look as a 33-point .cube: ``pipelines/luts/make_warm_cube.py``'s warm look, finer."""
    path = work / f"warm_{LUT_POINTS}.cube"
    if not path.exists():
        maker = Path(__file__).resolve().parents[2] / "pipelines" / "luts" / "make_warm_cube.py"
        spec = importlib.util.spec_from_file_location("make_warm_cube", maker)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        path.write_text(module.cube_text(LUT_POINTS))
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
        "w4_plate": make_clip(W4_PLATE, work),
        "still": make_still(work),
        "cube": make_cube(work),
    }
