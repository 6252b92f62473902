"""The node cache: keys, stores, and renders through it that match renders without it exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx.cache import DiskStore, MemoryStore, NodeCache, graph_keys
from vfx.cache import entry
from vfx.cache.disk import check_folder
from vfx.engine import RenderOptions, render, render_frames
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_frames, make_png, run_vfx, write_pipeline

PIPELINE = """
format = 1
[pipeline]
width = 48
height = 32
fps = 24
duration = 8
seed = 5
[vars]
amount = 0.5
[nodes.noise]
type = "background.noise"
[nodes.grade]
type = "effect.grade"
input = "noise"
exposure = { keyframes = [[0, 0.0], [7, 1.0]] }
[nodes.logo]
type = "source.image"
path = "logo.png"
[nodes.comp]
type = "editor.composite"
layers = ["grade", { input = "logo", position = [4, 4] }]
[nodes.slow]
type = "editor.speed"
input = "comp"
factor = 0.5
[nodes.blur]
type = "effect.blur"
input = "slow"
radius = "${amount}"
[nodes.out]
type = "encode.video"
input = "blur"
path = "out.mkv"
codec = "ffv1"
"""


@pytest.fixture
def project(tmp_path):
    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    make_png(tmp_path / "logo.png", rgba)
    return write_pipeline(tmp_path, PIPELINE)


def counted(graph, calls: Counter | None = None) -> Counter:
    """Frames each node of ``graph`` renders from now on (its ``render`` calls, counted per frame)."""
    calls = Counter() if calls is None else calls
    for node in graph.nodes.values():

        def wrap(original, node_id=node.id):
            def render(indices):
                calls[node_id] += len(indices)
                return original(indices)

            return render

        node.render = wrap(node.render)
    return calls


def pixels(path, overrides=(), cache=None, frames=None, node="blur"):
    """The frames of ``node`` (all of them, or ``frames``) and the render calls it took."""
    graph = build(load(path, list(overrides)))
    calls = counted(graph)
    target = graph.nodes[node]
    indices = frames or list(range(target.video.frame_count))
    batch = render_frames(graph, target, indices, cache=cache)
    return batch.pixels.clone(), calls


def disk_cache(folder, **kw) -> NodeCache:
    return NodeCache.open(folder, policy="all", memory=False, **kw)


def test_a_cached_render_is_pixel_identical_and_renders_nothing_twice(project, tmp_path):
    plain, calls = pixels(project)
    assert calls["blur"] == 16
    cold, cold_calls = pixels(project, cache=disk_cache(tmp_path / "c"))
    warm, warm_calls = pixels(project, cache=disk_cache(tmp_path / "c"))
    assert torch.equal(plain, cold) and torch.equal(plain, warm)
    # each distinct frame once (the slow motion reads every input frame twice)
    assert dict(cold_calls) == {"noise": 8, "grade": 8, "logo": 8, "comp": 8, "slow": 16, "blur": 16}
    assert sum(warm_calls.values()) == 0


def test_changing_one_option_recomputes_that_node_and_its_dependents_only(project, tmp_path):
    pixels(project, cache=disk_cache(tmp_path / "c"))
    changed, calls = pixels(project, ["amount=1.5"], cache=disk_cache(tmp_path / "c"))
    assert dict(calls) == {"blur": 16}
    reference, _ = pixels(project, ["amount=1.5"])
    assert torch.equal(changed, reference)
    # an option upstream: the composite, the speed change and the blur follow; the logo and noise do not
    _, calls = pixels(project, ["grade.exposure=0.25"], cache=disk_cache(tmp_path / "c"))
    assert set(calls) == {"grade", "comp", "slow", "blur"}


def test_keys_follow_options_inputs_and_files(project):
    a = graph_keys(build(load(project)), "cpu")
    assert a == graph_keys(build(load(project)), "cpu")
    assert a["out"] is None  # encoders are never cached
    b = graph_keys(build(load(project, ["grade.exposure=0.3"])), "cpu")
    assert [n for n in a if a[n] != b[n]] == ["grade", "comp", "slow", "blur"]
    # the same bytes count, not the file's stamp; new content of the same size and time is a new key
    logo = project.parent / "logo.png"
    st = logo.stat()
    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 200, 255
    make_png(logo, rgba)
    os.utime(logo, ns=(st.st_atime_ns, st.st_mtime_ns))
    c = graph_keys(build(load(project)), "cpu")
    assert {n for n in a if a[n] != c[n]} == {"logo", "comp", "slow", "blur"}


def test_changed_input_file_recomputes_what_reads_it(project, tmp_path):
    pixels(project, cache=disk_cache(tmp_path / "c"))
    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 255, 255
    make_png(project.parent / "logo.png", rgba)
    got, calls = pixels(project, cache=disk_cache(tmp_path / "c"))
    assert set(calls) == {"logo", "comp", "slow", "blur"} and "noise" not in calls
    assert torch.equal(got, pixels(project)[0])


def test_a_node_type_can_opt_out_and_so_can_what_reads_it(project, monkeypatch):
    graph = build(load(project))
    monkeypatch.setattr(type(graph.nodes["slow"]), "cacheable", False)
    keys = graph_keys(graph, "cpu")
    assert keys["slow"] is None and keys["blur"] is None and keys["comp"] is not None


def test_cache_key_hook_adds_to_the_key(project, monkeypatch):
    before = graph_keys(build(load(project)), "cpu")
    monkeypatch.setattr(type(build(load(project)).nodes["noise"]), "cache_key", lambda self: {"model": "abc"})
    after = graph_keys(build(load(project)), "cpu")
    assert before["noise"] != after["noise"] and before["logo"] == after["logo"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_a_corrupt_entry_is_detected_and_recomputed(project, tmp_path, damage):
    pixels(project, cache=disk_cache(tmp_path / "c"), frames=[3])
    store = DiskStore(tmp_path / "c", 1 << 30)
    key = graph_keys(build(load(project)), "cpu")["blur"]
    path = store.path(key, 3)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data[: len(data) // 3] if damage == "truncate" else b"" if damage == "empty" else data))
    cache = disk_cache(tmp_path / "c")
    got, calls = pixels(project, cache=cache, frames=[3])
    assert dict(calls) == {"blur": 1}
    assert torch.equal(got, pixels(project, frames=[3])[0])
    assert [p for p, _ in cache.corrupt()] == [path]
    assert entry.decode(path.read_bytes(), key, 3) is not None  # rewritten whole


def test_entries_round_trip_exactly_and_refuse_another_key():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 7, 4)).astype(np.float32)
    a[0, 0] = [np.nan, np.inf, -0.0, 1e-40]
    data = entry.encode("k" * 32, 9, a)
    assert entry.decode(data, "k" * 32, 9).tobytes() == a.tobytes()
    with pytest.raises(entry.CorruptEntry):
        entry.decode(data, "j" * 32, 9)
    with pytest.raises(entry.CorruptEntry):
        entry.decode(data, "k" * 32, 8)


def test_a_killed_writers_partial_is_never_read_and_clear_removes_only_the_caches_files(project, tmp_path):
    folder = tmp_path / "c"
    pixels(project, cache=disk_cache(folder), frames=[0])
    key = graph_keys(build(load(project)), "cpu")["noise"]
    store = DiskStore(folder, 1 << 30)
    final = store.path(key, 5)
    dead = final.parent / f".{final.stem}.vfx-partial-{_host()}-999999999-0badc0de.vfxc"
    dead.write_bytes(final.with_name(store.path(key, 0).name).read_bytes()[:100])
    assert store.get(key, 5) is None  # a partial is not an entry
    mine = folder / "notes.txt"
    mine.write_text("keep me")
    alien = final.parent / "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-0000001.vfxc"  # an entry's name, not its content
    alien.write_text("not an entry")
    res = run_vfx("cache", "clear", folder)
    assert res.returncode == 0, res.stderr
    assert mine.read_text() == "keep me" and alien.exists() and not dead.exists()
    assert DiskStore(folder, 1 << 30).info().entries == 1  # only the alien file is left with an entry's name


def _host():
    from vfx.util.atomic import host_tag

    return host_tag()


def test_the_disk_store_stays_within_its_bound(project, tmp_path):
    one = 48 * 32 * 16  # an entry is at most a frame and a header
    cache = NodeCache.open(tmp_path / "c", policy="all", memory=False, disk_limit=str(1 << 20))
    cache.disk.limit = 6 * one  # under the 1 MiB the option accepts, for a small test
    got, _ = pixels(project, cache=cache)
    assert cache.disk.info().bytes <= 6 * one
    assert torch.equal(got, pixels(project)[0])


def test_the_memory_store_stays_within_its_bound_and_evicts_the_oldest():
    store = MemoryStore(3 * 4 * 4 * 8 * 8)
    frames = [torch.full((1, 4, 8, 8), float(i)) for i in range(5)]
    for i, f in enumerate(frames):
        store.put("k", i, f)
        assert store.size <= store.limit
    assert store.get("k", 0) is None and store.get("k", 1) is None and torch.equal(store.get("k", 4), frames[4])


def test_memory_hits_are_pixel_identical_and_not_aliased(project):
    cache = NodeCache.open(disk=False, policy="all")
    a, _ = pixels(project, cache=cache)
    b, calls = pixels(project, cache=cache)
    assert torch.equal(a, b) and sum(calls.values()) == 0
    assert cache.memory.size <= cache.memory.limit


def test_two_processes_filling_one_cache_lose_nothing(project, tmp_path):
    folder = tmp_path / "shared"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    script = (
        "import sys\n"
        "from vfx.cache import NodeCache\n"
        "from vfx.engine import RenderOptions, render\n"
        "from vfx.graph import build\n"
        "from vfx.pipeline import load\n"
        "g = build(load(sys.argv[1], ['out.path=' + sys.argv[3]]))\n"
        "render(g, RenderOptions(device='cpu', cache=NodeCache.open(sys.argv[2], policy='all', memory=False)))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(project), str(folder), f"out{i}.mkv"], env=env)
        for i in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    info = DiskStore(folder, 1 << 30).info()
    assert info.partials == 0 and info.entries == 8 * 4 + 16 * 2  # noise grade logo comp, slow blur
    got, calls = pixels(project, cache=disk_cache(folder))
    assert sum(calls.values()) == 0 and torch.equal(got, pixels(project)[0])
    first, second = (decode_frames(project.parent / f"out{i}.mkv", "gbrp") for i in range(2))
    assert all(np.array_equal(x, y) for x, y in zip(first, second))


def test_render_cli_with_cache_writes_the_same_file(project, tmp_path):
    run_vfx("render", project, "-q", "--set", "out.path=plain.mkv", check=True)
    for name in ("cold.mkv", "warm.mkv"):
        res = run_vfx(
            "render", project, "--set", f"out.path={name}", "--cache", tmp_path / "c", "--cache-policy", "all"
        )
        assert res.returncode == 0, res.stderr
    assert "frames read back" in res.stdout
    plain, warm = (decode_frames(tmp_path / n, "gbrp") for n in ("plain.mkv", "warm.mkv"))
    assert len(plain) == 16 and all(np.array_equal(x, y) for x, y in zip(plain, warm))
    info = run_vfx("cache", "info", tmp_path / "c")
    assert info.returncode == 0 and "frames of 6 nodes" in info.stdout


def test_bad_cache_folders_are_refused_with_exit_2(project, tmp_path):
    res = run_vfx("render", project, "--cache", project)
    assert res.returncode == 2 and "option '--cache'" in res.stderr and str(project) in res.stderr
    assert "Traceback" not in res.stderr
    other = tmp_path / "mine"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    res = run_vfx("render", project, "--cache", other)
    assert res.returncode == 2 and "not a vfx cache" in res.stderr
    res = run_vfx("cache", "clear", other)
    assert res.returncode == 2 and (other / "holiday.jpg").exists()
    res = run_vfx("render", project, "--cache", tmp_path / "c", "--cache-size", "lots")
    assert res.returncode == 2 and "--cache-size" in res.stderr


def test_default_folder_comes_from_the_environment(tmp_path, monkeypatch):
    from vfx.cache import default_folder

    monkeypatch.setenv("VFX_CACHE_DIR", str(tmp_path / "x"))
    assert default_folder() == tmp_path / "x"
    assert check_folder(tmp_path / "x", create=True) == tmp_path / "x"
    assert (tmp_path / "x" / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_a_matrix_renders_the_nodes_its_rows_share_once(project, tmp_path, monkeypatch):
    from vfx.farm import variants as variants_module

    matrix = tmp_path / "rows.csv"
    matrix.write_text("amount\n0.5\n1.0\n1.5\n")
    calls: Counter = Counter()
    import vfx.graph

    original = vfx.graph.build

    def counting_build(*args, **kw):
        graph = original(*args, **kw)
        counted(graph, calls)
        return graph

    monkeypatch.setattr(vfx.graph, "build", counting_build)
    rows = variants_module.read_matrix(matrix, project)
    for i, v in enumerate(rows):
        v.overrides.append(f"out.path=row{i}.mkv")
    import contextlib

    variants_module.render_matrix_local(
        str(project), rows, [], RenderOptions(device="cpu"), lambda v: contextlib.nullcontext(None)
    )
    assert [v.error for v in rows] == [None, None, None]
    assert calls["noise"] == 8 and calls["comp"] == 8 and calls["slow"] == 16  # once, for three rows
    assert calls["blur"] == 3 * 16
    for i, amount in enumerate(["0.5", "1.0", "1.5"]):
        reference = build(load(project, [f"amount={amount}", f"out.path=ref{i}.mkv"]))
        render(reference, RenderOptions(device="cpu"))
        a, b = (decode_frames(project.parent / n, "gbrp") for n in (f"row{i}.mkv", f"ref{i}.mkv"))
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_preview_reads_through_the_cache(project, tmp_path):
    folder = tmp_path / "c"
    for name in ("a.png", "b.png"):
        res = run_vfx("preview", project, "-f", "3", "-o", tmp_path / name, "--cache", folder, "--cache-policy", "all")
        assert res.returncode == 0, res.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert DiskStore(folder, 1 << 30).info().entries > 0


def test_the_auto_policy_never_converts_passed_through_video(tmp_path, clip):
    p = write_pipeline(
        tmp_path,
        """
        [nodes.src]
        type = "source.video"
        path = "clip.mp4"
        [nodes.out]
        type = "encode.video"
        input = "src"
        path = "t.mp4"
        preset = "ultrafast"
        """,
    )
    res = run_vfx("render", p, "--cache", tmp_path / "c")  # its own process: it imports no torch
    assert res.returncode == 0, res.stderr
    assert "0 stored" in res.stdout and DiskStore(tmp_path / "c", 1 << 30).info().entries == 0


def test_frames_written_by_the_cache_are_read_back_as_they_were(tmp_path):
    store = DiskStore(tmp_path / "c", 1 << 30)
    a = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    store.put("0" * 32, 1, a)
    assert np.array_equal(store.get("0" * 32, 1), a) and store.get("0" * 32, 2) is None
    assert Path(store.path("0" * 32, 1)).parent.name == "00"


def test_farm_chunks_share_a_cache_folder(project, tmp_path):
    from vfx.farm.planning import Chunk
    from vfx.farm.segments import Job, render_segment

    job = Job(str(project), ["amount=1.0"], device="cpu", cache=str(tmp_path / "farmcache"), cache_policy="all")
    for chunk in (Chunk(0, 0, 8), Chunk(1, 8, 16)):
        render_segment(job, chunk, tmp_path / "segs")
    store = DiskStore(tmp_path / "farmcache", 1 << 30)
    assert store.info().entries > 0
    cache = disk_cache(tmp_path / "farmcache")
    got, calls = pixels(project, ["amount=1.0"], cache=NodeCache(store, None, "auto"))
    assert torch.equal(got, pixels(project, ["amount=1.0"])[0])
    assert sum(calls.values()) == 0  # every frame, stored by the two chunks, is read back
    assert cache.disk.info().partials == 0


def test_stored_frames_are_those_the_node_made_even_when_a_consumer_draws_on_them(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 36
        duration = 6
        [nodes.noise]
        type = "background.noise"
        [nodes.dot]
        type = "source.color"
        color = "#ff000080"
        size = [8, 8]
        [nodes.comp]
        type = "editor.composite"
        layers = ["noise", "dot"]
        [nodes.title]
        type = "source.text"
        input = "comp"
        text = "DRAWN IN PLACE"
        size = 30
        color = "#ffffff"
        [nodes.out]
        type = "encode.video"
        input = "title"
        path = "out.mkv"
        codec = "ffv1"
        """,
    )
    cache = disk_cache(tmp_path / "c")
    render(build(load(p)), RenderOptions(device="cpu", cache=cache, batch_size=3))
    graph = build(load(p))
    key = graph_keys(graph, "cpu")["comp"]  # its batches are its own, so the title draws on them in place
    plain = render_frames(graph, graph.nodes["comp"], list(range(6))).pixels
    store = DiskStore(tmp_path / "c", 1 << 30)
    for i in range(6):
        stored = torch.from_numpy(store.get(key, i)).permute(2, 0, 1)
        assert torch.equal(stored, plain[i])


