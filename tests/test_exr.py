"""OpenEXR in and out: exact float round trips, half, alpha, layers and parts, windows, every
compression, cross-checked against OpenImageIO (another library reading and writing the files)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.media.exr import exr_header, read_exr, write_exr
from vfx.pipeline import load

from conftest import run_vfx, write_pipeline

oiio = pytest.importorskip("OpenImageIO")

W, H = 64, 48


def scene(seed: int, alpha: bool = True) -> np.ndarray:
    """(H, W, 4) float32 premultiplied RGBA with scene-linear values: above 1, below 0, tiny."""
    rng = np.random.default_rng(seed)
    rgb = rng.normal(0.5, 2.0, (H, W, 3)).astype(np.float32)
    rgb[0, :3] = [1e-8, 65000.0, -3.5]
    a = rng.random((H, W, 1), dtype=np.float32) if alpha else np.ones((H, W, 1), np.float32)
    a[:4, :4] = 0.0
    return np.concatenate([rgb * a, a], axis=2)


def oiio_write(path, layers: dict[str, np.ndarray], fmt=None, compression="zip", origin=(0, 0), full=None):
    """Write an EXR with OpenImageIO: layer "" as R G B A, others as NAME.R ... in one part."""
    fmt = fmt or oiio.FLOAT
    names, planes = [], []
    for name, frame in layers.items():
        names += [f"{name}.{c}" if name else c for c in "RGBA"[: frame.shape[2]]]
        planes.append(frame)
    data = np.ascontiguousarray(np.concatenate(planes, axis=2))
    spec = oiio.ImageSpec(data.shape[1], data.shape[0], data.shape[2], fmt)
    spec.channelnames = tuple(names)
    spec.attribute("compression", compression)
    spec.x, spec.y = origin
    if full is not None:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = full
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec), oiio.geterror()
    assert out.write_image(data)
    out.close()


def oiio_read(path, subimage: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """Channel names and float32 pixels of one subimage (part) as OpenImageIO reads it."""
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    assert inp.seek_subimage(subimage, 0)
    names = tuple(inp.spec().channelnames)
    data = inp.read_image(subimage, 0, 0, len(names), oiio.FLOAT)
    inp.close()
    return names, data


def render_file(path) -> None:
    render(build(load(path)), RenderOptions(device="cpu"))


PIPE = """
format = 1
[pipeline]
width = 64
height = 48
fps = 24

[nodes.beauty]
type = "source.exr_sequence"
path = "in/shot_%04d.exr"

[nodes.diffuse]
type = "source.exr_sequence"
path = "in/shot_%04d.exr"
layer = "diffuse"

