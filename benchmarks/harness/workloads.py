"""The workloads and, for each, the command line that runs it in each tool.

Every tool writes libx264 ``veryfast`` crf 20 yuv420p with AAC at 192 kb/s (the rate vfx's
encoder uses; it has no option for it) into an MP4, and leaves its codec threading at the default.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .media import FFMPEG, W1_INPUT, W2_CLIP_A, W3_LONG, W3_SHORT

BENCH_DIR = Path(__file__).resolve().parent.parent
PIPELINES = BENCH_DIR / "pipelines"
VFX = Path(sys.executable).with_name("vfx")
TOOLS = ("vfx", "ffmpeg", "moviepy")

ENCODE_ARGS = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "20",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "192k",
]

W2_SECONDS = 6
W2_FRAMES = W2_CLIP_A.fps * W2_SECONDS
W2_FILTER = ";".join(
    [
        "[1:v]scale=960:540,format=yuva420p,colorchannelmixer=aa=0.7[b]",
        "[0:v][b]overlay=x=100:y=100[ab]",
        "[ab][2:v]overlay=x=1480:y=40,fade=t=in:st=0:d=1,format=yuv420p[v]",
    ]
)

#: W2T: W2 with a 72 px title, drawn with the DejaVu Sans that vfx bundles (the same file in every tool)
TITLE_FONT = BENCH_DIR.parent / "plugins" / "text" / "fonts" / "DejaVuSans.ttf"
TITLE_TEXT = "Summer Sale"
W2T_FILTER = ";".join(
    [
        "[1:v]scale=960:540,format=yuva420p,colorchannelmixer=aa=0.7[b]",
        "[0:v][b]overlay=x=100:y=100[ab]",
        f"[ab][2:v]overlay=x=1480:y=40,drawtext=fontfile={TITLE_FONT}:text='{TITLE_TEXT}':fontsize=72:"
        "fontcolor=white:x=(w-text_w)/2:y=h*0.85-text_h/2,fade=t=in:st=0:d=1,format=yuv420p[v]",
    ]
)


@dataclass(frozen=True)
class Workload:
    """One job, described once for each tool. ``group`` is the name ``--only`` selects by."""

    name: str
    group: str
    summary: str
    frames: int
    pipeline: str
    vfx_vars: dict[str, Path]
    ffmpeg_inputs: list[str]
    moviepy_script: str
    moviepy_args: list[Path]
    ffmpeg_graph: list[str] = field(default_factory=list)

    def vfx_command(self, verb: str, output: Path) -> list[str]:
        """``vfx VERB`` (render or validate) on this workload's pipeline, inputs and output set."""
        sets = [
            arg for key, value in {**self.vfx_vars, "output": output}.items() for arg in ("--set", f"{key}={value}")
        ]
        return [str(VFX), verb, str(PIPELINES / self.pipeline), *sets]

    def command(self, tool: str, output: Path) -> list[str]:
        """The command line that makes ``tool`` write this workload to ``output``."""
        if tool == "vfx":
            return self.vfx_command("render", output) + ["--quiet"]
        if tool == "ffmpeg":
            return [
                FFMPEG,
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-y",
                *self.ffmpeg_inputs,
                *self.ffmpeg_graph,
                *ENCODE_ARGS,
                str(output),
            ]
        if tool == "moviepy":
            return [sys.executable, str(BENCH_DIR / self.moviepy_script), *map(str, self.moviepy_args), str(output)]
        raise ValueError(f"unknown tool {tool!r}")


def transcode(name: str, group: str, summary: str, source: Path, frames: int, pipeline: str, script: str) -> Workload:
    """A plain re-encode of ``source`` with its audio."""
    return Workload(
        name=name,
        group=group,
        summary=summary,
        frames=frames,
        pipeline=pipeline,
        vfx_vars={"input": source},
        ffmpeg_inputs=["-i", str(source)],
        moviepy_script=script,
        moviepy_args=[source],
    )


def composite(clip_a: Path, clip_b: Path, logo: Path) -> Workload:
    """W2: clip A trimmed, clip B scaled and translucent on top, a logo, a fade from black."""
    return Workload(
        name="W2",
        group="W2",
        frames=W2_FRAMES,
        pipeline="w2.toml",
        summary="composite 1080p24: 6 s of A + B 960x540 @70% + RGBA logo + 1 s fade in",
        vfx_vars={"clip_a": clip_a, "clip_b": clip_b, "logo": logo},
        ffmpeg_inputs=[
            "-t",
            str(W2_SECONDS),
            "-i",
            str(clip_a),
            "-t",
            str(W2_SECONDS),
            "-i",
            str(clip_b),
            "-i",
            str(logo),
        ],
        ffmpeg_graph=["-filter_complex", W2_FILTER, "-map", "[v]", "-map", "0:a"],
        moviepy_script="moviepy_w2.py",
        moviepy_args=[clip_a, clip_b, logo],
    )


def titled_composite(clip_a: Path, clip_b: Path, logo: Path) -> Workload:
    """W2T: W2 with a 72 px title (``source.text`` / ``drawtext`` / ``TextClip``) under the fade."""
    w2 = composite(clip_a, clip_b, logo)
    return Workload(
        name="W2T",
        group="W2T",
        frames=W2_FRAMES,
        pipeline="w2t.toml",
        summary="W2 + a 72 px title (DejaVu Sans) under the fade",
        vfx_vars={**w2.vfx_vars, "font": TITLE_FONT},
        ffmpeg_inputs=w2.ffmpeg_inputs,
        ffmpeg_graph=["-filter_complex", W2T_FILTER, "-map", "[v]", "-map", "0:a"],
        moviepy_script="moviepy_w2t.py",
        moviepy_args=[clip_a, clip_b, logo, TITLE_FONT],
    )


def all_workloads(inputs: dict[str, Path]) -> list[Workload]:
    """Every workload, in the order they run, on the inputs ``media.make_all`` made."""
    return [
        transcode(
            "W1", "W1", "transcode 1080p24 10 s, audio kept", inputs["w1"], W1_INPUT.frames, "w1.toml", "moviepy_w1.py"
        ),
        composite(inputs["w2_a"], inputs["w2_b"], inputs["logo"]),
        titled_composite(inputs["w2_a"], inputs["w2_b"], inputs["logo"]),
        transcode(
            "W3-10s", "W3", "re-encode 720p30 10 s", inputs["w3_10s"], W3_SHORT.frames, "w3.toml", "moviepy_w3.py"
        ),
        transcode(
            "W3-60s", "W3", "re-encode 720p30 60 s", inputs["w3_60s"], W3_LONG.frames, "w3.toml", "moviepy_w3.py"
        ),
    ]
