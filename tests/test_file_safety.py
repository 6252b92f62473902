"""vfx never destroys a file it did not write: hostile outputs through the CLI, segment folders
with the user's files in them, stale partial files, signals, and Ray's messages kept out of vfx's.

Every CLI case hashes every file under the test's folder before and after, and checks that only
the declared outputs changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import VFX, make_png, make_video, write_pipeline

PIPE = """
    [pipeline]
    width = 32
    height = 16
    duration = 4
    [nodes.logo]
    type = "source.image"
    path = "logo.png"
    [nodes.grade]
    type = "effect.grade"
    input = "logo"
    lut = "look.cube"
    [nodes.out]
    type = "encode.video"
    input = "grade"
    codec = "ffv1"
    path = "out.mkv"
"""

CLIP = """
    [pipeline]
    width = 32
    height = 16
    duration = 4
    [nodes.plate]
    type = "source.video"
    path = "clip.mp4"
    [nodes.out]
    type = "encode.video"
    input = "plate"
    codec = "ffv1"
    path = "out.mkv"
"""

# a farm job with audio (so its segment folder holds audio-out.mkv and audio-out.json)
FARM = """
    [pipeline]
    width = 32
    height = 16
    duration = 6
    seed = {seed}
    [nodes.noise]
    type = "source.testpattern"
    pattern = "noise"
    tone = 440
    [nodes.out]
    type = "encode.video"
    input = "noise"
    codec = "ffv1"
    audio_codec = "pcm"
    path = "farm.mkv"
