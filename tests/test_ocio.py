"""OpenColorIO: effect.ocio and the [color] table against PyOpenColorIO computing the same
transforms directly, the ACES 2.0 display transform of a known ACEScg value, and the default
(no [color] table) unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.media.exr import read_exr, write_exr
from vfx.ops.color import linear_to_srgb
from vfx.pipeline import load

from conftest import decode_frames, run_vfx, write_pipeline

ocio = pytest.importorskip("PyOpenColorIO")
W, H = 64, 48
CONFIG = "studio-config-latest"
SDR_VIEW = "ACES 2.0 - SDR 100 nits (Rec.709)"


def direct(transform, rgb: np.ndarray) -> np.ndarray:
    """``transform`` applied to straight (..., 3) float32 values by PyOpenColorIO itself."""
    config = ocio.Config.CreateFromBuiltinConfig(CONFIG)
    cpu = config.getProcessor(transform).getDefaultCPUProcessor()
    out = np.ascontiguousarray(rgb, np.float32).copy()
    cpu.applyRGB(out)
    return out


def scene(alpha: bool) -> np.ndarray:
    rng = np.random.default_rng(5)
    rgb = rng.uniform(0.0, 4.0, (H, W, 3)).astype(np.float32)
    a = (rng.uniform(0.2, 1.0, (H, W, 1)) if alpha else np.ones((H, W, 1))).astype(np.float32)
    a[: H // 2] = 1.0  # the top half opaque
    return np.concatenate([rgb * a, a], axis=2)


PIPE = """
format = 1
[pipeline]
width = 64
height = 48
fps = 24
{color}
[nodes.plate]
type = "source.exr_sequence"
path = "in.exr"
duration = 1
{source}
[nodes.fx]
type = "effect.ocio"
input = "plate"
{effect}
[nodes.out]
type = "encode.exr_sequence"
input = "fx"
path = "out/o_%d.exr"
pixel_type = "float"
"""


def run(tmp_path, frame, *, color="", source="", effect="") -> np.ndarray:
    write_exr(tmp_path / "in.exr", {"": frame}, pixel_type="float")
    p = write_pipeline(tmp_path, PIPE.format(color=color, source=source, effect=effect))
    render(build(load(p)), RenderOptions(device="cpu"))
    return read_exr(tmp_path / "out/o_0.exr")


def test_colour_space_conversion_matches_pyopencolorio(tmp_path):
    frame = scene(alpha=True)
    got = run(tmp_path, frame, effect='src = "ACEScg"\ndst = "ACEScct"')
    want = direct(ocio.ColorSpaceTransform(src="ACEScg", dst="ACEScct"), frame[..., :3] / frame[..., 3:])
    top = slice(0, H // 2)  # opaque: exactly OCIO's values
    assert np.array_equal(got[top, :, :3], want[top])
    # partly transparent: the log curve applied to straight colour, premultiplied again
    assert np.allclose(got[H // 2 :, :, :3], want[H // 2 :] * frame[H // 2 :, :, 3:], rtol=1e-5, atol=1e-6)
    assert np.array_equal(got[..., 3], frame[..., 3])


def test_cdl_options_and_a_cc_file_match_pyopencolorio(tmp_path):
    frame = scene(alpha=False)
    cdl = dict(slope=[1.2, 1.0, 0.8], offset=[0.01, 0.0, -0.02], power=[1.1, 1.0, 0.9], sat=0.7)
    effect = "slope = [1.2, 1.0, 0.8]\noffset = [0.01, 0.0, -0.02]\npower = [1.1, 1.0, 0.9]\nsaturation = 0.7"
    got = run(tmp_path, frame, effect=effect)
    want = direct(ocio.CDLTransform(**cdl), frame[..., :3])
    assert np.array_equal(got[..., :3], want)
    (tmp_path / "grade.cc").write_text(
        '<ColorCorrection id="shot1"><SOPNode><Slope>1.2 1.0 0.8</Slope><Offset>0.01 0.0 -0.02</Offset>'
        "<Power>1.1 1.0 0.9</Power></SOPNode><SATNode><Saturation>0.7</Saturation></SATNode></ColorCorrection>"
    )
    from_file = run(tmp_path, frame, effect='file = "grade.cc"')
    assert np.allclose(from_file[..., :3], want, atol=1e-6)


def test_the_aces_display_transform_of_mid_grey(tmp_path):
    """ACES 2.0 SDR maps scene 0.18 to 10 nits of a 100-nit display: sRGB code 0.3492 (89 of 255)."""
    grey = np.full((H, W, 4), 0.18, np.float32)
    grey[..., 3] = 1
    write_exr(tmp_path / "grey.exr", {"": grey}, pixel_type="float")
    p = write_pipeline(
        tmp_path,
        f"""
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        [color]
        config = "{CONFIG}"
        working_space = "ACEScg"
        [nodes.plate]
        type = "source.exr_sequence"
        path = "grey.exr"
        duration = 1
        [nodes.out]
        type = "encode.image_sequence"
        input = "plate"
        path = "png/g_%d.png"
        bits = "16"
        display = "sRGB - Display"
        view = "{SDR_VIEW}"
        """,
    )
    render(build(load(p)), RenderOptions(device="cpu"))
    code = decode_frames(tmp_path / "png/g_0.png", fmt="rgb48le")[0].astype(float) / 65535
    expected = float(linear_to_srgb(0.1))
    assert expected == pytest.approx(0.3492, abs=1e-4)
    assert np.abs(code - expected).max() < 2e-3  # 10 nits, within the ACES 2.0 model's tolerance
    # and exactly what OCIO computes for this view
    want = direct(ocio.DisplayViewTransform(src="ACEScg", display="sRGB - Display", view=SDR_VIEW), grey[:1, :1, :3])
    assert np.abs(code[0, 0] - want[0, 0]).max() < 1.5 / 65535


def test_media_sources_and_encoders_convert_through_the_working_space(tmp_path):
    from vfx.media.encode import write_png

    img = np.zeros((H, W, 3), np.uint8)
    img[:, : W // 2] = (200, 100, 50)
    img[:, W // 2 :] = (10, 128, 250)
    write_png(tmp_path / "in.png", img)
    body = """
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        duration = 1
        {color}
        [nodes.img]
        type = "source.image"
        path = "in.png"
        {source}
        [nodes.out]
        type = "encode.exr_sequence"
        input = "img"
        path = "{out}/f_%d.exr"
        pixel_type = "float"
        """
    # no [color] table: today's linear Rec.709
    render(build(load(write_pipeline(tmp_path, body.format(color="", source="", out="plain")))), RenderOptions())
    plain = read_exr(tmp_path / "plain/f_0.exr")
    # working space ACEScg: the same light, in AP1 primaries
    p = write_pipeline(tmp_path, body.format(color='[color]\nworking_space = "ACEScg"', source="", out="aces"))
    graph = build(load(p))
    assert graph.nodes["img"].type == "effect.ocio" and graph.nodes["img.decoded"].type == "source.image"
    render(graph, RenderOptions())
    aces = read_exr(tmp_path / "aces/f_0.exr")
    want = direct(ocio.ColorSpaceTransform(src="lin_rec709", dst="ACEScg"), plain[..., :3])
    assert np.array_equal(aces[..., :3], want)
    # a source in a named space: its code values go through that space's curve
    src = 'color_space = "sRGB Encoded AP1"'
    p = write_pipeline(tmp_path, body.format(color='[color]\nworking_space = "ACEScg"', source=src, out="ap1"))
    render(build(load(p)), RenderOptions())
    ap1 = read_exr(tmp_path / "ap1/f_0.exr")
    codes = img[:1, :1].astype(np.float32) / 255
    want = direct(ocio.ColorSpaceTransform(src="sRGB Encoded AP1", dst="ACEScg"), codes)
    assert np.allclose(ap1[0, 0, :3], want[0, 0], atol=2e-6)


def test_without_a_color_table_output_is_exactly_as_today(tmp_path):
    body = """
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        duration = 2
        {color}
        [nodes.bars]
        type = "source.testpattern"
        pattern = "bars"
        [nodes.img]
        type = "source.image"
        path = "in.png"
        [nodes.comp]
        type = "editor.composite"
        layers = ["bars", {{ input = "img", opacity = 0.5 }}]
        [nodes.out]
        type = "encode.image_sequence"
        input = "comp"
        path = "{out}/f_%d.png"
        """
    from vfx.media.encode import write_png

    write_png(tmp_path / "in.png", np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8))
    graph = build(load(write_pipeline(tmp_path, body.format(color="", out="today"))))
    assert {n.type for n in graph.nodes.values()} == {
        "source.testpattern",
        "source.image",
        "editor.composite",
        "encode.image_sequence",
    }
    render(graph, RenderOptions())
    # a [color] table whose working space is the graph's own: the same bytes
    p = write_pipeline(tmp_path, body.format(color='[color]\nworking_space = "lin_rec709"', out="managed"))
    render(build(load(p)), RenderOptions())
    for k in range(2):
        today = (tmp_path / f"today/f_{k}.png").read_bytes()
        assert (tmp_path / f"managed/f_{k}.png").read_bytes() == today


def test_bad_colour_settings_name_node_and_option(tmp_path):
    write_exr(tmp_path / "in.exr", {"": scene(False)})
    cases = [
        ("", "", 'src = "ACEScgg"\ndst = "ACEScg"', "fx", "src", "no colour space or role 'ACEScgg' (did you mean 'ACEScg'?)"),
        ("", "", 'display = "sRGB - Display"\nview = "Filmic"', "fx", "display", "has no view 'Filmic'"),
        ("", 'color_space = "ACEScg"', "", "plate", "color_space", "color_space needs a [color] table"),
        ('[color]\nworking_space = "ACEScg"\ngamut = 1', "", "", None, "color", "unknown [color] setting 'gamut'"),
    ]  # fmt: skip
    for color, source, effect, node, option, message in cases:
        p = write_pipeline(tmp_path, PIPE.format(color=color, source=source, effect=effect or 'dst = "ACEScg"'))
        with pytest.raises(PipelineError) as err:
            build(load(p))
        problem = next(pr for pr in err.value.problems if pr.option == option)
        assert problem.node == node and message in problem.message, problem
    res = run_vfx("validate", p)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "unknown [color] setting" in res.stderr


def test_exr_source_and_encoder_convert_from_and_to_their_colour_spaces(tmp_path):
    frame = scene(alpha=False)
    color = '[color]\nworking_space = "ACEScg"'
    write_exr(tmp_path / "in.exr", {"": frame}, pixel_type="float")
    p = write_pipeline(
        tmp_path,
        PIPE.format(color=color, source='color_space = "lin_rec709"', effect='dst = "ACEScg"').replace(
            'pixel_type = "float"',
            'pixel_type = "float"\ncolor_space = "ACES2065-1"\nlayers = [{ input = "fx", name = "P", data = true }]',
        ),
    )
    render(build(load(p)), RenderOptions(device="cpu"))
    got = read_exr(tmp_path / "out/o_0.exr")
    working = direct(ocio.ColorSpaceTransform(src="lin_rec709", dst="ACEScg"), frame[..., :3])
    want = direct(ocio.ColorSpaceTransform(src="ACEScg", dst="ACES2065-1"), working)
    assert np.allclose(got[..., :3], want, rtol=1e-6, atol=1e-6)
    data = read_exr(tmp_path / "out/o_0.exr", "P")  # a data layer is written as the graph holds it
    assert np.allclose(data[..., :3], working, rtol=1e-6, atol=1e-6)
    # a bad working space is found with the pipeline's other problems, at the [color] table
    bad = write_pipeline(tmp_path, PIPE.format(color='[color]\nworking_space = "ACEScgX"', source="", effect=""))
    with pytest.raises(PipelineError) as err:
        build(load(bad))
    problem = next(pr for pr in err.value.problems if pr.option == "color")
    assert "[color]: the OCIO config has no colour space or role 'ACEScgX'" in problem.message and problem.line


@pytest.mark.parametrize(
    "encoder, message",
    [
        ('type = "encode.video"\npath = "hdr.mp4"', "option 'codec': HDR needs a 10-bit codec"),
        (
            'type = "encode.image_sequence"\npath = "png/f_%02d.png"',
            "option 'display': 'Rec.2100-PQ - Display' is an HDR output",
        ),
    ],
)
def test_an_hdr_output_that_cannot_be_tagged_is_refused_not_mistagged(tmp_path, encoder, message):
    """HDR video is written by 10-bit codecs (tests/test_hdr.py); H.264 and PNG are refused."""
    write_exr(tmp_path / "in.exr", {"": scene(False)})
    p = write_pipeline(
        tmp_path,
        f"""
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        [color]
        working_space = "ACEScg"
        [nodes.plate]
        type = "source.exr_sequence"
        path = "in.exr"
        duration = 2
        [nodes.out]
        input = "plate"
        {encoder}
        display = "Rec.2100-PQ - Display"
        view = "ACES 2.0 - HDR 1000 nits (P3 D65)"
        """,
    )
    res = run_vfx("validate", p)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"node 'out': {message}" in res.stderr, res.stderr


def test_a_look_and_a_cube_file_match_pyopencolorio(tmp_path):
    frame = np.clip(scene(alpha=False), 0, 1)
    look = "ACES 1.3 Reference Gamut Compression"
    got = run(tmp_path, frame, effect=f'src = "ACES2065-1"\ndst = "ACES2065-1"\nlooks = "{look}"')
    want = direct(ocio.LookTransform(src="ACES2065-1", dst="ACES2065-1", looks=look), frame[..., :3])
    assert np.array_equal(got[..., :3], want)
    size = 5  # a .cube that swaps red and blue and halves green, 5 points an axis
    grid = np.linspace(0, 1, size)
    rows = [f"{b:.6f} {g / 2:.6f} {r:.6f}" for b in grid for g in grid for r in grid]
    (tmp_path / "swap.cube").write_text(f"LUT_3D_SIZE {size}\n" + "\n".join(rows) + "\n")
    got = run(tmp_path, frame, effect='file = "swap.cube"\ninterpolation = "linear"')
    want = direct(ocio.FileTransform(src=str(tmp_path / "swap.cube"), interpolation=ocio.INTERP_LINEAR), frame[..., :3])
    assert np.array_equal(got[..., :3], want)
    assert np.allclose(got[..., :3], frame[..., [2, 1, 0]] * [1, 0.5, 1], atol=1e-5)


def test_the_color_table_is_part_of_every_node_cache_key(tmp_path):
    """A node's cached frames depend on the working space, so the [color] table is in its key."""
    from vfx.cache import graph_keys

    body = '[pipeline]\nwidth = 32\nheight = 16\nduration = 2\n{color}\n[nodes.bg]\ntype = "background.noise"\n'
    keys = []
    for n, color in enumerate(["", '[color]\nworking_space = "ACEScg"', '[color]\nworking_space = "lin_rec709"']):
        path = write_pipeline(tmp_path, "format = 1\n" + body.format(color=color), f"p{n}.toml")
        keys.append(graph_keys(build(load(path), require_encoder=False), "cpu")["bg"])
    assert None not in keys and len(set(keys)) == 3
