"""Every example pipeline in pipelines/ renders, and the engine's memory does not grow with length."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import decode_audio, run_vfx, stream_info, write_pipeline

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = sorted((ROOT / "pipelines").glob("*.toml"))


@pytest.fixture(scope="module", autouse=True)
def assets():
    subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / "make_assets.py"), str(ROOT / "out" / "assets")],
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.stem)
def test_example_pipeline_renders(tmp_path, pipeline):
    out = tmp_path / f"{pipeline.stem}.mp4"
    res = run_vfx("render", pipeline, "--set", f"output={out}")
    assert res.returncode == 0, res.stderr
    check = run_vfx("validate", pipeline, "--set", f"output={out}")
    expected = int(check.stdout.split(" frames")[0].rsplit(" ", 1)[-1])
    info = stream_info(out)
    assert info["frames"] == expected and info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    if info["audio_codec"]:
        assert abs(decode_audio(out).shape[1] / 48000 - expected / 24) <= 1 / 24
    if pipeline.stem == "showcase":  # what `make demo` promises
        assert (info["width"], info["height"], info["audio_codec"], info["frames"]) == (1280, 720, "aac", 180)


MEMORY = """
    [pipeline]
    width = 640
    height = 360
    duration = {frames}
    [nodes.bars]
    type = "source.testpattern"
    pattern = "zoneplate"
    tone = 440
    [nodes.small]
    type = "source.testpattern"
    pattern = "checker"
    size = [320, 180]
    [nodes.comp]
    type = "editor.composite"
    layers = ["bars", {{ input = "small", position = [100, 100], opacity = 0.5 }}]
    [nodes.out]
    type = "encode.video"
    input = "comp"
    path = "o{frames}.mp4"
    preset = "ultrafast"
"""

PEAK = (
    "import resource, sys; from vfx.cli import main; sys.argv = ['vfx', 'render', '-q', sys.argv[1]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
)


@pytest.mark.slow
def test_memory_does_not_grow_with_length(tmp_path):
    peaks = {}
    for frames in (96, 480):
        p = write_pipeline(tmp_path, MEMORY.format(frames=frames), f"m{frames}.toml")
        res = subprocess.run([sys.executable, "-c", PEAK, str(p)], capture_output=True, text=True)
        assert (tmp_path / f"o{frames}.mp4").exists(), res.stderr
        peaks[frames] = int(res.stdout.strip().splitlines()[-1])
    print(peaks)
    assert peaks[480] <= peaks[96] * 1.10, peaks