def test_a_cache_that_cannot_be_written_does_not_fail_the_render(project, tmp_path, monkeypatch):
    cache = disk_cache(tmp_path / "c")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.disk, "put", full)
    got, _ = pixels(project, cache=cache)
    assert torch.equal(got, pixels(project)[0])
    assert cache.write_errors and "No space left" in cache.write_errors[0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cached_render_on_the_gpu_matches_and_keys_its_precision_class(project, tmp_path):
    graph = build(load(project), device="cuda")
    plain = render_frames(graph, graph.nodes["blur"], list(range(16)), device="cuda").pixels.cpu()
    for _ in range(2):
        cache = NodeCache.open(tmp_path / "g", policy="all")
        graph = build(load(project), device="cuda")
        got = render_frames(graph, graph.nodes["blur"], list(range(16)), device="cuda", cache=cache).pixels
        assert got.device.type == "cuda" and torch.equal(got.cpu(), plain)
    assert cache.stats.total("rendered") == 0
    assert graph_keys(build(load(project)), "cpu")["blur"] != graph_keys(graph, "cuda")["blur"]


def captured(path, cache=None, batch_size=None) -> torch.Tensor:
    """The frames the encoder of ``path`` receives, exactly (captured before conversion)."""
    graph = build(load(path))
    encoder = graph.nodes["out"]
    got: dict[int, torch.Tensor] = {}
    original = encoder.prepare

    def prepare(batch):
        for i, frame in zip(batch.indices, batch.pixels):
            got[i] = frame.clone()
        return original(batch)

    encoder.prepare = prepare
    render(graph, RenderOptions(device="cpu", cache=cache, batch_size=batch_size))
    return torch.stack([got[i] for i in sorted(got)])


@pytest.mark.parametrize("batch_size", [1, 3])
def test_frames_read_ahead_reach_the_encoder_exactly(project, tmp_path, batch_size):
    plain = captured(project)
    captured(project, disk_cache(tmp_path / "c"), batch_size)
    cache = disk_cache(tmp_path / "c")
    warm = captured(project, cache, batch_size)
    assert torch.equal(warm, plain) and len(warm) == 16
    assert cache.stats.total("rendered") == 0 and cache.stats.nodes["blur"].disk_hits == 16
