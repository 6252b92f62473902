"""Bounded cost and bad media: headers are read before anything is decoded or allocated, a long
timeline costs no more than a short one, and media that cannot be used gives exit code 2 with a
message naming the file, the node and the option, touching nothing but the declared outputs.

Peak memory is the measured maximum RSS of the vfx process (``ru_maxrss`` of a wrapper's child).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from vfx.graph import build_for_preview
from vfx.pipeline import load

from conftest import VFX, decode_frames, make_png, write_pipeline

MB = 1 << 20
#: generous peak-RSS bounds: the interpreter with torch imported is ~300 MB
SMALL = 700 * MB
_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=120)\n"
    "json.dump({'rc': p.returncode, 'out': p.stdout + p.stderr,\n"
    "           'rss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024},\n"
    "          open(sys.argv[1], 'w'))\n"
)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run(folder: Path, *args, rc: int, fragments=(), outputs=(), max_rss: int = SMALL, env=None) -> str:
    """Run ``vfx ARGS`` in ``folder``; check its exit code, message fragments, peak RSS, that it printed no
    traceback and that no file but ``outputs`` (paths relative to ``folder``) was created or changed."""
    folder = Path(folder)
    before = _snapshot(folder)
    report = folder.parent / f"{folder.name}-run.json"
    subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(report), VFX, *map(str, args)],
        cwd=folder,
        check=True,
        timeout=150,
        env=dict(os.environ, VFX_MAX_FRAMES="1000000000", **(env or {})),
    )
    result = json.loads(report.read_text())
    out = result["out"]
    assert result["rc"] == rc, out
    assert "Traceback" not in out and "internal error" not in out, out
    for fragment in fragments:
        assert fragment in out, out
    assert result["rss"] < max_rss, f"peak RSS {result['rss'] / MB:.0f} MB"
    after = _snapshot(folder)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= set(outputs), f"files changed beyond the declared outputs: {sorted(changed - set(outputs))}"
    return out


def grey_png(path: Path, level: int, size=(16, 16), alpha: int = 255) -> Path:
    rgba = np.zeros((size[1], size[0], 4), np.uint8)
    rgba[..., :3] = level
    rgba[..., 3] = 255
    rgba[0, 0, 3] = alpha
    return make_png(path, rgba)


def huge_png(path: Path, width: int, height: int) -> Path:
    """A 1-bit grey PNG of ``width`` x ``height``, all black: a few tens of kB on disk."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


SEQUENCE = """
    [pipeline]
    width = 16
    height = 16
    fps = 24
    duration = 7
    [nodes.seq]
    type = "source.image_sequence"
    path = "{pattern}"
    {options}
    [nodes.out]
    type = "encode.image_sequence"
    input = "seq"
    path = "out/f_%03d.png"
"""


def sequence(tmp_path, numbers, pattern="img/f_%04d.png", options="", alpha=None):
    (tmp_path / "img").mkdir(exist_ok=True)
    for n in numbers:
        grey_png(tmp_path / (pattern % n), 20 * n + 10, alpha=255 if alpha is None or n not in alpha else 0)
    return write_pipeline(tmp_path, SEQUENCE.format(pattern=pattern, options=options))


# ------------------------------------------------------------------------------------ image sequences
def test_a_pattern_that_matches_nothing_names_the_pattern_and_option(tmp_path):
    p = sequence(tmp_path, [])
    run(
        tmp_path,
        "validate",
        p,
        rc=2,
        fragments=["p.toml", "node 'seq'", "option 'path'", "no file matches the pattern", "f_%04d.png"],
    )
    p = write_pipeline(tmp_path, SEQUENCE.format(pattern="nowhere/f_%04d.png", options=""))
    run(tmp_path, "render", "-q", p, rc=2, fragments=["node 'seq'", "option 'path'", "does not exist"])
    # a file numbered in another width is not part of the sequence
    grey_png(tmp_path / "img" / "f_1.png", 0)
    p = sequence(tmp_path, [])
    run(tmp_path, "validate", p, rc=2, fragments=["option 'path'", "no file matches"])


def test_a_gap_is_an_error_naming_the_first_missing_number(tmp_path):
    p = sequence(tmp_path, [0, 1, 2, 4, 5, 7])
    run(
        tmp_path,
        "render",
        "-q",
        p,
        rc=2,
        fragments=["p.toml", "node 'seq'", "option 'path'", "image number 3 is missing", "f_0003.png", 'gaps = "hold"'],
    )
    write_pipeline(tmp_path, SEQUENCE.format(pattern="img/f_%04d.png", options="start_number = 9"))
    run(tmp_path, "validate", p, rc=2, fragments=["option 'start_number'", "no image number 9", "0 to 7"])