"""


def vfx(*args):
    """Run a vfx command in this process (the CLI's own code) and return its exit code and output."""
    from vfx.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code or 0
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and symlink under ``folder`` (relative path -> content hash, or the link's target)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            found[rel] = (
                ("-> " + os.readlink(path)) if path.is_symlink() else hashlib.sha256(path.read_bytes()).hexdigest()
            )
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return found


def changed(before: dict, after: dict) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


@pytest.fixture
def project(tmp_path):
    """p.toml reading logo.png and look.cube; clip.toml reading clip.mp4; farm.toml; links to the inputs."""
    make_png(tmp_path / "logo.png", np.full((16, 32, 4), 200, np.uint8))
    (tmp_path / "look.cube").write_text(
        "LUT_3D_SIZE 2\n" + "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1))
    )
    make_video(tmp_path / "clip.mp4", frames=4, size=(32, 16))
    write_pipeline(tmp_path, PIPE, "p.toml")
    write_pipeline(tmp_path, CLIP, "clip.toml")
    write_pipeline(tmp_path, FARM.format(seed=1), "farm.toml")
    (tmp_path / "link.png").symlink_to("logo.png")
    os.link(tmp_path / "look.cube", tmp_path / "look.mkv")
    (tmp_path / "model.safetensors").symlink_to("logo.png")
    os.link(tmp_path / "logo.png", tmp_path / "hard.png")
    (tmp_path / "folder.mkv").mkdir()
    (tmp_path / "folder.mkv" / "keep.txt").write_text("the user's")
    (tmp_path / "inputs").symlink_to(tmp_path)
    return tmp_path


# (command, exit code, message fragment): each must leave every file as it was
HOSTILE = [
    (["preview", "p.toml", "-o", "p.toml"], 2, "p.toml is the pipeline file itself"),
    (["preview", "p.toml", "-o", "logo.png"], 2, "also read by node 'logo'"),
    (["preview", "p.toml", "-o", "sub/../logo.png"], 2, "also read by node 'logo'"),
    (["preview", "p.toml", "-o", "inputs/logo.png"], 2, "also read by node 'logo'"),  # a symlinked folder
    (["preview", "p.toml", "-o", "link.png"], 2, "also read by node 'logo'"),  # a symlink to it
    (["preview", "p.toml", "-o", "hard.png"], 2, "also read by node 'logo'"),  # a hard link to it
    (["preview", "p.toml", "-o", "look.cube"], 2, "also read by node 'grade'"),  # the LUT
    (["preview", "clip.toml", "--sheet", "2", "-o", "clip.mp4"], 2, "also read by node 'plate'"),
    (["preview", "p.toml", "-o", "folder.mkv"], 2, "folder.mkv"),
    (["graph", "p.toml", "-o", "logo.png"], 2, "also read by node 'logo'"),
    (["graph", "p.toml", "-o", "inputs/p.toml"], 2, "the pipeline file itself"),
    (["render", "p.toml", "--set", 'out.path="folder.mkv"'], 2, "is a folder, not a file"),
    (["render", "p.toml", "--set", 'out.path="look.mkv"'], 2, "also read by node 'grade'"),  # a hard link to the LUT
    (["render", "p.toml", "--device", "tpu"], 2, "unknown device 'tpu'"),
    (["farm", "render", "p.toml", "--stats", "inputs/logo.png"], 2, "also read by node 'logo'"),
    (["farm", "render", "p.toml", "--log", "look.cube"], 2, "also read by node 'grade'"),
    (["farm", "render", "p.toml", "--stats", "out.mkv"], 2, "out.mkv is an output of node 'out'"),  # the render's own
    (["farm", "render", "p.toml", "--log", "inputs/out.mkv"], 2, "out.mkv is an output of node 'out'"),
    (["farm", "render", "p.toml", "--log", "t.json", "--stats", "t.json"], 2, "--stats and --log name one file"),
    (["train", "vae", "--data", "logo.png", "--out", "model.safetensors"], 2, "a --data input"),
    (
        ["train", "vae", "--data", "inputs", "--out", "m.safetensors", "--steps", "1"],
        2,
        "would go to m.samples, inside the --data folder",
    ),  # its grids would be training data
]


@pytest.mark.parametrize("args, code, fragment", HOSTILE, ids=[" ".join(a[:4]) for a, _, _ in HOSTILE])
def test_hostile_outputs_are_refused_and_touch_nothing(project, monkeypatch, args, code, fragment):
    monkeypatch.chdir(project)
    before = snapshot(project)
    res = vfx(*args)
    assert res.returncode == code, res.stdout + res.stderr
    assert fragment in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 4
    assert changed(before, snapshot(project)) == set()


def test_a_safe_preview_and_graph_write_only_their_output(project, monkeypatch):
    monkeypatch.chdir(project)
    before = snapshot(project)
    assert vfx("preview", "p.toml", "-o", "frame.png").returncode == 0
    assert vfx("graph", "p.toml", "-o", "graph.png").returncode == 0
    assert changed(before, snapshot(project)) == {"frame.png", "graph.png"}


@pytest.mark.parametrize("command", ["preview", "graph"])
def test_an_output_through_a_symlink_writes_its_target_and_keeps_the_link(project, monkeypatch, command):
    """The user's symlink is theirs: ``-o link`` writes the file it points to, never replaces the link."""
    monkeypatch.chdir(project)
    (project / "renders").mkdir()
    (project / "renders" / "shot.png").write_bytes(b"an older picture")
    (project / "shot.png").symlink_to("renders/shot.png")
    before = snapshot(project)
    assert vfx(command, "p.toml", "-o", "shot.png").returncode == 0
    assert (project / "shot.png").is_symlink() and os.readlink(project / "shot.png") == "renders/shot.png"
    assert (project / "renders" / "shot.png").read_bytes().startswith(b"\x89PNG")
    assert changed(before, snapshot(project)) == {"renders/shot.png"}


@pytest.mark.parametrize("second", ["a sequence read", "a sequence written"])
def test_a_sequence_over_many_files_is_one_problem_not_one_per_frame(tmp_path, monkeypatch, second):
    """An image-sequence output over its own input sequence (or another encoder's) is refused once,
    with a count, not one line per frame (a million-frame sequence printed a million lines)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seq").mkdir()
    for i in range(40):
        make_png(tmp_path / "seq" / f"f_{i:04d}.png", np.full((16, 32, 4), 100, np.uint8))
    src = (
        '[nodes.s]\ntype = "source.image_sequence"\npath = "seq/f_%04d.png"\n'
        if second == "a sequence read"
        else '[nodes.s]\ntype = "source.color"\n[nodes.a]\ntype = "encode.image_sequence"\ninput = "s"\n'
        'path = "seq/f_%04d.png"\n'
    )
    write_pipeline(
        tmp_path,
        "[pipeline]\nwidth = 32\nheight = 16\nduration = 40\n"
        + src
        + '[nodes.out]\ntype = "encode.image_sequence"\ninput = "s"\npath = "seq/f_%04d.png"\n',
    )
    before = snapshot(tmp_path)
    res = vfx("validate", "p.toml")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "node 'out': option 'path'" in lines[0], res.stderr
    assert ("also read by node 's'" if second == "a sequence read" else "also written by 'a'") in lines[0]
    assert "(and 39 more of its files)" in lines[0]
    assert changed(before, snapshot(tmp_path)) == set()


# --- variants --------------------------------------------------------------------------------

TEMPLATE = """
    [pipeline]
    width = 32
    height = 16
    duration = 2
    [vars]
    output = "a"
    [nodes.card]
    type = "source.color"
    [nodes.out]
    type = "encode.video"
    input = "card"
    codec = "ffv1"
    path = "${output}.mkv"
"""


@pytest.mark.parametrize(
    "rows, fragment",
    [
        (["v/red", "v/../v/red"], "rows 1 and 2"),  # one file through '..'
        (["v/red", "blue", "vlink/red"], "rows 1 and 3"),  # ... through a symlinked folder
    ],
)
def test_matrix_rows_that_resolve_to_one_output_are_refused_before_any_render(tmp_path, rows, fragment):
    p = write_pipeline(tmp_path, TEMPLATE)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "red.mkv").write_bytes(b"an older render")
    (tmp_path / "vlink").symlink_to("v")
    (tmp_path / "rows.csv").write_text("output\n" + "\n".join(rows) + "\n")
    before = snapshot(tmp_path)
    res = vfx("render", p, "--matrix", tmp_path / "rows.csv")
    assert res.returncode == 2, res.stdout + res.stderr
    assert fragment in res.stderr and "both write" in res.stderr and "nothing was rendered" in res.stderr
    assert changed(before, snapshot(tmp_path)) == set()


def test_a_matrix_row_writing_a_file_another_row_reads_is_refused(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 16
        duration = 2
        [vars]
        output = "a"
        bg = "logo.png"
        [nodes.card]
        type = "source.image"
        path = "${bg}"
        [nodes.out]
        type = "encode.image_sequence"
        input = "card"
        path = "${output}%d.png"
    """,
    )
    make_png(tmp_path / "logo.png", np.full((16, 32, 4), 90, np.uint8))
    make_png(tmp_path / "frame0.png", np.full((16, 32, 4), 30, np.uint8))
    (tmp_path / "rows.csv").write_text("output,bg\nshot,frame0.png\nframe,logo.png\n")
    before = snapshot(tmp_path)
    res = vfx("render", p, "--matrix", tmp_path / "rows.csv")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "row 2 (line 3) writes" in res.stderr and "frame0.png, which is read by row 1" in res.stderr
    assert changed(before, snapshot(tmp_path)) == set()


