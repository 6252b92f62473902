"""Animated parameters: keyframes and easings at known frames, expressions, drivers, and what is refused."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.params import compile_expression, parse_animation
from vfx.pipeline import load

from conftest import decode_frames, write_pipeline

FPS = Fraction(24)


def keys(table):
    return parse_animation(table, float, FPS)


def test_linear_and_hold_keyframes():
    a = keys({"keyframes": [[0, 0.0], [10, 1.0], ["1s", 3.0, "hold"], [30, 5.0]]})
    got = a.evaluate(np.array([-5, 0, 5, 10, 17, 24, 29, 30, 100]), FPS)
    assert got.tolist() == pytest.approx([0, 0, 0.5, 1.0, 1 + 2 * 7 / 14, 3.0, 3.0, 5.0, 5.0])


@pytest.mark.parametrize(
    "easing,u,expected",
    [
        ("ease_in", 0.5, 0.3153),
        ("ease_out", 0.5, 0.6847),
        ("ease_in_out", 0.5, 0.5),
        ("ease_in_out", 0.25, 0.1291),
        ([0.25, 0.1, 0.25, 1.0], 0.5, 0.8024),
        ([0, 0, 1, 1], 0.3, 0.3),
    ],
)
def test_easings_match_css_cubic_bezier(easing, u, expected):
    a = keys({"keyframes": [[0, 0.0], [100, 1.0]], "easing": easing})
    assert a.evaluate(np.array([u * 100]), FPS)[0] == pytest.approx(expected, abs=2e-4)


def test_colour_keyframes_interpolate_per_channel():
    from vfx.options import Color, ParseContext

    opt = Color()
    anim = opt.parse_any({"keyframes": [[0, "#000000"], [4, "#ff8000"]]}, ParseContext())
    mid = anim.at(2, FPS)
    assert mid == pytest.approx((0.5, 0.25098, 0.0, 1.0), abs=1e-4)


def test_expression_values():
    e = compile_expression("0.5 + 0.5 * sin(t * 2 * pi) if frame < 48 else clamp(frame / fps, 0, 3)")
    got = e.evaluate(np.array([0, 6, 48, 96]), FPS)
    assert got.tolist() == pytest.approx([0.5, 1.0, 2.0, 3.0])
    assert (
        compile_expression("max(noise(t), -1) <= 1 and smoothstep(0, 1, 0.5) == 0.5")
        .evaluate(np.arange(5), FPS)
        .tolist()
        == [1.0] * 5
    )


@pytest.mark.parametrize(
    "source,message",
    [
        ("t.real", "attribute access"),
        ("__import__('os')", "not an allowed function"),
        ("os", "unknown name 'os'"),
        ("(lambda: 1)()", "not an allowed function"),
        ("1 if (x := 2) else 0", "is not allowed"),
        ("[1, 2][0]", "is not allowed"),
        ("'abc'", "only numbers"),
        ("sin(x=t)", "keyword arguments"),
        ("[i for i in range(9)]", "is not allowed"),
        ("open('/etc/passwd')", "not an allowed function"),
        ("+".join(["t"] * 150), "too long"),
        ("t +", "syntax error"),
    ],
)
def test_rejected_expressions(source, message):
    with pytest.raises(ValueError) as info:
        compile_expression(source)
    assert message in str(info.value)


PIPE = """
    [pipeline]
    width = 32
    height = 32
    duration = 24
    [nodes.bg]
    type = "source.color"
    color = "black"
    [nodes.fg]
    type = "source.color"
    color = "white"
    [nodes.comp]
    type = "editor.composite"
    layers = ["bg", {{ input = "fg", opacity = {opacity} }}]
    [nodes.out]
    type = "encode.image_sequence"
    input = "comp"
    bits = "16"
    path = "f_%02d.png"