[nodes.out]
type = "encode.exr_sequence"
input = "beauty"
path = "out/render_%04d.exr"
{extra}
"""


def test_float_exr_from_openimageio_round_trips_bit_exact_with_alpha_and_two_layers(tmp_path):
    (tmp_path / "in").mkdir()
    frames = {n: (scene(n), scene(100 + n, alpha=False)) for n in range(1001, 1004)}
    for n, (beauty, diffuse) in frames.items():
        oiio_write(tmp_path / f"in/shot_{n:04d}.exr", {"": beauty, "diffuse": diffuse[..., :3]}, compression="piz")
    header = exr_header(tmp_path / "in/shot_1001.exr")
    assert [(layer.name, layer.has_alpha, layer.pixel_type) for layer in header.layers] == [
        ("", True, "float"),
        ("diffuse", False, "float"),
    ]
    p = write_pipeline(
        tmp_path,
        PIPE.format(
            extra='pixel_type = "float"\ncompression = "zip"\ntiled = true\ntile_size = 16\n'
            'layers = [{input = "diffuse", name = "diffuse"}]'
        ),
    )
    render_file(p)
    written = sorted(f.name for f in (tmp_path / "out").iterdir())
    assert written == ["render_0000.exr", "render_0001.exr", "render_0002.exr"]  # named by frame index
    for k, (beauty, diffuse) in enumerate(frames.values()):
        path = tmp_path / f"out/render_{k:04d}.exr"
        names, data = oiio_read(path)  # the other library reads what vfx wrote
        assert names == ("R", "G", "B", "A", "diffuse.R", "diffuse.G", "diffuse.B")
        assert np.array_equal(data[..., :4].view(np.uint32), beauty.view(np.uint32))
        assert np.array_equal(data[..., 4:], diffuse[..., :3])
        assert np.array_equal(read_exr(path).view(np.uint32), beauty.view(np.uint32))
        assert exr_header(path).tiled and exr_header(path).compression == "zip"


def test_half_exr_round_trips_to_the_same_halves(tmp_path):
    (tmp_path / "in").mkdir()
    src = [scene(n).astype(np.float16) for n in range(2)]
    for n, frame in enumerate(src):
        write_exr(tmp_path / f"in/shot_{n:04d}.exr", {"": frame.astype(np.float32)}, pixel_type="half")
    assert exr_header(tmp_path / "in/shot_0000.exr").layers[0].pixel_type == "half"
    p = write_pipeline(
        tmp_path, PIPE.format(extra='pixel_type = "half"\ncompression = "piz"').replace("layer = ", "# ")
    )
    spec = load(p)
    del spec.nodes["diffuse"]
    render(build(spec), RenderOptions(device="cpu"))
    for n, frame in enumerate(src):
        names, data = oiio_read(tmp_path / f"out/render_{n:04d}.exr")
        assert names == ("R", "G", "B", "A")
        assert np.array_equal(data.astype(np.float16), frame)


@pytest.mark.parametrize(
    "compression, exact",
    [("none", True), ("rle", True), ("zips", True), ("zip", True), ("piz", True), ("pxr24", False)]
    + [("b44", False), ("b44a", False), ("dwaa", False), ("dwab", False)],
)
def test_every_compression_writes_what_openimageio_reads(tmp_path, compression, exact):
    frame = np.clip(scene(7), -4, 4)
    path = tmp_path / "f.exr"
    write_exr(path, {"": frame}, pixel_type="half", compression=compression, tiled=compression == "dwaa")
    assert exr_header(path).compression == compression
    names, theirs = oiio_read(path)
    ours = read_exr(path)
    assert names == ("R", "G", "B", "A")
    assert np.array_equal(ours, theirs)  # both libraries decode the same values
    half = frame.astype(np.float16).astype(np.float32)
    if exact:
        assert np.array_equal(ours, half)
    else:  # lossy: close, on a smooth-ish image
        assert np.median(np.abs(ours - half)) < 0.1


def test_data_window_inside_and_beyond_the_display_window(tmp_path):
    rgb = np.full((20, 70, 4), 0.25, np.float32)
    rgb[..., 3] = 0.5
    path = tmp_path / "dw.exr"
    oiio_write(path, {"": rgb}, origin=(10, 5), full=(0, 0, W, H))
    header = exr_header(path)
    assert (header.width, header.height) == (W, H)
    assert header.data_window == (10, 5, 79, 24) and header.display_window == (0, 0, W - 1, H - 1)
    frame = read_exr(path)
    assert frame.shape == (H, W, 4)
    assert (frame[5:25, 10:] == rgb[:, :54]).all()  # cut at the display window's right edge
    assert (frame[:5] == 0).all() and (frame[25:] == 0).all() and (frame[:, :10] == 0).all()


def test_multipart_output_and_probe_lists_the_layers(tmp_path):
    (tmp_path / "in").mkdir()
    beauty, diffuse = scene(1), scene(2)
    write_exr(tmp_path / "in/shot_0000.exr", {"": beauty, "diffuse": diffuse}, pixel_type="float")
    p = write_pipeline(
        tmp_path,
        PIPE.format(
            extra='pixel_type = "float"\nmultipart = true\ncompression = "none"\n'
            'layers = [{input = "diffuse", name = "diffuse"}]'
        ),
    )
    render_file(p)
    out = tmp_path / "out/render_0000.exr"
    assert [layer.name for layer in exr_header(out).layers] == ["rgba", "diffuse"]
    assert np.array_equal(oiio_read(out, 1)[1], diffuse) and np.array_equal(oiio_read(out, 0)[1], beauty)
    res = run_vfx("probe", out, "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert [(la["name"], la["part"], la["channels"]) for la in info["layers"]] == [
        ("rgba", 0, ["R", "G", "B", "A"]),
        ("diffuse", 1, ["R", "G", "B", "A"]),
    ]
    text = run_vfx("probe", tmp_path / "in/shot_0000.exr").stdout
    assert "layer (default) (R G B A, float)" in text and "layer diffuse (R G B A, float)" in text


def test_a_single_file_is_held_and_an_alpha_free_layer_is_opaque(tmp_path):
    frame = scene(3)
    write_exr(tmp_path / "still.exr", {"": frame}, pixel_type="float", alpha=False)
    p = write_pipeline(
        tmp_path,
        """
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        [nodes.still]
        type = "source.exr_sequence"
        path = "still.exr"
        duration = 4
        [nodes.out]
        type = "encode.exr_sequence"
        input = "still"
        path = "out/s_%02d.exr"
        pixel_type = "float"
        """,
    )
    graph = build(load(p))
    assert graph.nodes["still"].video.frame_count == 4 and not graph.nodes["still"].video.has_alpha
    render(graph, RenderOptions(device="cpu"))
    names, data = oiio_read(tmp_path / "out/s_03.exr")
    assert names == ("R", "G", "B") and np.array_equal(data, frame[..., :3])


def test_bad_input_names_the_node_and_option(tmp_path):
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in/shot_0001.exr", {"": scene(1)})
    write_exr(tmp_path / "in/shot_0003.exr", {"": scene(1)})
    cases = [
        ('layer = "spec"\ngaps = "hold"', "layer", "has no layer 'spec'; its layers are '(default)'"),
        ("", "path", "image number 2 is missing"),
    ]
    for extra, option, message in cases:
        p = write_pipeline(
            tmp_path,
            PIPE.format(extra="").replace('layer = "diffuse"', extra or 'layer = "diffuse"'),
        )
        with pytest.raises(PipelineError) as err:
            build(load(p))
        problem = next(pr for pr in err.value.problems if pr.node == "diffuse")
        assert problem.option == option and message in problem.message
    write_exr(tmp_path / "in/shot_0002.exr", {"": scene(1)})
    p = write_pipeline(tmp_path, PIPE.format(extra="").replace("render_%04d.exr", "render_%04d.png"))
    res = run_vfx("validate", p)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "node 'out': option 'path': EXR sequences are written as .exr files" in res.stderr


def test_output_never_overwrites_its_own_input_and_leaves_no_partials(tmp_path):
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in/shot_0000.exr", {"": scene(1)})
    p = write_pipeline(
        tmp_path, PIPE.format(extra="").replace("out/render_%04d.exr", "in/shot_%04d.exr").replace("layer =", "# ")
    )
    res = run_vfx("render", p)
    assert res.returncode == 2 and "refusing to overwrite an input" in res.stderr
    assert sorted(f.name for f in (tmp_path / "in").iterdir()) == ["shot_0000.exr"]


def test_listing_nodes_imports_no_interchange_library():
    code = (
        "import sys, vfx; from vfx.plugins import get_registry; r = get_registry(); "
        "assert 'source.exr_sequence' in r.nodes and 'effect.ocio' in r.nodes; "
        "print(sorted(m for m in ('OpenEXR', 'PyOpenColorIO', 'opentimelineio', 'OpenImageIO') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dwa_level_trades_size_for_quality(tmp_path):
    (tmp_path / "in").mkdir()
    write_exr(tmp_path / "in/shot_0000.exr", {"": np.clip(scene(4), 0, 4)}, pixel_type="float")
    sizes, errors = [], []
    for level in (20, 400):
        extra = f'compression = "dwaa"\ndwa_level = {level}'
        p = write_pipeline(tmp_path, PIPE.format(extra=extra).replace("out/", f"out{level}/").replace("layer =", "# "))
        render_file(p)
        out = tmp_path / f"out{level}/render_0000.exr"
        assert exr_header(out).compression == "dwaa"
        sizes.append(out.stat().st_size)
        errors.append(float(np.abs(read_exr(out) - read_exr(tmp_path / "in/shot_0000.exr")).mean()))
    assert sizes[1] < sizes[0] and errors[1] > errors[0]
