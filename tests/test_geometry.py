"""effect.transform and effect.shake: exact moves, rotations and scales against references,
animation, motion blur, seeded shake, and validation."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from vfx.errors import PipelineError
from vfx.graph import build
from vfx import OptionError
from vfx.ops import backend
from vfx.options import ParseContext
from vfx.pipeline import load
from vfx.ops.resample import affine_grid
from vfx_plugins.effects.geometry import Shake, Transform, affine_thetas

from conftest import TensorClip, make_node, write_pipeline


def pattern(h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((1, 4, h, w)).astype(np.float32))


def dot(h=32, w=32, y=8, x=8, size=2):
    img = torch.zeros(1, 4, h, w)
    img[:, :, y : y + size, x : x + size] = 1.0
    return img


def centroid(alpha):
    a = np.asarray(alpha, np.float64)
    ys, xs = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    return (xs * a).sum() / a.sum(), (ys * a).sum() / a.sum()


def test_integer_translation_is_an_exact_move():
    img = pattern()
    out = make_node(Transform, TensorClip(img), translate=[3, -2]).frames([0]).pixels[0]
    expected = torch.zeros_like(img[0])
    expected[:, 0:22, 3:32] = img[0, :, 2:24, 0:29]
    assert torch.equal(out, expected)
    # the same move through the resampler (edges other than transparent) lands on pixel centres
    mirrored = make_node(Transform, TensorClip(img), translate=[3, -2], edges="mirror").frames([0]).pixels[0]
    assert torch.allclose(mirrored[:, 0:22, 3:32], expected[:, 0:22, 3:32], atol=1e-5)


def test_rotation_by_90_degrees_about_the_centre_turns_clockwise():
    img = pattern(16, 16)
    out = make_node(Transform, TensorClip(img), rotate=90).frames([0]).pixels[0].numpy()
    expected = np.rot90(img[0].numpy(), k=-1, axes=(1, 2))  # clockwise on screen
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_scale_2_about_the_anchor_keeps_the_anchor_and_doubles_the_size():
    img = dot(32, 32, y=8, x=8, size=2)  # a 2x2 dot centred on the point (9, 9)
    out = make_node(Transform, TensorClip(img), scale=2.0, anchor=[9 / 32, 9 / 32]).frames([0]).pixels[0, 3].numpy()
    assert out.sum() == pytest.approx(4 * 4, abs=1e-3)  # area x4
    cx, cy = centroid(out)
    assert (cx + 0.5, cy + 0.5) == pytest.approx((9.0, 9.0), abs=1e-4)
    np.testing.assert_allclose(out[8:10, 8:10], 1.0, atol=1e-5)  # its middle is solid
    assert out[6:12, 6:12].sum() == pytest.approx(out.sum())  # and it spans 4 px (+1 of filter)
    assert out[7, 8] == pytest.approx(0.75) and out[6, 8] == pytest.approx(0.25)


def test_general_transform_matches_scikit_image_warp():
    from skimage.transform import AffineTransform, warp

    img = pattern()
    t, r, s, sxy, anc = (3.3, -2.1), 30.0, 1.3, (1.0, -0.8), (0.4, 0.6)
    out = (
        make_node(
            Transform, TensorClip(img), translate=list(t), rotate=r, scale=s, scale_xy=list(sxy), anchor=list(anc)
        )
        .frames([0])
        .pixels[0]
        .numpy()
    )
    # scikit-image puts pixel centres at integers; ours are at i + 0.5
    a = np.array([anc[0] * 32 - 0.5, anc[1] * 24 - 0.5])
    ang = np.radians(r)
    m = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]]) @ np.diag([s * sxy[0], s * sxy[1]])
    mat = np.eye(3)
    mat[:2, :2], mat[:2, 2] = m, a + np.array(t) - m @ a
    ref = np.stack(
        [warp(img[0, c].numpy(), AffineTransform(matrix=mat).inverse, order=1, mode="constant") for c in range(4)]
    )
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_fast_grid_equals_torch_affine_grid():
    thetas = affine_thetas(
        np.array([2.5, -1.0]),
        np.array([0.0, 3.0]),
        np.array([10.0, -75.0]),
        np.array([1.2, 0.7]),
        np.array([0.9, 0.7]),
        np.array([5.0, 20.0]),
        np.array([7.0, 1.0]),
        40,
        30,
    )
    ours = affine_grid(thetas, 30, 40, "cpu")
    ref = torch.nn.functional.affine_grid(
        torch.as_tensor(thetas, dtype=torch.float32), [2, 4, 30, 40], align_corners=False
    )
    assert torch.allclose(ours, ref, atol=1e-5)


def test_keyframed_translation_at_known_frames_and_batches_equal_single_frames():
    img = pattern()
    node = make_node(Transform, TensorClip(img, count=16), translate={"keyframes": [[0, [0, 0]], [8, [16, -8]]]})
    frames = [0, 2, 4, 8, 12]
    batch = node.frames(frames).pixels
    for k, (f, (dx, dy)) in enumerate(zip(frames, [(0, 0), (4, -2), (8, -4), (16, -8), (16, -8)])):
        expected = make_node(Transform, TensorClip(img), translate=[dx, dy]).frames([0]).pixels[0]
        assert torch.equal(batch[k], expected), f
        assert torch.equal(node.frames([f]).pixels[0], batch[k])


def test_motion_blur_spreads_a_moving_square_along_its_path():
    img = torch.zeros(1, 4, 16, 64)
    img[:, :, 4:12, 4:12] = 1.0
    moving = {"keyframes": [[0, [0, 0]], [10, [80, 0]]]}  # 8 px per frame to the right
    sharp = make_node(Transform, TensorClip(img, count=10), translate=moving).frames([3]).pixels[0, 3].numpy()
    blurred = (
        make_node(Transform, TensorClip(img, count=10), translate=moving, motion_blur=9, shutter=1.0)
        .frames([3])
        .pixels[0, 3]
        .numpy()
    )
    row_sharp, row_blur = sharp[8], blurred[8]
    assert set(np.unique(row_sharp)) == {0.0, 1.0}
    assert np.flatnonzero(row_sharp).tolist() == list(range(28, 36))
    covered = np.flatnonzero(row_blur > 1e-6)
    assert covered.min() == 24 and covered.max() == 39  # 8 px wide + 8 px of travel
    assert ((row_blur > 0.05) & (row_blur < 0.95)).sum() >= 6  # smeared ramps at both ends
    assert blurred.sum() == pytest.approx(sharp.sum(), rel=1e-4)  # nothing lost
    assert centroid(blurred) == pytest.approx(centroid(sharp), abs=1e-3)
    assert row_blur[31] == pytest.approx(8 / 9) and row_blur[32] == pytest.approx(8 / 9)  # 8 of 9 samples


def test_motion_blur_of_a_still_transform_renders_once_and_changes_nothing():
    img = pattern()
    still = make_node(Transform, TensorClip(img), rotate=10.0).frames([0]).pixels
    blurred = make_node(Transform, TensorClip(img), rotate=10.0, motion_blur=8).frames([0]).pixels
    assert torch.allclose(still, blurred, atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [
        {"translate": {"keyframes": [[0, [0, 0]], [4, [0, 0]], [8, [10.5, -3]]]}},
        {
            "translate": {"keyframes": [[0, [2, 1]], [4, [2, 1]], [8, [10.5, -3]]]},
            "rotate": {"expr": "max(frame - 5, 0)"},
        },
        {"rotate": {"keyframes": [[0, 10.0], [4, 10.0], [8, 40.0]]}, "edges": "mirror"},
    ],
)
def test_frames_render_the_same_alone_and_in_mixed_batches(options):
    """Still frames (copied, or resampled once) next to moving, motion-blurred ones."""
    img = pattern()
    node = make_node(Transform, TensorClip(img, count=10), motion_blur=4, shutter=0.5, **options)
    frames = [0, 2, 4, 6, 9]
    batch = node.frames(frames).pixels
    for k, f in enumerate(frames):
        assert torch.equal(node.frames([f]).pixels[0], batch[k]), f
    assert torch.equal(node.frames([2, 9]).pixels, batch[[1, 4]])


def test_identity_returns_the_input_untouched_and_inputs_are_never_modified():
    img = pattern()
    before = img.clone()
    src = TensorClip(img)
    assert make_node(Transform, src).frames([0]).pixels.data_ptr() == src.pixels.data_ptr()
    make_node(Transform, src, translate=[1, 1]).frames([0])
    make_node(Transform, src, rotate=12, motion_blur=3).frames([0])
    make_node(Shake, src, motion_blur=3).frames([0, 1])
    assert torch.equal(src.pixels, before)


def test_shake_is_deterministic_per_frame_and_per_seed():
    img = pattern(32, 32)
    whole = make_node(Shake, TensorClip(img, count=12), seed=3, amplitude=4, rotation=2).frames(list(range(8))).pixels
    for f in (0, 3, 7):
        alone = make_node(Shake, TensorClip(img, count=12), seed=3, amplitude=4, rotation=2).frames([f]).pixels[0]
        assert torch.equal(alone, whole[f])
    other = make_node(Shake, TensorClip(img, count=12), seed=4, amplitude=4, rotation=2).frames(list(range(8))).pixels
    assert not torch.allclose(other, whole, atol=1e-3)
    assert not torch.allclose(whole[0], whole[4], atol=1e-3)  # it moves over time


def test_shake_displacement_stays_within_the_amplitude():
    img = dot(48, 48, y=22, x=22, size=4)
    node = make_node(
        Shake, TensorClip(img, count=48), seed=11, amplitude=6.0, rotation=0.0, frequency=3.0, edges="transparent"
    )
    alpha = node.frames(list(range(48))).pixels[:, 3].numpy()
    shifts = np.array([np.subtract(centroid(a), (23.5, 23.5)) for a in alpha])
    assert np.abs(shifts).max() <= 6.0 + 1e-3
    assert np.abs(shifts).mean() > 0.5  # it really shakes
    assert np.abs(np.diff(shifts, axis=0)).max() < 6.0  # smoothly, not a jump per frame


@pytest.mark.parametrize("edges", ["mirror", "clamp"])
def test_shake_edges_stay_opaque_unless_transparent(edges):
    img = torch.rand(1, 4, 32, 32)
    img[:, 3] = 1.0
    src = TensorClip(img, count=8, has_alpha=False)
    node = make_node(Shake, src, amplitude=5, rotation=3, edges=edges)
    assert not node.video.has_alpha
    assert torch.allclose(node.frames([0, 1, 2]).pixels[:, 3], torch.ones(3, 32, 32), atol=1e-5)
    open_edges = make_node(Shake, src, amplitude=5, rotation=3, edges="transparent")
    assert open_edges.video.has_alpha
    assert open_edges.frames([0, 1, 2]).pixels[:, 3].min() < 0.5
    hidden = make_node(Shake, src, amplitude=2, rotation=0, overscan=0.2, edges="transparent")
    assert torch.allclose(hidden.frames([0, 1, 2]).pixels[:, 3], torch.ones(3, 32, 32), atol=1e-5)


def test_option_ranges_and_constant_options():
    with pytest.raises(OptionError) as info:
        Transform.Options.from_mapping(
            {"input": "a", "motion_blur": 0, "shutter": 1.5, "edges": "wrap"}, ParseContext()
        )
    got = dict(info.value.errors)
    assert "at least 1" in got["motion_blur"] and "at most 1.0" in got["shutter"]
    assert "mirror" in got["edges"]
    with pytest.raises(OptionError) as info:
        Shake.Options.from_mapping({"input": "a", "frequency": {"expr": "t"}}, ParseContext())
    assert "cannot be animated" in dict(info.value.errors)["frequency"]


def test_validation_errors_name_node_and_option(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 32
        duration = 4
        [nodes.bars]
        type = "source.testpattern"
        [nodes.move]
        type = "effect.transform"
        input = "bars"
        scale_xy = [0, 1]
        [nodes.wobble]
        type = "effect.shake"
        input = "move"
        motion_blur = 100
        [nodes.out]
        type = "encode.video"
        input = "wobble"
        path = "o.mp4"
        """,
    )
    with pytest.raises(PipelineError) as info:
        build(load(p))
    got = {(pr.node, pr.option): pr.message for pr in info.value.problems}
    assert "scale of 0" in got[("move", "scale_xy")]
    assert "at most 64" in got[("wobble", "motion_blur")]


