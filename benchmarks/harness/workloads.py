"""The workloads and, for each, the command line that runs it in each tool.

Every tool writes libx264 ``veryfast`` crf 20 yuv420p with AAC at 192 kb/s (the rate vfx's
encoder uses; it has no option for it) into an MP4, and leaves its codec threading at the default.
The single-effect workloads (W3G, W4, W5, W6) set each ffmpeg filter up as its users would, and
have a MoviePy side only where MoviePy has the effect (W3G's ``LumContrast``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .media import FFMPEG, SCREEN_GREEN, W1_INPUT, W2_CLIP_A, W3_LONG, W3_SHORT, W4_PLATE

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


#: W3G: brightness/contrast. vfx: a third of a stop brighter, contrast 1.2 around linear mid-grey;
#: ffmpeg's eq and MoviePy's LumContrast: 0.05 (12 codes) brighter, contrast 1.2 around mid-code
W3G_FILTER = "eq=brightness=0.05:contrast=1.2"
#: W4: the key over the still, which is decoded and converted once and repeated by ``loop`` (``-loop 1``
#: on the input would decode the PNG again for every frame: about half the run's time)
W4_FILTER = (
    "[0:v]format=yuv420p,loop=loop=-1:size=1[bg];"
    f"[1:v]chromakey=color=0x{SCREEN_GREEN}:similarity=0.12:blend=0.08[fg];"
    "[bg][fg]overlay=shortest=1,format=yuv420p[v]"
)
W5_SIGMA = 10
W5_FILTER = f"gblur=sigma={W5_SIGMA}"


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
    moviepy_script: str | None
    moviepy_args: list[Path]
    ffmpeg_graph: list[str] = field(default_factory=list)

    def runs_in(self, tool: str) -> bool:
        """Whether ``tool`` has a side in this workload (MoviePy lacks some effects)."""
        return tool != "moviepy" or self.moviepy_script is not None

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
        if tool == "moviepy" and self.moviepy_script is not None:
            return [sys.executable, str(BENCH_DIR / self.moviepy_script), *map(str, self.moviepy_args), str(output)]
        raise ValueError(f"unknown tool {tool!r}")


def transcode(
    name: str,
    group: str,
    summary: str,
    source: Path,
    frames: int,
    pipeline: str,
    script: str | None,
    video_filter: str | None = None,
    **vfx_vars: Path,
) -> Workload:
    """A re-encode of ``source`` with its audio, through ``video_filter`` (ffmpeg ``-vf``) if given."""
    return Workload(
        name=name,
        group=group,
        summary=summary,
        frames=frames,
        pipeline=pipeline,
        vfx_vars={"input": source, **vfx_vars},
        ffmpeg_inputs=["-i", str(source)],
        ffmpeg_graph=["-vf", video_filter] if video_filter else [],
        moviepy_script=script,
        moviepy_args=[source],
    )


def chroma_key(plate: Path, still: Path) -> Workload:
    """W4: a green-screen plate keyed over a still, the plate's audio."""
    return Workload(
        name="W4",
        group="W4",
        frames=W4_PLATE.frames,
        pipeline="w4.toml",
        summary="chroma key 1080p24 8 s: a green-screen plate over a 1080p still",
        vfx_vars={"plate": plate, "still": still},
        ffmpeg_inputs=["-framerate", str(W4_PLATE.fps), "-i", str(still), "-i", str(plate)],
        ffmpeg_graph=["-filter_complex", W4_FILTER, "-map", "[v]", "-map", "1:a"],
        moviepy_script=None,
        moviepy_args=[],
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
        transcode(
            "W3G",
            "W3G",
            "W3-10s with a brightness/contrast change (effect.grade / eq / LumContrast)",
            inputs["w3_10s"],
            W3_SHORT.frames,
            "w3g.toml",
            "moviepy_w3g.py",
            W3G_FILTER,
        ),
        chroma_key(inputs["w4_plate"], inputs["still"]),
        transcode(
            "W5",
            "W5",
            f"Gaussian blur sigma {W5_SIGMA}, 1080p24 8 s (effect.blur / gblur)",
            inputs["w2_a"],
            W2_CLIP_A.frames,
            "w5.toml",
            None,
            W5_FILTER,
        ),
        transcode(
            "W6",
            "W6",
            "33-point .cube LUT, 1080p24 8 s (effect.grade lut / lut3d)",
            inputs["w2_a"],
            W2_CLIP_A.frames,
            "w6.toml",
            None,
            f"lut3d=file={inputs['cube']}",
            lut=inputs["cube"],
        ),
    ]