def test_gaps_hold_shows_the_image_before_the_gap(tmp_path):
    p = sequence(tmp_path, [0, 1, 2, 4, 5, 7], options='gaps = "hold"')
    outputs = [f"out/f_{i:03d}.png" for i in range(8)]
    run(tmp_path, "render", "-q", p, rc=0, outputs=outputs)
    levels = [int(decode_frames(tmp_path / f)[0][5, 5, 0]) for f in outputs]
    assert levels == [10, 30, 50, 50, 90, 110, 110, 150]


def test_alpha_only_when_the_images_use_it_or_when_asked(tmp_path):
    def has_alpha(options="", alpha=None, folder="a"):
        (tmp_path / folder).mkdir()
        return (
            build_for_preview(load(sequence(tmp_path / folder, [1, 2, 3], options=options, alpha=alpha)))
            .nodes["seq"]
            .video.has_alpha
        )

    assert has_alpha(folder="opaque") is False  # RGBA files, every pixel opaque
    assert has_alpha(alpha={1}, folder="clear") is True
    assert has_alpha("alpha = true", folder="asked") is True
    assert has_alpha("alpha = false", alpha={1}, folder="dropped") is False
    # a later image that uses alpha in a sequence declared opaque is an error, not silently flattened
    (tmp_path / "late").mkdir()
    p = sequence(tmp_path / "late", [1, 2, 3], alpha={3})
    run(
        tmp_path / "late",
        "render",
        "-q",
        p,
        rc=2,
        outputs=["out/f_000.png", "out/f_001.png"],
        fragments=["node 'seq'", "f_0003.png uses alpha", "alpha = true"],
    )


# ------------------------------------------------------------------------------------ huge images
HUGE = """
    [pipeline]
    width = 64
    height = 64
    duration = 2
    [nodes.img]
    type = "{type}"
    path = "{path}"
    [nodes.out]
    type = "encode.video"
    input = "img"
    path = "out.mp4"
"""


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("huge")
    huge_png(folder / "huge.png", 16000, 16000)
    (folder / "seq").mkdir()
    huge_png(folder / "seq" / "h_0001.png", 16000, 16000)
    assert (folder / "huge.png").stat().st_size < 64 << 10
    return folder


def test_a_huge_image_is_refused_from_its_header(huge):
    p = write_pipeline(huge, HUGE.format(type="source.image", path="huge.png"))
    for cmd in ("validate", "render"):
        run(
            huge,
            cmd,
            p,
            rc=2,
            fragments=[
                "p.toml",
                "node 'img'",
                "option 'path'",
                "huge.png",
                "16000x16000",
                "over the memory budget of 2 GiB",
                "--max-memory",
            ],
        )
    q = write_pipeline(huge, HUGE.format(type="source.image_sequence", path="seq/h_%04d.png"), "q.toml")
    run(huge, "validate", q, rc=2, fragments=["node 'img'", "option 'path'", "h_0001.png", "16000x16000"])
    run(huge, "preview", "--max-memory", "512M", p, rc=2, fragments=["budget of 512 MiB"])
    run(huge, "validate", "--max-memory", "lots", p, rc=2, fragments=["--max-memory", "expected a size"])


def test_validate_reads_only_the_header_of_an_image_within_the_budget(huge):
    p = write_pipeline(huge, HUGE.format(type="source.image", path="huge.png"))
    # the 16000x16000 image would be 7.6 GiB decoded; validate sizes it from the header alone
    out = run(huge, "validate", "--max-memory", "16G", p, rc=0, max_rss=400 * MB)
    assert "64x64" in out or "16000x16000" in out
    run(huge, "validate", p, rc=0, env={"VFX_MAX_MEMORY": "16G"}, max_rss=400 * MB)


# ------------------------------------------------------------------------------------ model files
def model_file(path: Path, config: dict, tensors=None) -> Path:
    from safetensors.torch import save_file
    import torch

    tensors = tensors or {"w": torch.zeros(2)}
    save_file(tensors, str(path), metadata={"vfx_format": "vfx-model/1", "vfx_config": json.dumps(config)})
    return path


def generator(node: str, model: str) -> str:
    return f"""
    [nodes.{node}]
    type = "generator.vae"
    model = "{model}"
"""


