"""The render farm: chunk planning, Ray chunks with retries, resume, stale segments, lossless
equality with a local render, GPU placement, job export, and template variants.

One Ray cluster (``ray_cluster`` in conftest) serves every test here; CLI tests join it with
``--address``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from vfx.engine import RenderOptions, render
from vfx.farm.planning import Chunk, check_cover, plan_chunks
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_audio, decode_frames, decode_index, make_video, run_vfx, write_pipeline

PIPE = """
    [pipeline]
    width = 96
    height = 64
    duration = 30
    seed = {seed}
    [vars]
    name = "farm"
    [nodes.noise]
    type = "source.testpattern"
    pattern = "noise"
    tone = 440
    [nodes.bars]
    type = "source.testpattern"
    pattern = "bars"
    size = [48, 32]
    [nodes.comp]
    type = "editor.composite"
    layers = ["noise", {{ input = "bars", position = [20, 10], opacity = 0.6, blend = "screen" }}]
    [nodes.out]
    type = "encode.video"
    input = "comp"
    audio = "noise"
    codec = "ffv1"
    audio_codec = "pcm"
    path = "${{name}}.mkv"
"""


def local_render(path, overrides=()):
    graph = build(load(path, list(overrides)))
    return render(graph, RenderOptions(device="cpu"))


def farm(path, overrides=(), segment_dir=None, **options):
    """A farm render in this process, on the shared cluster; returns the FarmJob."""
    from vfx.farm.executor import FarmJob, FarmOptions, plan_job, run_farm
    from vfx.farm.segments import Job

    opts = FarmOptions(**options)
    fj = plan_job(
        FarmJob(Job(path, list(overrides), device="cpu"), label=Path(path).name, segment_dir=segment_dir), opts
    )
    run_farm([fj], opts)
    return fj


def vfx_here(*args, env=None):
    """Run a vfx command in this process (the CLI's own code, without a new interpreter, so farm
    commands reuse the test session's Ray and its warm workers)."""
    import contextlib
    import io
    from types import SimpleNamespace
    from vfx.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def same_frames(a, b):
    fa, fb = decode_frames(a), decode_frames(b)
    return len(fa) == len(fb) and all(np.array_equal(x, y) for x, y in zip(fa, fb))


# --- planning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "total,size", [(1, 1), (1, 48), (30, 7), (30, 10), (30, 30), (30, 31), (240, 48), (1000, 1), (97, 96)]
)
def test_chunks_cover_every_frame_once(total, size):
    chunks = plan_chunks(total, size)
    frames = [f for c in chunks for f in range(c.start, c.stop)]
    assert frames == list(range(total))
    assert all(1 <= c.frames <= size for c in chunks)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert len(chunks) == -(-total // size)
    check_cover(chunks, 0, total)
    assert chunks[-1].name == f"seg-{chunks[-1].start:06d}-{total - 1:06d}"


def test_chunk_planning_edges():
    assert plan_chunks(30, 10, first=25) == [Chunk(0, 25, 30)]
    for bad in [(0, 10), (10, 0), (10, 5, 10), (10, 5, -1)]:
        with pytest.raises(ValueError):
            plan_chunks(*bad)
    with pytest.raises(ValueError, match="does not follow"):
        check_cover([Chunk(0, 0, 10), Chunk(1, 11, 20)], 0, 20)
    with pytest.raises(ValueError, match="does not follow"):
        check_cover([Chunk(0, 0, 10), Chunk(1, 9, 20)], 0, 20)
    with pytest.raises(ValueError, match="end at frame"):
        check_cover([Chunk(0, 0, 10)], 0, 20)


# --- lossless equality, seams, audio --------------------------------------------------------


def test_farm_render_equals_local_render_lossless(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, PIPE.format(seed=7))
    local_render(p, ["name=local"])
    fj = farm(p, chunk_size=7)
    assert len(fj.chunks) == 5 and len(fj.rendered) == 5
    assert fj.written == [tmp_path / "farm.mkv"]
    assert same_frames(tmp_path / "local.mkv", tmp_path / "farm.mkv")
    assert np.array_equal(decode_audio(tmp_path / "local.mkv"), decode_audio(tmp_path / "farm.mkv"))
    with av.open(str(tmp_path / "farm.mkv")) as c:  # each segment starts on a keyframe
        keys = [round(p.pts * p.time_base * 24) for p in c.demux(c.streams.video[0]) if p.size and p.is_keyframe]
    assert {0, 7, 14, 21, 28} <= set(keys)
    assert not fj.segment_dir.exists()  # segments removed after the join


def test_farm_png_sequence_is_the_local_sequence(tmp_path, ray_cluster):
    p = write_pipeline(
        tmp_path,
        PIPE.format(seed=3)
        .replace('type = "encode.video"', 'type = "encode.image_sequence"')
        .replace('audio = "noise"\n    codec = "ffv1"\n    audio_codec = "pcm"\n', "")
        .replace('path = "${name}.mkv"', 'path = "${name}/f_%04d.png"'),
    )
    local_render(p, ["name=local"])
    farm(p, chunk_size=8)
    names = sorted(f.name for f in (tmp_path / "local").iterdir())
    assert len(names) == 30 and names == sorted(f.name for f in (tmp_path / "farm").iterdir())
    for n in names:
        assert (tmp_path / "local" / n).read_bytes() == (tmp_path / "farm" / n).read_bytes()


def test_h264_segments_join_without_duplicates_or_drops(tmp_path, ray_cluster):
    make_video(tmp_path / "clip.mp4")  # 48 frames, frame i coloured by i, a 440 Hz sine
    p = write_pipeline(
        tmp_path,
        """
        [nodes.src]
        type = "source.video"
        path = "clip.mp4"
        [nodes.out]
        type = "encode.video"
        input = "src"
        path = "out.mp4"
        crf = 12
        preset = "ultrafast"
    """,
    )
    # the real command line in its own process, joining the test session's cluster by address
    res = run_vfx("farm", "render", p, "--chunk-size", "10", "--address", ray_cluster.address)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "5 chunks (5 rendered, 0 reused)" in res.stdout
    out = tmp_path / "out.mp4"
    assert [decode_index(f) for f in decode_frames(out)] == list(range(48))
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        packets = [p for p in c.demux(v) if p.size]
        keys = {round(p.pts * p.time_base * 24) for p in packets if p.is_keyframe}
        assert v.codec_context.name == "h264" and len(packets) == 48
    assert {0, 10, 20, 30, 40} <= keys
    audio = decode_audio(out)
    assert abs(audio.shape[1] / 48000 - 2.0) <= 1 / 24
    src = decode_audio(tmp_path / "clip.mp4")
    n = min(src.shape[1], audio.shape[1]) - 2048
    assert np.corrcoef(src[0, 1024:n], audio[0, 1024:n])[0, 1] > 0.98  # continuous, in sync


# --- failures, retries, resume --------------------------------------------------------------


def test_worker_killed_mid_chunk_is_retried(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, PIPE.format(seed=5))
    local_render(p, ["name=local"])
    seg = tmp_path / "segs"
    res = vfx_here(
        "farm",
        "render",
        p,
        "--chunk-size",
        "10",
        "--address",
        ray_cluster.address,
        "--segment-dir",
        seg,
        "--keep-segments",
        env={"VFX_FARM_KILL": "1"},
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 retried" in res.stdout
    assert "(raylet)" not in res.stdout + res.stderr  # Ray's notice of the death goes to its log
    assert (seg / ".killed-seg-000010-000019").exists()  # the first attempt did die
    record = json.loads((seg / "seg-000010-000019" / "segment.json").read_text())
    assert record["worker"]["attempt"] == 2
    assert json.loads((seg / "seg-000000-000009" / "segment.json").read_text())["worker"]["attempt"] == 1
    assert same_frames(tmp_path / "local.mkv", tmp_path / "farm.mkv")


def test_a_chunk_whose_worker_always_dies_fails_by_name(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, PIPE.format(seed=5))
    res = vfx_here(
        "farm",
        "render",
        p,
        "--chunk-size",
        "10",
        "--retries",
        "1",
        "--segment-dir",
        tmp_path / "s",
        env={"VFX_FARM_KILL": "2:always"},
    )
    assert res.returncode == 1
    assert "chunk 2 (frames 20-29) failed: its worker died on every attempt (2 tries)" in res.stderr
    assert "--resume" in res.stderr and not (tmp_path / "farm.mkv").exists()


def test_resume_rerenders_only_the_missing_segment(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, PIPE.format(seed=9))
    seg = tmp_path / "segs"
    first = farm(p, segment_dir=seg, chunk_size=10, keep_segments=True)
    assert len(first.rendered) == 3, first.error
    before = {d.name: (d / "segment.json").read_text() for d in seg.glob("seg-*")}
    shutil.rmtree(seg / "seg-000010-000019")
    (tmp_path / "farm.mkv").unlink()
    again = farm(p, segment_dir=seg, chunk_size=10, keep_segments=True, resume=True)
    assert [c.name for c in again.rendered] == ["seg-000010-000019"]
    for name in ("seg-000000-000009", "seg-000020-000029"):
        assert (seg / name / "segment.json").read_text() == before[name]  # untouched
    local_render(p, ["name=local"])
    assert same_frames(tmp_path / "local.mkv", tmp_path / "farm.mkv")


def test_changed_pipeline_refuses_stale_segments(tmp_path, ray_cluster):
    from vfx.farm.manifest import StaleSegments

    p = write_pipeline(tmp_path, PIPE.format(seed=9))
    seg = tmp_path / "segs"
    farm(p, segment_dir=seg, chunk_size=15, keep_segments=True)
    shutil.rmtree(seg / "seg-000015-000029")
    p.write_text(p.read_text().replace("seed = 9", "seed = 10"))
    with pytest.raises(StaleSegments, match="different version of the pipeline"):
        farm(p, segment_dir=seg, chunk_size=15, resume=True)
    res = vfx_here("farm", "join", p, "--segment-dir", seg)
    assert res.returncode == 2 and "different version of the pipeline" in res.stderr
    # an override changes the hash too; a fresh render (no --resume) starts over
    fresh = farm(p, segment_dir=seg, chunk_size=15)
    assert len(fresh.rendered) == 2


# --- GPU placement ----------------------------------------------------------------------------


def test_gpu_chunks_run_only_on_the_gpu_node(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, PIPE.format(seed=1))
    gpu = farm(p, segment_dir=tmp_path / "g", chunk_size=10, gpu="always", keep_segments=True)
    gpu_node = ray_cluster.gpu_node.node_id
    assert len(gpu.records) == 3
    assert {r["worker"]["node_id"] for r in gpu.records} == {gpu_node}
    assert all(r["worker"]["gpu_ids"] for r in gpu.records)
    cpu = farm(p, ["name=cpu"], segment_dir=tmp_path / "c", chunk_size=15, gpu="never", keep_segments=True)
    assert all(r["worker"]["gpu_ids"] == [] for r in cpu.records)


def test_generator_graphs_ask_for_a_gpu(tmp_path):
    import vfx
    from vfx.farm.executor import graph_needs_gpu

    p = write_pipeline(tmp_path, PIPE.format(seed=1))
    graph = build(load(p))
    assert not graph_needs_gpu(graph, "cpu") and graph_needs_gpu(graph, "cuda")

    class FakeGen(vfx.Generator):
        type = "test.gen"

    graph.nodes["gen"] = FakeGen.__new__(FakeGen)
    assert graph_needs_gpu(graph, "cpu")


# --- export -----------------------------------------------------------------------------------


def _expand(rng: str, chunk: int) -> list[tuple[int, int]]:
    """A farm manager's chunking of 'A-B' with a chunk size (OpenCue and Deadline cut the same way)."""
    a, b = map(int, rng.split("-")) if "-" in rng else (int(rng), int(rng))
    return [(s, min(s + chunk - 1, b)) for s in range(a, b + 1, chunk)]


def test_export_openjd_runs_to_the_local_render(tmp_path):
    import subprocess

    p = write_pipeline(tmp_path, PIPE.format(seed=4))
    seg = tmp_path / "segs"
    res = vfx_here(
        "farm", "export", p, "--format", "openjd", "--chunk-size", "12", "-o", tmp_path / "jd", "--segment-dir", seg
    )
    assert res.returncode == 0, res.stderr
    template = tmp_path / "jd" / "job.template.yaml"
    doc = yaml.safe_load(template.read_text())
    assert doc["specificationVersion"] == "jobtemplate-2023-09"
    params = {d["name"]: d for d in doc["parameterDefinitions"]}
    assert params["Pipeline"]["default"] == str(p.resolve()) and params["SegmentDir"]["default"] == str(seg)
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == ["Render", "Audio", "Join"]
    (tp,) = steps["Render"]["parameterSpace"]["taskParameterDefinitions"]
    assert tp["type"] == "STRING" and tp["range"] == ["0-11", "12-23", "24-29"]
    assert {d["dependsOn"] for d in steps["Join"]["dependencies"]} == {"Render", "Audio"}
    assert "dependencies" not in steps["Render"] and "hostRequirements" not in steps["Render"]
    try:
        from openjd.model import decode_job_template

        decode_job_template(template=doc)  # the reference model accepts it
        import openjd.cli  # noqa: F401
    except ImportError:
        pytest.skip("OpenJD's reference runtime (openjd-cli, in the test extra) is not installed")
    # the reference runtime runs the job as exported: every task of Render and Audio, then Join
    run = subprocess.run(
        [sys.executable, "-m", "openjd", "run", str(template), "--step", "Join", "--run-dependencies"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    local_render(p, ["name=local"])
    assert same_frames(tmp_path / "local.mkv", tmp_path / "farm.mkv")
    assert np.array_equal(decode_audio(tmp_path / "local.mkv"), decode_audio(tmp_path / "farm.mkv"))
    assert not seg.exists()  # the join removed what the farm wrote


# the cjsl-1.14 DTD's content models, in order (a subset: the elements vfx writes)
_CUE_ORDER = {
    "spec": ["facility", "dept", "show", "shot", "user", "email", "uid", "job", "depends"],
    "job": ["paused", "priority", "maxretries", "maxcores", "maxgpus", "autoeat", "localbook", "os", "env", "layers"],
    "layer": [
        "cmd",
        "range",
        "chunk",
        "cores",
        "threadable",
        "memory",
        "gpus",
        "gpu",
        "gpu_memory",
        "timeout",
        "timeout_llu",
        "tags",
        "limits",
        "env",
        "services",
        "outputs",
    ],
    "depend": ["depjob", "deplayer", "depframe", "onjob", "onlayer", "onframe"],
}


def _in_dtd_order(el):
    order = _CUE_ORDER[el.tag]
    tags = [c.tag for c in el]
    assert all(t in order for t in tags), (el.tag, tags)
    assert [order.index(t) for t in tags] == sorted(order.index(t) for t in tags), (el.tag, tags)


def test_export_opencue_and_deadline_describe_the_same_tasks(tmp_path):
    p = write_pipeline(tmp_path, PIPE.format(seed=4))
    seg = tmp_path / "segs"
    for fmt in ("opencue", "deadline"):
        res = vfx_here(
            "farm",
            "export",
            p,
            "--format",
            fmt,
            "--chunk-size",
            "12",
            "-o",
            tmp_path / fmt,
            "--segment-dir",
            seg,
            "--set",
            "name=x y",
        )
        assert res.returncode == 0, res.stderr
    text = (tmp_path / "opencue" / "job.xml").read_text()
    assert "cjsl-1.14.dtd" in text.splitlines()[1]
    spec = ET.fromstring(text)
    _in_dtd_order(spec)
    job = spec.find("job")
    _in_dtd_order(job)
    layers = {layer.get("name"): layer for layer in job.find("layers")}
    assert list(layers) == ["render", "audio", "join"]
    assert [layer.get("type") for layer in layers.values()] == ["Render", "Util", "Post"]
    for layer in layers.values():
        _in_dtd_order(layer)
    render_layer = layers["render"]
    assert render_layer.findtext("range") == "0-29" and render_layer.findtext("chunk") == "12"
    deps = spec.find("depends").findall("depend")
    for d in deps:
        _in_dtd_order(d)
        assert d.get("type") == "LAYER_ON_LAYER" and d.findtext("depjob") == job.get("name")
    assert {(d.findtext("deplayer"), d.findtext("onlayer")) for d in deps} == {("join", "render"), ("join", "audio")}
    import shlex

    cue_cmds = [
        shlex.split(render_layer.findtext("cmd").replace("#FRAME_START#", str(a)).replace("#FRAME_END#", str(b)))
        for a, b in _expand(render_layer.findtext("range"), 12)
    ]

    from vfx.farm.export import parse_deadline

    d = tmp_path / "deadline"
    info, plugin = parse_deadline(d / "render_job_info.job"), parse_deadline(d / "render_plugin_info.job")
    assert info["Plugin"] == "CommandLine" and info["Frames"] == "0-29" and info["ChunkSize"] == "12"
    assert "<STARTFRAME>-<ENDFRAME>" in plugin["Arguments"]
    join_info, join_plugin = parse_deadline(d / "join_job_info.job"), parse_deadline(d / "join_plugin_info.job")
    assert join_info["Plugin"] == "CommandLine" and join_info["BatchName"] == info["BatchName"]
    assert join_plugin["Arguments"].startswith("farm join ")
    assert "-SubmitMultipleJobs -dependent" in (d / "submit.sh").read_text()
    dl_cmds = [
        [plugin["Executable"]]
        + shlex.split(plugin["Arguments"].replace("<STARTFRAME>", str(a)).replace("<ENDFRAME>", str(b)))
        for a, b in _expand(info["Frames"], int(info["ChunkSize"]))
    ]
    assert cue_cmds == dl_cmds
    assert [c[c.index("--frames") + 1] for c in cue_cmds] == ["0-11", "12-23", "24-29"]
    assert all(c[1:4] == ["farm", "chunk", str(p.resolve())] and ["--set", "name=x y"] == c[6:8] for c in cue_cmds)


# --- variants ---------------------------------------------------------------------------------

TEMPLATE = """
    [pipeline]
    width = 64
    height = 48
    duration = 12
    [vars]
    bg = "#202020"
    output = "default"
    [nodes.card]
    type = "source.color"
    color = "${bg}"
    [nodes.out]
    type = "encode.video"
    input = "card"
    codec = "ffv1"
    path = "v/${output}.mkv"
"""

CSV = "output,bg\nred,#ff0000\nbroken,not-a-colour\nblue,#0000ff\n"


def test_render_matrix_reports_the_bad_row_and_renders_the_rest(tmp_path):
    p = write_pipeline(tmp_path, TEMPLATE)
    (tmp_path / "v.csv").write_text(CSV)
    res = vfx_here("render", p, "--matrix", tmp_path / "v.csv", "--quiet")
    assert res.returncode == 1
    assert "row 2 (broken)" in res.stdout and "failed" in res.stdout and "2 of 3 variants rendered" in res.stdout
    red, blue = decode_frames(tmp_path / "v" / "red.mkv"), decode_frames(tmp_path / "v" / "blue.mkv")
    assert len(red) == 12 and tuple(red[0][5, 5]) == (255, 0, 0) and tuple(blue[0][5, 5]) == (0, 0, 255)
    assert not (tmp_path / "v" / "broken.mkv").exists()
    (tmp_path / "bad.csv").write_text("output,colour\nx,#fff\n")
    res = vfx_here("render", p, "--matrix", tmp_path / "bad.csv")
    assert res.returncode == 2 and "column 'colour' is not a var" in res.stderr


def test_farm_matrix_runs_each_variant_as_tasks(tmp_path, ray_cluster):
    p = write_pipeline(tmp_path, TEMPLATE)
    (tmp_path / "v.csv").write_text(CSV)
    res = vfx_here("farm", "render", p, "--matrix", tmp_path / "v.csv", "--chunk-size", "5")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "row 2 (broken)" in res.stdout and "2 of 3 variants rendered" in res.stdout
    assert tuple(decode_frames(tmp_path / "v" / "red.mkv")[11][5, 5]) == (255, 0, 0)
    assert len(decode_frames(tmp_path / "v" / "blue.mkv")) == 12


def test_cli_import_does_not_import_ray():
    import subprocess

    code = "import sys, vfx.cli, vfx.cli.commands; print('ray' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    assert out == ["False", "False"]


def test_example_variants_all_build():
    from vfx.farm.variants import check_variants, read_matrix

    root = Path(__file__).resolve().parent.parent / "pipelines" / "variants"
    if not (root.parent.parent / "out" / "assets" / "logo.png").exists():
        import subprocess

        subprocess.run([sys.executable, str(root.parent / "make_assets.py")], check=True, capture_output=True)
    variants = read_matrix(root / "variants.csv", root / "ad.toml")
    check_variants(root / "ad.toml", variants)
    assert len(variants) == 4 and [v.error for v in variants] == [None] * 4
    assert len({v.outputs[0] for v in variants}) == 4


def test_segment_folder_housekeeping_touches_only_farm_files(tmp_path):
    from vfx.farm.manifest import SegmentDir, write_json

    seg = SegmentDir(tmp_path / "shared")
    seg.write_manifest({"hash": "a"})
    (seg.path / "seg-000000-000009").mkdir()
    write_json(
        seg.path / "seg-000000-000009" / "segment.json",
        {"writer": "vfx", "hash": "a", "start": 0, "stop": 10, "files": {}},
    )
    (seg.path / "seg-000010-000019").mkdir()  # no record: not vfx's
    (seg.path / "audio-out.mkv").write_bytes(b"x")  # no record: not vfx's
    (seg.path / "notes.txt").write_text("the user's")
    seg.remove()
    assert sorted(p.name for p in seg.path.iterdir()) == ["audio-out.mkv", "notes.txt", "seg-000010-000019"]


def test_farm_render_keeps_the_users_files_in_its_segment_folder(tmp_path, ray_cluster):
    import hashlib

    seg = tmp_path / "segs"
    seg.mkdir()
    make_video(seg / "audio-plate.mp4", frames=12, size=(96, 64))  # the pipeline's own input
    (seg / "notes.txt").write_text("the user's")
    (seg / "seg-000100-000199").mkdir()  # named like a segment, not vfx's
    (seg / "seg-000100-000199" / "frame.png").write_bytes(b"the user's")
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 96
        height = 64
        duration = 12
        [nodes.plate]
        type = "source.video"
        path = "segs/audio-plate.mp4"
        [nodes.out]
        type = "encode.video"
        input = "plate"
        codec = "ffv1"
        audio_codec = "pcm"
        path = "farm.mkv"
    """,
    )
    theirs = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in seg.rglob("*") if f.is_file()}
    for resume in (False, True, False):
        fj = farm(p, segment_dir=seg, chunk_size=5, resume=resume)
        assert fj.error is None and fj.written, fj.error
        assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in seg.rglob("*") if f.is_file()} == theirs
    local_render(p, ['out.path="local.mkv"'])
    assert same_frames(tmp_path / "local.mkv", tmp_path / "farm.mkv")


def test_export_openjd_with_more_chunks_than_a_list_range_holds(tmp_path):
    p = write_pipeline(tmp_path, PIPE.format(seed=4))
    res = vfx_here(
        "farm",
        "export",
        p,
        "--format",
        "openjd",
        "--chunk-size",
        "1",
        "-o",
        tmp_path / "jd",
        "--segment-dir",
        tmp_path / "segs",
        "--set",
        "pipeline.duration=1100",
    )
    assert res.returncode == 0, res.stderr
    doc = yaml.safe_load((tmp_path / "jd" / "job.template.yaml").read_text())
    (render_step,) = [s for s in doc["steps"] if s["name"] == "Render"]
    (tp,) = render_step["parameterSpace"]["taskParameterDefinitions"]
    assert tp == {"name": "ChunkStart", "type": "INT", "range": "0-1099:1"}
    args = render_step["script"]["actions"]["onRun"]["args"]
    assert args[-4:] == ["--frames", "{{Task.Param.ChunkStart}}", "--chunk-size", "1"]
    try:
        from openjd.model import decode_job_template
    except ImportError:
        return
    decode_job_template(template=doc)
    # and a task given only its first frame renders its chunk, clipped to the end
    seg = tmp_path / "s2"
    res = vfx_here("farm", "chunk", p, "--segment-dir", seg, "--frames", "24", "--chunk-size", "12")
    assert res.returncode == 0, res.stderr
    assert (seg / "seg-000024-000029" / "segment.json").exists()


def test_a_media_error_on_a_worker_fails_its_chunk_at_once(tmp_path, ray_cluster):
    """A bad input is the pipeline's fault, not a dead worker's: no retries, the chunk is named.

    Image 30 of the sequence is damaged; validation reads only the first image, so the chunk that
    holds frame 30 is the first to find out.
    """
    from PIL import Image

    (tmp_path / "seq").mkdir()
    for i in range(48):
        Image.new("RGB", (128, 72), (i * 5, 80, 120)).save(tmp_path / "seq" / f"f_{i:04d}.png")
    png = (tmp_path / "seq" / "f_0030.png").read_bytes()
    (tmp_path / "seq" / "f_0030.png").write_bytes(png[:40] + bytes(len(png) - 40))  # header kept, data zeroed
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 128
        height = 72
        fps = 24
        [nodes.clip]
        type = "source.image_sequence"
        path = "seq/f_%04d.png"
        [nodes.out]
        type = "encode.video"
        input = "clip"
        path = "farm.mp4"
        """,
    )
    res = vfx_here(
        "farm",
        "render",
        p,
        "--chunk-size",
        "12",
        "--address",
        ray_cluster.address,
        "--segment-dir",
        tmp_path / "s",
        "--keep-segments",
    )
    assert res.returncode in (1, 2), res.stdout + res.stderr
    assert re.search(r"chunk 2 \(frames 24-35\) failed: .*f_0030.png", res.stderr), res.stderr
    assert "retried" not in res.stdout, res.stdout  # the progress line counts retries
    assert not (tmp_path / "farm.mp4").exists()