# --- segment folders ------------------------------------------------------------------------


def foreign_files(seg: Path) -> None:
    """Files of the user's in a segment folder, named as the farm names its own."""
    seg.mkdir(parents=True, exist_ok=True)
    (seg / "audio-plate.mp4").write_bytes(b"the user's plate")
    (seg / "audio-notes.json").write_text('{"mine": true}')
    (seg / "seg-000100-000199").mkdir()
    (seg / "seg-000100-000199" / "frame.png").write_bytes(b"the user's")
    (seg / ".seg-000000-000003.vfx-partial-otherhost-1-abcdef12").mkdir()
    (seg / "notes.txt").write_text("the user's")


def test_farm_export_into_a_folder_with_foreign_files_leaves_them(project, monkeypatch):
    monkeypatch.chdir(project)
    seg = project / "segs"
    foreign_files(seg)
    before = snapshot(project)
    res = vfx("farm", "export", "farm.toml", "--format", "openjd", "-o", "jd", "--segment-dir", seg)
    assert res.returncode == 0, res.stderr
    assert changed(before, snapshot(project)) == {"segs/manifest.json", "jd/job.template.yaml", "jd/.vfx-export.json"}
    # a changed pipeline: the old manifest is cleared, still nothing of the user's
    (project / "farm.toml").write_text((project / "farm.toml").read_text().replace("seed = 1", "seed = 2"))
    before = snapshot(project)
    assert vfx("farm", "export", "farm.toml", "--format", "openjd", "-o", "jd", "--segment-dir", seg).returncode == 0
    assert changed(before, snapshot(project)) - {"jd/job.template.yaml", "jd/.vfx-export.json"} == {
        "segs/manifest.json"
    }