def test_a_model_config_is_checked_before_any_tensor_is_allocated(tmp_path):
    cases = {  # node: (config, fragment)
        "classes": ({"num_classes": 1e9}, "num_classes must be from 0 to 10000"),
        "latent": ({"latent_dim": 10**9}, "latent_dim must be from 1 to 4096"),
        "wide": ({"channels": 10**6, "max_channels": 10**6}, "the weights do not fit architecture 'conv_vae'"),
        "lying": ({}, "tensor 'w' has a bad shape"),
    }
    for node, (config, _) in cases.items():
        path = model_file(tmp_path / f"{node}.safetensors", {"architecture": "conv_vae", "resolution": 16, **config})
        assert path.stat().st_size < 1024
    path = tmp_path / "lying.safetensors"  # its index claims 4 GB in a file of a few hundred bytes
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["w"]["shape"] = [10**9]
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 32
        duration = 2
        [nodes.out]
        type = "encode.video"
        input = "classes"
        path = "out.mp4"
    """
        + "".join(generator(node, f"{node}.safetensors") for node in cases),
    )
    out = run(tmp_path, "validate", p, rc=2)
    for node, (_, fragment) in cases.items():
        line = next((line for line in out.splitlines() if f"node '{node}'" in line), "")
        assert "p.toml" in line and "option 'model'" in line and f"{node}.safetensors" in line, out
        assert fragment in line, out


# ------------------------------------------------------------------------------------ audio and time
LONG = """
    [pipeline]
    width = 32
    height = 32
    fps = {fps}
    duration = "{duration}"
    [nodes.music]
    type = "source.synth"
    [nodes.beat]
    type = "signal.audio"
    input = "music"
    window = 10
    [nodes.bars]
    type = "source.testpattern"
    [nodes.grade]
    type = "effect.grade"
    input = "bars"
    exposure = {{ driver = "beat", signal = "rms" }}
    [nodes.out]
    type = "encode.video"
    input = "grade"
    audio = "music"
    path = "out.mp4"
"""


def test_a_few_frames_of_a_1000_hour_timeline_cost_a_window_of_audio(tmp_path):
    p = write_pipeline(tmp_path, LONG.format(fps=24, duration="1000h"))
    run(tmp_path, "render", "-q", "--frames", "0-5", p, rc=0, outputs=["out.mp4"], max_rss=1000 * MB)
    assert len(decode_frames(tmp_path / "out.mp4")) == 6


def test_the_signals_of_a_long_timeline_equal_those_of_a_short_one(tmp_path, monkeypatch):
    monkeypatch.setenv("VFX_MAX_FRAMES", "1000000000")
    long = build_for_preview(load(write_pipeline(tmp_path, LONG.format(fps=24, duration="1000h"), "long.toml")))
    short = build_for_preview(load(write_pipeline(tmp_path, LONG.format(fps=24, duration="20s"), "short.toml")))
    a, b = long.nodes["beat"], short.nodes["beat"]
    frames = list(range(0, 6)) + list(range(236, 246)) + [479]  # window 0, the seam, the end of window 1
    for name in a.signals:
        assert np.array_equal(a.signal(name, frames), b.signal(name, frames)), name
    assert b.signal("tempo", [0])[0] == pytest.approx(120, rel=0.02)
    assert a.signal("rms", [10**6]).max() > 0  # deep into the timeline: its own window


def test_a_frame_too_long_for_its_audio_is_refused(tmp_path):
    p = write_pipeline(tmp_path, LONG.format(fps='"1/1001"', duration=2))
    run(
        tmp_path,
        "render",
        "-q",
        p,
        rc=2,
        fragments=["p.toml", "node 'music'", "fps = 1/1001", "a frame may last at most 10 s"],
    )
    # frames of 10 s (the cap) render with bounded memory; a batch carries at most 60 s of audio
    p = write_pipeline(tmp_path, LONG.format(fps='"1/10"', duration=3))
    run(tmp_path, "render", "-q", "--batch-size", "64", p, rc=0, outputs=["out.mp4"], max_rss=1000 * MB)
    with_audio = build_for_preview(load(p))
    assert with_audio.nodes["music"].max_batch == 6


def test_a_frame_too_long_for_any_muxed_audio_is_refused(tmp_path):
    """The cap holds for every audio an encoder muxes, a test tone's included, not only audio nodes."""
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 32
        fps = "1/1001"
        duration = 2
        [nodes.bars]
        type = "source.testpattern"
        tone = 440
        [nodes.out]
        type = "encode.video"
        input = "bars"
        path = "out.mp4"
    """,
    )
    run(tmp_path, "validate", p, rc=2, fragments=["p.toml", "node 'out'", "fps = 1/1001", "at most 10 s"])


# ------------------------------------------------------------------------------------ truncated media
def test_a_truncated_fast_start_mp4_names_the_file_and_the_node(tmp_path):
    import av
    from conftest import make_video

    make_video(tmp_path / "plain.mp4", frames=48)
    with (
        av.open(str(tmp_path / "plain.mp4")) as src,
        av.open(str(tmp_path / "fast.mp4"), "w", options={"movflags": "faststart"}) as dst,
    ):
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    data = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "fast.mp4").unlink()
    (tmp_path / "plain.mp4").unlink()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])  # the index is whole, half the media
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 128
        height = 72
        duration = 48
        [nodes.plate]
        type = "source.video"
        path = "trunc.mp4"
        [nodes.out]
        type = "encode.video"
        input = "plate"
        path = "out.mp4"
    """,
    )
    named = ["node 'plate'", "trunc.mp4"]
    proc = subprocess.run([VFX, "validate", str(p)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        assert proc.returncode == 2 and all(f in proc.stdout + proc.stderr for f in named), proc.stderr
        return
    run(tmp_path, "render", "-q", p, rc=2, fragments=named, outputs=["out.mp4"])
