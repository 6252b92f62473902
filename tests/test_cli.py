"""The commands that describe: preview, graph, nodes, plugins, probe."""

from __future__ import annotations

import json


from conftest import decode_frames, run_vfx, write_pipeline

PIPE = """
    [pipeline]
    width = 160
    height = 90
    duration = 48
    [nodes.bars]
    type = "source.testpattern"
    tone = 300
    [nodes.cut]
    type = "editor.trim"
    input = "bars"
    start = 12
    [nodes.out]
    type = "encode.video"
    input = "cut"
    path = "o.mp4"
"""


def test_preview_one_frame_and_sheet(tmp_path):
    p = write_pipeline(tmp_path, PIPE)
    res = run_vfx("preview", p, "-f", "0.5s", "-o", tmp_path / "f.png")
    assert res.returncode == 0, res.stderr
    img = decode_frames(tmp_path / "f.png", fmt="rgba")[0]
    assert img.shape == (90, 160, 4)
    # the sweep bar sits at x = (t mod 1) * (w - bar): frame 12 of 'cut' is source frame 24 -> t = 1.0 -> x = 0
    assert (img[10, 0:2, :3] == 255).all()
    res = run_vfx("preview", p, "--sheet", "6", "--thumb-width", "40", "-o", tmp_path / "s.png")
    assert res.returncode == 0, res.stderr
    sheet = decode_frames(tmp_path / "s.png")[0]
    assert sheet.shape[1] > 2 * 40 and "contact sheet of 6 frames" in res.stdout
    assert not (tmp_path / "o.mp4").exists()
    res = run_vfx("preview", p, "-f", "999")
    assert res.returncode == 2 and "past the end" in res.stderr


def test_graph_text_and_png(tmp_path):
    p = write_pipeline(tmp_path, PIPE)
    res = run_vfx("graph", p)
    assert res.returncode == 0
    assert "flowchart LR" in res.stdout and "bars -->|input| cut" in res.stdout and "cut -->|input| out" in res.stdout
    res = run_vfx("graph", p, "--format", "dot", "-o", tmp_path / "g.png")
    assert res.returncode == 0 and '"bars" -> "cut"' in res.stdout
    img = decode_frames(tmp_path / "g.png")[0]
    assert img.shape[1] > 3 * 200 and img.std() > 10


def test_nodes_describe_and_json():
    res = run_vfx("nodes", "--json")
    schemas = {s["type"]: s for s in json.loads(res.stdout)}
    assert {
        "source.video",
        "source.image",
        "source.image_sequence",
        "source.color",
        "source.testpattern",
        "editor.trim",
        "editor.concat",
        "editor.composite",
        "editor.crossfade",
        "editor.speed",
        "editor.resize",
        "encode.video",
        "encode.image_sequence",
    } <= set(schemas)
    for s in schemas.values():
        assert s["summary"], s["type"]
        for o in s["options"]:
            assert o["doc"], (s["type"], o["name"])
    crf = next(o for o in schemas["encode.video"]["options"] if o["name"] == "crf")
    assert crf["type"] == "int" and crf["constraints"] == "0 .. 63"
    res = run_vfx("nodes", "editor.trim")
    assert res.returncode == 0 and "duration" in res.stdout
    res = run_vfx("nodes", "editor.trimm")
    assert res.returncode == 2 and "did you mean 'editor.trim'" in res.stderr


def test_probe_file_and_encoders(tmp_path, clip):
    res = run_vfx("probe", clip, "--json")
    info = json.loads(res.stdout)
    assert info["video"]["frames"] == 48 and info["video"]["fps"] == "24" and info["audio"]["sample_rate"] == 48000
    res = run_vfx("probe", tmp_path / "nope.mp4")
    assert res.returncode == 2 and "not found" in res.stderr
    res = run_vfx("probe", "--encoders", "--json")
    enc = json.loads(res.stdout)
    assert "libx264" in enc["pyav"] and "prores_ks" in enc["pyav"]
    assert "libx264" in enc["ffmpeg"]


def test_help_is_quick_to_import():
    import subprocess
    import sys

    code = "import sys, vfx.cli; print('torch' in sys.modules, 'av' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False", "False"]