def test_farm_export_replaces_only_job_files_it_wrote(project, monkeypatch):
    """A job file of the same name that the user wrote, or edited after an export, is refused, not overwritten."""
    monkeypatch.chdir(project)
    (project / "cue").mkdir()
    (project / "cue" / "job.xml").write_text("<my own job/>")
    before = snapshot(project)
    res = vfx("farm", "export", "farm.toml", "--format", "opencue", "-o", "cue")
    assert res.returncode == 2 and "was not written by vfx farm export" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and snapshot(project) == before
    assert vfx("farm", "export", "farm.toml", "--format", "opencue", "-o", "cue2").returncode == 0
    assert vfx("farm", "export", "farm.toml", "--format", "opencue", "-o", "cue2").returncode == 0  # its own
    (project / "cue2" / "job.xml").write_text((project / "cue2" / "job.xml").read_text() + "<!-- my edit -->")
    before = snapshot(project)
    res = vfx("farm", "export", "farm.toml", "--format", "opencue", "-o", "cue2")
    assert res.returncode == 2 and "or was changed since" in res.stderr, res.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("manifest.json", '{"the": "user\'s"}', "was not written by vfx"),
        ("audio-out.mkv", "the user's audio", "was not written by vfx"),
        ("seg-000000-000003", None, "was not written by vfx"),
    ],
)
def test_a_segment_folder_whose_names_are_taken_by_foreign_files_is_refused(
    project, monkeypatch, name, content, fragment
):
    monkeypatch.chdir(project)
    seg = project / "segs"
    seg.mkdir()
    if content is None:
        (seg / name).mkdir()
        (seg / name / "out.mkv").write_text("the user's")
    else:
        (seg / name).write_text(content)
    before = snapshot(project)
    res = vfx(
        "farm", "export", "farm.toml", "--format", "openjd", "--chunk-size", "4", "-o", "jd", "--segment-dir", seg
    )
    assert res.returncode == 2 and fragment in res.stderr and name in res.stderr, res.stderr
    assert changed(before, snapshot(project)) == set()
    res = vfx("farm", "join", "farm.toml", "--segment-dir", seg)
    assert res.returncode in (1, 2) and changed(before, snapshot(project)) == set(), res.stderr


def test_segment_housekeeping_removes_only_what_vfx_recorded(tmp_path):
    from vfx.farm.manifest import SegmentDir, write_json
    from vfx.util.atomic import host_tag

    seg = SegmentDir(tmp_path / "segs")
    foreign_files(seg.path)
    seg.write_manifest({"hash": "a"})
    ours = seg.path / "seg-000000-000003"
    (ours / "out").mkdir(parents=True)
    (ours / "out" / "f_0.png").write_bytes(b"vfx")
    (ours / "out.mkv").write_bytes(b"vfx")
    write_json(
        ours / "segment.json",
        {
            "writer": "vfx",
            "hash": "a",
            "start": 0,
            "stop": 4,
            "files": {"out": [["out.mkv", 3]], "seq": [["out/f_0.png", 3]]},
        },
    )
    mixed = seg.path / "seg-000004-000005"
    mixed.mkdir()
    (mixed / "out.mkv").write_bytes(b"vfx")
    (mixed / "mine.txt").write_text("the user's, in a vfx segment")
    write_json(
        mixed / "segment.json",
        {"writer": "vfx", "hash": "a", "start": 4, "stop": 6, "files": {"out": [["out.mkv", 3]]}},
    )
    (seg.path / "audio-out.mkv").write_bytes(b"vfx audio")
    write_json(seg.path / "audio-out.json", {"writer": "vfx", "hash": "a", "file": "audio-out.mkv", "size": 9})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = seg.path / f".seg-000006-000007.vfx-partial-{host_tag()}-{int(dead.stdout)}-0123abcd"
    live = seg.path / f".seg-000008-000009.vfx-partial-{host_tag()}-{os.getppid()}-0123abcd"
    stale.mkdir()
    live.mkdir()
    before = snapshot(tmp_path)
    seg.remove()
    gone = {
        "segs/manifest.json",
        "segs/seg-000000-000003/out.mkv",
        "segs/seg-000000-000003/out/f_0.png",
        "segs/seg-000000-000003/segment.json",
        "segs/seg-000004-000005/out.mkv",
        "segs/seg-000004-000005/segment.json",
        "segs/audio-out.mkv",
        "segs/audio-out.json",
    }
    assert changed(before, snapshot(tmp_path)) == gone
    assert not ours.exists() and not stale.exists()
    assert live.exists() and (mixed / "mine.txt").exists()