"""


def linear_at(folder, frame):
    img = decode_frames(folder / f"f_{frame:02d}.png", fmt="rgba64le")[0].astype(np.float64) / 65535
    s = img[16, 16, 0]
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def test_animated_layer_opacity_in_a_render(tmp_path):
    p = write_pipeline(tmp_path, PIPE.format(opacity='{ keyframes = [[0, 0.0], [12, 1.0], [20, 0.25, "hold"]] }'))
    render(build(load(p)), RenderOptions(device="cpu", batch_size=8))
    assert [round(linear_at(tmp_path, f), 3) for f in (0, 3, 6, 12, 16, 20, 23)] == [
        0.0,
        0.25,
        0.5,
        1.0,
        0.625,
        0.25,
        0.25,
    ]


def test_expression_and_range_clamp_in_a_render(tmp_path):
    p = write_pipeline(tmp_path, PIPE.format(opacity='{ expr = "frame / 10 - 0.5" }'))
    render(build(load(p)), RenderOptions(device="cpu"))
    assert [round(linear_at(tmp_path, f), 3) for f in (0, 5, 10, 15, 23)] == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_driver_from_another_node(tmp_path):
    body = (
        PIPE.format(opacity='{ driver = "bright", scale = 0.5 }')
        + """
    [nodes.ramp]
    type = "source.color"
    color = { keyframes = [[0, "#000000"], [23, "#ffffff"]] }
    [nodes.bright]
    type = "signal.luma"
    input = "ramp"
    """
    )
    p = write_pipeline(tmp_path, body)
    render(build(load(p)), RenderOptions(device="cpu"))
    from vfx.ops.color import srgb_to_linear

    for f in (0, 10, 23):
        expected = 0.5 * float(srgb_to_linear(round(f / 23 * 255) / 255))
        assert linear_at(tmp_path, f) == pytest.approx(expected, abs=2e-3)


@pytest.mark.parametrize(
    "opacity,message",
    [
        ('{ expr = "t.real" }', "attribute access"),
        ('{ expr = "1", easing = "linear" }', "unknown key(s) easing"),
        ('{ keyframes = [[0, 0.0], ["soon", 1.0]] }', "keyframe 2"),
        ("{ keyframes = [[0, 0.0], [5, 2.0]] }", "keyframe 2: must be at most 1.0"),
        ('{ keyframes = [[0, 0.0], [5, 1.0]], easing = "bouncy" }', "easing must be one of"),
        ('{ driver = "nowhere" }', "unknown input 'nowhere'"),
        ('{ driver = "bg" }', "'bg' (source.color) produces no signal"),
    ],
)
def test_bad_animations_are_validation_errors(tmp_path, opacity, message):
    p = write_pipeline(tmp_path, PIPE.format(opacity=opacity))
    with pytest.raises(PipelineError) as info:
        build(load(p))
    text = str(info.value)
    assert message in text and "node 'comp'" in text and "option 'layers'" in text, text


def test_vector_and_colour_expressions():
    from vfx.options import Color, ParseContext, Vec

    pos = Vec().parse_any({"expr": ["frame * 2", "100 - frame"]}, ParseContext())
    assert pos.evaluate([0, 10], FPS).tolist() == [[0.0, 100.0], [20.0, 90.0]]
    both = Vec().parse_any({"expr": "frame"}, ParseContext())
    assert both.at(3, FPS) == (3.0, 3.0)
    grey = Color().parse_any({"expr": "frame / 10"}, ParseContext())
    assert grey.at(5, FPS) == (0.5, 0.5, 0.5, 1.0)
    with pytest.raises(ValueError, match="one expression per component"):
        Vec().parse_any({"expr": ["1", "2", "3"]}, ParseContext())


def test_expression_on_a_layer_position_renders(tmp_path):
    p = write_pipeline(
        tmp_path,
        PIPE.format(opacity="1.0").replace(
            '{ input = "fg", opacity = 1.0 }', '{ input = "fg", size = [4, 4], position = { expr = ["frame", "2"] } }'
        ),
    )
    render(build(load(p)), RenderOptions(device="cpu", batch_size=4))
    img = decode_frames(tmp_path / "f_10.png", fmt="rgba64le")[0]
    assert img[3, 11, 0] == 65535 and img[3, 9, 0] == 0 and img[3, 14, 0] == 0