def test_pipeline_with_animated_transform_and_shake_renders(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 48
        duration = 6
        seed = 5
        [nodes.bg]
        type = "source.testpattern"
        pattern = "checker"
        [nodes.box]
        type = "source.color"
        color = "#ff8800"
        size = [16, 16]
        [nodes.layer]
        type = "editor.composite"
        size = [64, 48]
        layers = [{ input = "box", position = [8, 16] }]
        [nodes.move]
        type = "effect.transform"
        input = "layer"
        translate = { keyframes = [[0, [0, 0]], [5, [30, 0]]] }
        rotate = { expr = "frame * 10" }
        motion_blur = 4
        [nodes.comp]
        type = "editor.composite"
        layers = ["bg", "move"]
        [nodes.wobble]
        type = "effect.shake"
        input = "comp"
        amplitude = 3
        overscan = 0.15
        motion_blur = 3
        [nodes.out]
        type = "encode.image_sequence"
        input = "wobble"
        bits = "16"
        path = "f_%02d.png"
        """,
    )
    from vfx.engine import RenderOptions, render

    graph = build(load(p))
    render(graph, RenderOptions(device="cpu"))
    assert len(list(tmp_path.glob("f_*.png"))) == 6
    graph = build(load(p))
    alone = graph.nodes["wobble"].frames([4]).pixels
    batch = build(load(p)).nodes["wobble"].frames([2, 3, 4]).pixels
    assert torch.equal(alone[0], batch[2])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    img = pattern(24, 32)
    for cls, options in (
        (Transform, dict(translate=[3, 2])),
        (Transform, dict(rotate=33, scale=1.4, translate={"keyframes": [[0, [0, 0]], [4, [9, 3]]]}, motion_blur=4)),
        (Shake, dict(amplitude=4, rotation=2, motion_blur=3, edges="clamp")),
    ):
        cpu = make_node(cls, TensorClip(img, count=6), **options).frames([1, 2, 3]).pixels
        gpu = make_node(cls, TensorClip(img.cuda(), count=6), **options).frames([1, 2, 3]).pixels
        assert gpu.device.type == "cuda"
        assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)


def test_drivers_and_vector_expressions_between_frames(tmp_path):
    """A driver is known at whole frames: motion blur interpolates it; an expression on a vector
    option gives one number per frame, which moves both axes."""
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 32
        duration = 6
        [nodes.ramp]
        type = "source.color"
        color = { keyframes = [[0, "#000000"], [5, "#ffffff"]] }
        [nodes.lum]
        type = "signal.luma"
        input = "ramp"
        [nodes.bars]
        type = "source.testpattern"
        pattern = "checker"
        sweep = false
        [nodes.driven]
        type = "effect.transform"
        input = "bars"
        translate = { driver = "lum", scale = 8.0 }
        rotate = { driver = "lum", scale = 30.0 }
        motion_blur = 5
        shutter = 1.0
        [nodes.expr]
        type = "effect.transform"
        input = "bars"
        translate = { expr = "frame * 2" }
        [nodes.out]
        type = "encode.video"
        input = "driven"
        path = "o.mp4"
        """,
    )
    graph = build(load(p))
    node = graph.nodes["driven"]
    lum = graph.nodes["lum"].signal("value", [2, 3])
    mid = node.values_at("translate", [2.5, -0.5, 5.5])
    assert mid[0] == pytest.approx([4 * (lum[0] + lum[1])] * 2)  # halfway between frames 2 and 3
    assert mid[1].tolist() == pytest.approx(node.values_at("translate", [0])[0].tolist())  # clamped
    batch = node.frames([0, 3, 5]).pixels
    assert torch.equal(build(load(p)).nodes["driven"].frames([3]).pixels[0], batch[1])
    expr = graph.nodes["expr"]
    assert expr.values_at("translate", [3]).tolist() == [[6.0, 6.0]]
    bars = graph.nodes["bars"].frames([3]).pixels[0]
    moved = expr.frames([3]).pixels[0]
    assert torch.equal(moved[:, 6:, 6:], bars[:, :-6, :-6])


@pytest.mark.parametrize("edges", ["transparent", "clamp", "mirror"])
@pytest.mark.parametrize("filter_", ["bilinear", "bicubic"])
def test_the_opencv_path_matches_grid_sample(monkeypatch, edges, filter_):
    """On a CPU transforms run through OpenCV remap; elsewhere (and here with it off) grid_sample."""
    src = TensorClip(pattern(40, 56, seed=3).contiguous(memory_format=torch.channels_last), count=4)
    options = dict(
        translate={"expr": ["3.3 + 2 * frame", "-2.7"]},
        rotate=17.0,
        scale_xy=[1.2, 0.9],
        edges=edges,
        filter=filter_,
        motion_blur=3,
        shutter=0.5,
        anchor=[0.4, 0.35],
    )
    fast = make_node(Transform, src, **options).frames([0, 1]).pixels
    with backend.only("torch", "numba"):
        reference = make_node(Transform, src, **options).frames([0, 1]).pixels
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert (fast - reference).abs().max() < 1e-4