# --- partial files of dead renders ----------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_stale_partials_beside_an_output_are_removed_and_nothing_else(project, monkeypatch):
    from vfx.util.atomic import host_tag

    monkeypatch.chdir(project)
    stale = project / f".out.vfx-partial-{host_tag()}-{dead_pid()}.mkv"
    live = project / f".out.vfx-partial-{host_tag()}-{os.getppid()}.mkv"  # a render still running
    elsewhere = project / f".out.vfx-partial-otherhost-{dead_pid()}.mkv"  # another machine's
    users = [project / ".out.vfx-partial-notes.mkv", project / f".other.vfx-partial-{host_tag()}-{dead_pid()}.mkv"]
    for path in [stale, live, elsewhere, *users]:
        path.write_bytes(b"partial")
    before = snapshot(project)
    assert vfx("render", "p.toml", "-q").returncode == 0
    assert changed(before, snapshot(project)) == {stale.name, "out.mkv"}
    assert live.exists() and elsewhere.exists() and all(p.exists() for p in users)


def test_stale_partial_sequence_folder_is_removed_by_the_next_sequence_render(tmp_path):
    from vfx.util.atomic import AtomicDir, host_tag

    stale = tmp_path / f".vfx-partial-{host_tag()}-{dead_pid()}-0123abcd"
    live = tmp_path / f".vfx-partial-{host_tag()}-{os.getppid()}-0123abcd"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "f_0.png").write_bytes(b"partial")
    (tmp_path / ".vfx-partial-mine").mkdir()
    target = AtomicDir(tmp_path)
    target.discard()
    assert not stale.exists() and live.exists() and (tmp_path / ".vfx-partial-mine").exists()


def test_one_sweep_removes_the_dead_partials_of_many_outputs_in_a_folder(tmp_path):
    from vfx.util.atomic import host_tag, remove_stale_partials

    pid = dead_pid()
    dead = [tmp_path / f".f_{i}.vfx-partial-{host_tag()}-{pid}.png" for i in range(3)]
    kept = [
        tmp_path / f".f_9.vfx-partial-{host_tag()}-{os.getppid()}.png",
        tmp_path / "f_0.png",
        tmp_path / f".f_8.vfx-partial-otherhost-{pid}.png",
        tmp_path / ".notes.vfx-partial-x.txt",
    ]
    for path in dead + kept:
        path.write_bytes(b"x")
    assert sorted(remove_stale_partials(tmp_path)) == sorted(dead)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in dead)


# --- signals --------------------------------------------------------------------------------

SLOW = """
    [pipeline]
    width = 64
    height = 64
    duration = 100000
    [nodes.noise]
    type = "source.testpattern"
    pattern = "noise"
    [nodes.out]
    type = "encode.video"
    input = "noise"
    codec = "ffv1"
    path = "out.mkv"
"""


@pytest.mark.parametrize(
    "sig, code, message", [(signal.SIGTERM, 143, "aborted (SIGTERM)"), (signal.SIGHUP, 129, "aborted (SIGHUP)")]
)
def test_a_signal_mid_render_removes_the_partial_and_keeps_the_old_output(tmp_path, sig, code, message):
    p = write_pipeline(tmp_path, SLOW)
    (tmp_path / "out.mkv").write_bytes(b"an older render")
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        [VFX, "render", str(p), "--batch-size", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".out.vfx-partial-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob(".out.vfx-partial-*")), "the render never started writing"
        time.sleep(0.3)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert message in err and "Traceback" not in err
    assert changed(before, snapshot(tmp_path)) == set()  # no partial left, the old output intact


# --- Ray's own messages ---------------------------------------------------------------------


def test_ray_banners_and_worker_notices_go_to_the_log_not_to_vfx_output(tmp_path):
    import logging

    pytest.importorskip("ray")
    from vfx.farm.executor import ray_messages_to

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with ray_messages_to(tmp_path / "ray.log") as log:
            logging.getLogger("ray").handlers.clear()  # as ray.init(configure_logging=False) does
            logging.getLogger("ray._private.authentication.authentication_token_setup").warning(
                "Token authentication is enabled for this Ray cluster."
            )
            notice = threading.Thread(
                target=lambda: print("(raylet) A worker died or was killed"), name="ray_listen_error_messages"
            )
            notice.start()
            notice.join()
            print("vfx's own line")
    assert out.getvalue() == "vfx's own line\n" and err.getvalue() == ""
    text = (tmp_path / "ray.log").read_text()
    assert "Token authentication" in text and "(raylet) A worker died" in text and log.written
