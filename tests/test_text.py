"""source.text: glyph pixels, anti-aliasing, outline/shadow, wrapping, missing glyphs, TTC faces,
animations (typewriter, stagger, pop), animated options, and the raster cache."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from vfx.node import ConfigureError, NodeContext, PipelineSettings
from vfx import OptionError
from vfx.options import ParseContext
from vfx_plugins.text import text_layout as tl
from vfx_plugins.text.text import Text

from conftest import TensorClip, write_pipeline

FONTS = Path(tl.__file__).parent / "fonts"


def make_text(width=240, height=160, fps=24, duration=48, base_dir=Path("."), node_input=None, **options):
    settings = PipelineSettings(width=width, height=height, fps=Fraction(fps), duration=duration)
    raw = dict(options)
    if node_input is not None:
        raw["input"] = "src"
    parsed = Text.Options.from_mapping(
        raw, ParseContext(fps=Fraction(fps), base_dir=base_dir, width=width, height=height)
    )
    node = Text("title", parsed, NodeContext("title", settings))
    if node_input is not None:
        node.connect({"input": node_input})
    node.configure()
    return node


def frames(node, indices):
    """(N, H, W, 4) premultiplied linear RGBA as NumPy."""
    return node.frames(list(indices)).pixels.permute(0, 2, 3, 1).numpy().copy()


def bbox(alpha, level=0.5):
    ys, xs = np.nonzero(alpha > level)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def srgb_to_linear(v):
    return ((v + 0.055) / 1.055) ** 2.4 if v > 0.04045 else v / 12.92


TOP_LEFT = dict(anchor="top_left", align="left", position=[0.0, 0.0], offset=[20.0, 20.0])


def test_letter_fills_its_strokes_and_nothing_else():
    node = make_text(text="L", size=120, color="#ff8000", **TOP_LEFT)
    px = frames(node, [0])[0]
    a = px[..., 3]
    x0, y0, x1, y1 = bbox(a)
    w, h = x1 - x0, y1 - y0
    assert 20 <= x0 < 40 and 20 <= y0 < 60 and h > 80 and 40 < w < h
    stem = x0 + 4  # the vertical stroke, top to bottom
    assert (a[y0 + 1 : y1 - 1, stem] > 0.99).all()
    foot = y1 - 4  # the foot, left to right
    assert (a[foot, x0 + 1 : x1 - 1] > 0.99).all()
    assert (a[y0 : y0 + int(0.7 * h), x0 + w // 2 : x1] == 0).all()  # the open upper right
    assert a[:, : x0 - 2].max() == 0 and a[y1 + 2 :].max() == 0 and a[:, x1 + 2 :].max() == 0
    # colour: premultiplied, linear light
    r, g, b, alpha = px[y0 + h // 2, stem]
    assert alpha == pytest.approx(1, abs=1e-3)
    assert (r, g, b) == pytest.approx((1.0, srgb_to_linear(128 / 255), 0.0), abs=2e-3)
    edge = (a > 0) & (a < 1)
    assert np.allclose(px[edge][:, 0], px[edge][:, 3], atol=1e-4)  # premultiplied: r == a


def test_edges_are_anti_aliased():
    node = make_text(text="O", size=80)
    a = frames(node, [0])[0][..., 3]
    partial = (a > 0.05) & (a < 0.95)
    assert partial.sum() > 40  # a round letter has many partly covered pixels
    assert (a > 0.99).sum() > 200 and np.isclose(a.max(), 1.0)


def test_outline_and_shadow_surround_the_fill():
    plain = make_text(text="L", size=120, **TOP_LEFT)
    outlined = make_text(
        text="L",
        size=120,
        outline=5,
        outline_color="#ff0000",
        shadow_color="#000000ff",
        shadow_offset=[12, 12],
        shadow_blur=0,
        **TOP_LEFT,
    )
    a0 = frames(plain, [0])[0][..., 3]
    px = frames(outlined, [0])[0]
    x0, y0, x1, y1 = bbox(a0)
    mid = (y0 + y1) // 2
    # 3 px left of the stem is outline: opaque red
    assert px[mid, x0 - 3] == pytest.approx([1, 0, 0, 1], abs=1e-3)
    # the fill stays white inside
    assert px[mid, x0 + 4] == pytest.approx([1, 1, 1, 1], abs=1e-3)
    # right of the foot, beyond the outline, the hard shadow: opaque black
    assert px[y1 + 9, x1 + 9] == pytest.approx([0, 0, 0, 1], abs=1e-3)
    assert a0[y1 + 9, x1 + 9] == 0


def test_long_text_wraps_into_the_box():
    text = "the quick brown fox jumps over the lazy dog " * 2
    wide = make_text(width=640, height=400, text=text.strip(), size=20, **TOP_LEFT)
    narrow = make_text(width=640, height=400, text=text.strip(), size=20, box=[150, 0], **TOP_LEFT)
    a_wide = frames(wide, [0])[0][..., 3]
    a_narrow = frames(narrow, [0])[0][..., 3]

    def bands(a):  # runs of inked rows; gaps of 3 rows or less (an i's dot) do not split
        ys = np.nonzero((a > 0.2).any(axis=1))[0]
        return int(1 + np.count_nonzero(np.diff(ys) > 4)) if len(ys) else 0

    assert bands(a_wide) == 1
    assert bands(a_narrow) >= 6
    x0, y0, x1, y1 = bbox(a_narrow, 0.0)
    assert x1 - 20 <= 152 and y1 - y0 > 5 * 20
    lay = tl.layout([(text.strip(), tl.Face(tl.DEFAULT_FONT))], 20, wrap=150)
    assert len(lay.lines) == bands(a_narrow)
    assert all(p.xs[-1] <= 150 for line in lay.lines for p in line)


def test_box_height_shrinks_or_clips():
    text = "one two three four five six seven eight nine ten"
    shrink = make_text(width=400, height=400, text=text, size=30, box=[120, 80], **TOP_LEFT)
    clip = make_text(width=400, height=400, text=text, size=30, box=[120, 80], overflow="clip", **TOP_LEFT)
    for node in (shrink, clip):
        a = frames(node, [0])[0][..., 3]
        x0, y0, x1, y1 = bbox(a, 0.0)
        assert y1 - 20 <= 82 and x1 - 20 <= 122
    full = tl.layout([(text, tl.Face(tl.DEFAULT_FONT))], 30, wrap=120)
    shrunk = tl.layout([(text, tl.Face(tl.DEFAULT_FONT))], 30, wrap=120, max_height=80)
    clipped = tl.layout([(text, tl.Face(tl.DEFAULT_FONT))], 30, wrap=120, max_height=80, overflow="clip")
    assert full.height > 80 and shrunk.height <= 80 and shrunk.size < 30
    assert clipped.size == 30 and len(clipped.lines) < len(full.lines) and clipped.height <= 80


def test_missing_glyphs_warn_naming_the_characters():
    with pytest.warns(tl.MissingGlyphWarning) as record:
        make_text(text="Hi 你好 \u2603 ok")
    message = str(record[0].message)
    assert "'你' (U+4F60)" in message and "'好' (U+597D)" in message and "title" in message
    assert "DejaVuSans.ttf" in message and "'H'" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_text(text="Grüße, naïve café — ½ ★")


def test_ttc_faces_load_by_index(tmp_path):
    from fontTools.ttLib import TTCollection, TTFont

    system = sorted(Path("/usr/share/fonts").rglob("*.ttc")) if Path("/usr/share/fonts").exists() else []
    ttc = tmp_path / "pair.ttc"
    collection = TTCollection()
    collection.fonts = [TTFont(FONTS / "DejaVuSans.ttf"), TTFont(FONTS / "DejaVuSans-Bold.ttf")]
    collection.save(ttc)
    bold_ttc = frames(make_text(text="Ab", size=60, font=str(ttc), font_index=1, base_dir=tmp_path), [0])[0]
    regular_ttc = frames(make_text(text="Ab", size=60, font=str(ttc), font_index=0, base_dir=tmp_path), [0])[0]
    bold_ttf = frames(make_text(text="Ab", size=60, font="DejaVuSans-Bold.ttf"), [0])[0]
    assert np.array_equal(bold_ttc, bold_ttf)
    assert bold_ttc[..., 3].sum() > 1.2 * regular_ttc[..., 3].sum()
    with pytest.raises(ConfigureError, match="holds 2 face"):
        make_text(text="x", font=str(ttc), font_index=2, base_dir=tmp_path)
    with pytest.warns(tl.MissingGlyphWarning, match="U\\+4E2D"):
        make_text(text="中", font=str(ttc), font_index=1, base_dir=tmp_path)
    if system:  # a real collection too, where the system has one
        node = make_text(text="Ab", font=str(system[0]), font_index=0)
        assert frames(node, [0])[0][..., 3].max() > 0


def test_typewriter_reveals_characters_over_time():
    text = "Typewriter"  # 10 characters over 10 frames: one per frame
    node = make_text(text=text, size=30, animation="typewriter", animation_duration=10, **TOP_LEFT)
    px = frames(node, range(12))
    for k in (1, 4, 7, 10):
        static = frames(make_text(text=text[:k], size=30, **TOP_LEFT), [0])[0]
        assert np.array_equal(px[k - 1], static), k
    sums = px[..., 3].sum(axis=(1, 2))
    assert (np.diff(sums[:10]) > 0).all() and sums[10] == sums[9] == sums[11]
    assert node.rasterizer.calls == 10  # one raster per visible count, cached after


def test_typewriter_out_removes_from_the_end():
    node = make_text(text="abcd", size=30, animation_out="typewriter", animation_duration=4, end=20, **TOP_LEFT)
    sums = frames(node, range(14, 21))[..., 3].sum(axis=(1, 2))
    # the mirror of typewriter in: frames 16..19 show 4, 3, 2, 1 characters; frame 20 (end) none
    assert sums[0] == sums[1] == sums[2] and (np.diff(sums[2:7]) < 0).all() and sums[5] > 0 and sums[6] == 0


def test_static_text_is_rasterised_once():
    node = make_text(
        text="Static title",
        size=40,
        outline=2,
        shadow_color="#00000080",
        animation="fade",
        animation_out="fade",
        animation_duration=6,
    )
    for start in range(0, 48, 7):
        frames(node, range(start, min(48, start + 7)))
    assert node.rasterizer.calls == 1
    still = make_text(text="Static title", size=40, position=[0.5, 0.5])
    for start in range(0, 48, 8):
        still.frames(list(range(start, start + 8)))
    assert still.rasterizer.calls == 1
    moving = make_text(text="Moving", size=40, position={"keyframes": [[0, [0.2, 0.5]], [47, [0.8, 0.5]]]})
    moving.frames(list(range(48)))
    assert moving.rasterizer.calls == 1


def test_keyframed_options_change_the_output():
    node = make_text(
        width=400,
        text="Go",
        size=40,
        position={"keyframes": [[0, [0.2, 0.5]], [47, [0.8, 0.5]]]},
        color={"keyframes": [[0, "#ff0000"], [47, "#0000ff"]]},
    )
    px = frames(node, [0, 47])
    centroid = [np.average(np.arange(400), weights=p[..., 3].sum(0)) for p in px]
    assert centroid[0] == pytest.approx(80, abs=3) and centroid[1] == pytest.approx(320, abs=3)
    solid0, solid1 = px[0][px[0][..., 3] > 0.99], px[1][px[1][..., 3] > 0.99]
    assert solid0[:, 0].min() > 0.99 and solid0[:, 2].max() < 0.01
    assert solid1[:, 2].min() > 0.99 and solid1[:, 0].max() < 0.01
    grow = make_text(text="H", size={"keyframes": [[0, 20.0], [10, 80.0]]}, outline={"expr": "frame * 0.5"})
    a = frames(grow, [0, 10])[..., 3]
    h0 = bbox(a[0])[3] - bbox(a[0])[1]
    h1 = bbox(a[1])[3] - bbox(a[1])[1]
    assert h1 > 3 * h0
    fade = make_text(text="H", size=60, opacity={"keyframes": [[0, 0.0], [10, 1.0]]})
    sums = frames(fade, [0, 5, 10])[..., 3].sum(axis=(1, 2))
    assert sums[0] == 0 and sums[1] == pytest.approx(sums[2] / 2, rel=1e-3)


def test_staggered_fade_goes_letter_by_letter():
    node = make_text(
        width=400, text="MMMMMMMM", size=40, animation="fade", animation_duration=6, stagger=0.125, easing="linear"
    )
    rest = frames(node, [40])[0][..., 3]
    x0, y0, x1, y1 = bbox(rest, 0.0)
    step = (x1 - x0) / 8
    a = frames(node, [8])[0][..., 3]  # char k starts at frame 3k and takes 6 frames
    peaks = [a[:, int(x0 + (k + 0.3) * step) : int(x0 + (k + 0.7) * step)].max() for k in range(8)]
    assert peaks[:3] == pytest.approx([1.0, 5 / 6, 2 / 6], abs=1e-3) and max(peaks[3:]) == 0
    frames(node, range(48))
    assert node.rasterizer.calls == 1 + 8  # the whole text once, each letter once: all cached


def test_pop_overshoots_then_settles_and_slide_moves():
    node = make_text(text="Pop", size=40, animation="pop", animation_duration=10)
    a = frames(node, range(0, 20))[..., 3]
    widths = [bbox(f, 0.0)[2] - bbox(f, 0.0)[0] if f.max() > 0 else 0 for f in a]
    assert widths[0] == 0 and max(widths[:10]) > widths[15] * 1.05 and widths[15] == widths[19]
    slide = make_text(text="S", size=40, animation="slide", slide=[0, 30], animation_duration=10, easing="linear")
    s = frames(slide, [5, 15])[..., 3]
    assert bbox(s[0], 0.0)[1] == pytest.approx(bbox(s[1], 0.0)[1] + 15, abs=1)


def test_draws_over_an_input_inside_its_box_only():
    grey = torch.full((1, 4, 120, 200), 0.2)
    grey[:, 3] = 1.0
    node = make_text(width=200, height=120, text="T", size=60, color="#ffffff", node_input=TensorClip(grey, count=24))
    assert (node.video.width, node.video.height, node.video.frame_count) == (200, 120, 24)
    px = frames(node, [0, 1])
    assert np.array_equal(px[0], px[1])
    a = px[0][..., 3]
    assert np.allclose(a, 1.0)
    changed = np.abs(px[0][..., 0] - 0.2) > 1e-6
    assert changed.sum() > 200 and px[0][..., 0].max() == pytest.approx(1.0)
    ys, xs = np.nonzero(changed)
    assert xs.min() > 50 and xs.max() < 150 and ys.min() > 20 and ys.max() < 100
    # outside [start, end) the input passes through untouched, and is not handed out as writable
    timed = make_text(width=200, height=120, text="T", size=60, start=10, end=20, node_input=TensorClip(grey, count=24))
    early = timed.frames([0, 1, 2])
    assert not early.owned and torch.equal(early.pixels, grey.expand(3, -1, -1, -1))
    assert np.array_equal(frames(timed, [10])[0], px[0]) and np.array_equal(
        frames(timed, [20])[0], frames(timed, [0])[0]
    )


def test_text_layer_composites_in_a_pipeline(tmp_path):
    from vfx.engine import render_frames
    from vfx.graph import build
    from vfx.pipeline import load

    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 160
        height = 90
        duration = 10
        [nodes.bg]
        type = "source.color"
        color = "#204060"
        [nodes.title]
        type = "source.text"
        text = "I"
        size = 60
        color = "#ffff00"
        [nodes.comp]
        type = "editor.composite"
        layers = ["bg", "title"]
        [nodes.out]
        type = "encode.video"
        input = "comp"
        path = "o.mp4"
    """,
    )
    graph = build(load(p))
    px = render_frames(graph, graph.nodes["comp"], [3]).pixels[0].permute(1, 2, 0).numpy()
    assert px[45, 80] == pytest.approx([1.0, 1.0, 0.0, 1.0], abs=1e-3)  # the I's stem, centred
    assert px[5, 5] == pytest.approx(
        [srgb_to_linear(0x20 / 255), srgb_to_linear(0x40 / 255), srgb_to_linear(0x60 / 255), 1.0], abs=1e-4
    )


def test_bad_options_are_configure_errors(tmp_path):
    (tmp_path / "notafont.txt").write_text("x")
    with pytest.raises(OptionError, match="TrueType"):
        make_text(text="x", font="notafont.txt", base_dir=tmp_path)
    (tmp_path / "broken.ttf").write_bytes(b"\0\1\0\0garbage")
    with pytest.raises(ConfigureError, match="broken.ttf"):
        make_text(text="x", font="broken.ttf", base_dir=tmp_path)
    with pytest.raises(ConfigureError, match="start"):
        make_text(text="x", start=30, end=10)
