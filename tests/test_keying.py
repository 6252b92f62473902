"""effect.chroma_key and effect.luma_key on synthetic plates: matte values, spill, shrink and
feather, matte output, thresholds, a keyed plate composited over a background, validation."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from vfx.errors import PipelineError
from vfx.ops import backend
from vfx.graph import build
from vfx import OptionError
from vfx.options import ParseContext
from vfx.pipeline import load
from vfx_plugins.effects.keying import ChromaKey, LumaKey

from conftest import TensorClip, decode_frames, make_node, write_pipeline

SCREEN = (0.1, 0.75, 0.1)  # a green screen (sRGB)
SKIN = (0.85, 0.55, 0.45)
SPILLED = (0.68, 0.72, 0.45)  # skin lit green by the screen: green above red and blue
INNER = slice(16, 32)


def srgb_to_linear(c):
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    c = np.clip(np.asarray(c, np.float64), 0, 1)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def plate(screen=SCREEN, subject=SKIN, spilled=SPILLED, alpha=1.0, frames=1):
    """48x48 screen with a 16x16 subject, its outer pixel row spilled, and a one-pixel soft edge
    (30% subject over the screen) around it; premultiplied linear RGBA."""
    img = np.zeros((48, 48, 3))
    img[:] = screen
    img[15:33, 15:33] = 0.3 * np.array(subject) + 0.7 * np.array(screen)
    img[16:32, 16:32] = spilled
    img[17:31, 17:31] = subject
    lin = srgb_to_linear(img)
    rgba = np.concatenate([lin * alpha, np.full((48, 48, 1), alpha)], 2).transpose(2, 0, 1)
    return torch.from_numpy(np.repeat(rgba[None], frames, 0).astype(np.float32))


def edge_mask():
    m = np.zeros((48, 48), bool)
    m[16:32, 16:32] = True
    m[17:31, 17:31] = False
    return m


def straight(out):
    a = out[3]
    return out[:3] / np.maximum(a, 1e-6), a


def test_matte_is_opaque_inside_clear_outside_and_soft_at_the_edge():
    out = make_node(ChromaKey, TensorClip(plate()), key_color=list(SCREEN)).frames([0]).pixels[0].numpy()
    _, a = straight(out)
    assert np.allclose(a[INNER, INNER], 1.0)
    outside = np.ones((48, 48), bool)
    outside[15:33, 15:33] = False
    assert np.allclose(a[outside], 0.0) and np.allclose(out[:, outside], 0.0)
    ring = a[15, 15:33]
    assert np.all((ring > 0.05) & (ring < 0.95))


def test_spill_is_limited_on_the_subject_edge():
    src = TensorClip(plate())
    rgb_before = srgb_to_linear(SPILLED)
    assert rgb_before[1] > max(rgb_before[0], rgb_before[2])
    rgb, a = straight(make_node(ChromaKey, src, key_color=list(SCREEN)).frames([0]).pixels[0].numpy())
    edge = edge_mask()
    r, g, b = rgb[0][edge], rgb[1][edge], rgb[2][edge]
    assert np.all(g <= np.maximum(r, b) + 1e-5)
    assert np.allclose(rgb[:, 20, 20], srgb_to_linear(SKIN), atol=1e-5)  # no green excess: unchanged
    rgb0, _ = straight(make_node(ChromaKey, src, key_color=list(SCREEN), spill=0.0).frames([0]).pixels[0].numpy())
    assert np.allclose(rgb0[:, edge].T, rgb_before, atol=1e-5)  # spill = 0 leaves colours alone
    half, _ = straight(make_node(ChromaKey, src, key_color=list(SCREEN), spill=0.5).frames([0]).pixels[0].numpy())
    excess = lambda c: c[1] - max(c[0], c[2])
    assert excess(half[:, 16, 20]) == pytest.approx(excess(rgb_before) / 2, abs=1e-5)


def test_spill_suppression_follows_the_key_hue():
    blue = (0.12, 0.12, 0.85)  # a blue screen (its hue is exactly blue)
    spilled = (0.6, 0.5, 0.7)  # blue above red and green
    src = TensorClip(plate(screen=blue, spilled=spilled))
    rgb, a = straight(make_node(ChromaKey, src, key_color=list(blue)).frames([0]).pixels[0].numpy())
    assert np.allclose(a[17:31, 17:31], 1.0) and a[2, 2] == 0.0
    edge = edge_mask()
    assert np.all(a[edge] > 0.9)
    r, g, b = rgb[0][edge], rgb[1][edge], rgb[2][edge]
    assert np.all(b <= np.maximum(r, g) + 1e-5)  # blue limited for a blue screen
    assert np.allclose(rgb[0][edge], srgb_to_linear(spilled)[0], atol=1e-5)  # red untouched


def test_spill_suppression_for_an_off_axis_key_hue():
    from vfx_plugins.effects.keying import _despill_basis

    teal = (0.05, 0.7, 0.35)
    spilled = (0.6, 0.7, 0.6)
    src = TensorClip(plate(screen=teal, spilled=spilled))
    rgb, _ = straight(make_node(ChromaKey, src, key_color=list(teal)).frames([0]).pixels[0].numpy())
    basis = _despill_basis(srgb_to_linear(teal)[None])[0]
    before = basis @ srgb_to_linear(spilled)
    after = basis @ rgb[:, 16, 20]
    assert before[1] > max(before[0], before[2]) + 0.05  # spill along the key's hue ...
    assert after[1] == pytest.approx(max(after[0], after[2]), abs=1e-5)  # ... limited
    assert np.allclose(np.delete(after, 1), np.delete(before, 1), atol=1e-5)
    assert rgb[1, 16, 20] < srgb_to_linear(spilled)[1]


def test_shrink_and_grow_move_a_hard_matte_edge_by_whole_pixels():
    src = TensorClip(plate())
    hard = dict(key_color=list(SCREEN), tolerance=0.5, softness=0.0, spill=0.0)
    area = lambda **o: make_node(ChromaKey, src, **hard, **o).frames([0]).pixels[0, 3].numpy().sum()
    assert area() == 16 * 16  # the soft ring (30% subject) is below the tolerance
    assert area(shrink=2) == 12 * 12
    assert area(shrink=-3) == 22 * 22
    assert 12 * 12 < area(shrink=1.5) < 14 * 14
    assert area(shrink=1.5) == pytest.approx((14 * 14 + 12 * 12) / 2)


def test_feather_blurs_the_matte():
    src = TensorClip(plate())
    hard = dict(key_color=list(SCREEN), tolerance=0.5, softness=0.0)
    sharp = make_node(ChromaKey, src, **hard).frames([0]).pixels[0, 3].numpy()
    soft = make_node(ChromaKey, src, **hard, feather=4.0).frames([0]).pixels[0, 3].numpy()
    assert soft.sum() == pytest.approx(sharp.sum(), rel=1e-3)  # a blur moves alpha, keeps it
    assert soft[24, 24] == pytest.approx(1.0, abs=1e-3)  # the middle stays solid
    assert 0.3 < soft[24, 16] < 0.7 and 0.3 < soft[24, 15] < 0.7  # the edge straddles 0.5
    assert soft[24, 13] > 0.01 and soft[24, 18] < 0.99


def test_the_gpu_code_paths_match_the_opencv_ones():
    """The matte's blur, shrink and sRGB encode (``vfx.ops``) run in OpenCV on a CPU and in torch elsewhere."""
    from vfx_plugins.effects import keying

    rng = np.random.default_rng(2)
    m = torch.from_numpy((rng.random((1, 1, 40, 50)) > 0.6).astype(np.float32))
    radii = np.array([3.5])
    cv = keying.blur_matte(m, radii)
    with backend.only("torch"):
        assert torch.allclose(cv, keying.blur_matte(m, radii), atol=1e-5)
    for size in (1, 3):
        for shrink in (True, False):
            cv = keying._morph(m, size, shrink)
            with backend.only("torch"):
                assert torch.equal(cv, keying._morph(m, size, shrink))
    x = torch.rand(2, 3, 20, 30) ** 3
    xn = x.double().numpy()
    reference = np.where(xn <= 0.0031308, xn * 12.92, 1.055 * xn ** (1 / 2.4) - 0.055)
    assert np.allclose(keying.srgb_encode(x).numpy(), reference, atol=1e-5)
    with backend.only("torch", "numba"):
        assert np.allclose(keying.srgb_encode(x).numpy(), reference, atol=1e-5)


KEY_CASES = {
    "green, feathered": dict(key_color=list(SCREEN), feather=2.0, shrink=0.5),
    "off-axis hue, hard edge, half spill": dict(
        key_color=[0.2, 0.4, 0.9], softness=0.0, spill=0.5, screen=(0.2, 0.4, 0.9)
    ),
    "animated": dict(
        key_color={"keyframes": [[0, [0.1, 0.75, 0.1]], [2, [0.3, 0.8, 0.6]]]},
        tolerance={"keyframes": [[0, 0.1], [2, 0.5]]},
        softness={"keyframes": [[0, 0.0], [2, 1.0]]},
    ),
}


@pytest.mark.kernel
@pytest.mark.parametrize("has_alpha", [True, False])
@pytest.mark.parametrize("case", list(KEY_CASES))
def test_chroma_key_kernel_matches_the_torch_path(monkeypatch, case, has_alpha):
    """On a CPU the matte and the spill removal run as Numba kernels: the torch path's frames,
    for three frames of a noisy plate with overbright and transparent pixels."""
    g = torch.Generator().manual_seed(3)
    options = dict(KEY_CASES[case])
    px = plate(screen=options.pop("screen", SCREEN), frames=3)
    px[:, :3] *= 1 + 0.5 * torch.rand((3, 3, 48, 48), generator=g)
    if has_alpha:
        alpha = torch.rand((3, 1, 48, 48), generator=g).clamp_min(0.2)
        alpha[:, :, :4] = 0.0
        px = px * alpha
    results = {}
    for path in ("kernel", "torch"):
        with contextlib.nullcontext() if path == "kernel" else backend.only("torch", "opencv"):
            clip = TensorClip(px, has_alpha=has_alpha)
            results[path] = make_node(ChromaKey, clip, **options).frames([0, 1, 2]).pixels
    kernel, reference = results["kernel"], results["torch"]
    assert 0.05 < reference[:, 3].mean() < 0.95
    torch.testing.assert_close(kernel, reference, rtol=1e-5, atol=2e-5)


def test_matte_output_shows_alpha_as_grey():
    src = TensorClip(plate())
    node = make_node(ChromaKey, src, key_color=list(SCREEN), output="matte")
    assert not node.video.has_alpha
    out = node.frames([0]).pixels[0].numpy()
    alpha = make_node(ChromaKey, src, key_color=list(SCREEN)).frames([0]).pixels[0, 3].numpy()
    assert np.allclose(out[3], 1.0)
    assert np.allclose(out[0], out[1]) and np.allclose(out[1], out[2])
    assert np.allclose(linear_to_srgb(out[0]), alpha, atol=1e-5)  # written as sRGB code = alpha


def test_existing_alpha_is_multiplied_and_the_input_is_not_modified():
    pixels = plate(alpha=0.5)
    before = pixels.clone()
    out = make_node(ChromaKey, TensorClip(pixels), key_color=list(SCREEN)).frames([0]).pixels[0].numpy()
    assert np.allclose(out[3, INNER, INNER], 0.5) and np.allclose(out[3, :4, :4], 0.0)
    rgb, _ = straight(out)
    assert np.allclose(rgb[:, 24, 24], srgb_to_linear(SKIN), atol=1e-5)
    assert torch.equal(pixels, before)


def test_animated_options_per_frame_in_a_batch():
    src = TensorClip(plate(frames=3))
    node = make_node(
        ChromaKey,
        src,
        key_color=list(SCREEN),
        shrink={"keyframes": [[0, 0.0], [2, 2.0]]},
        tolerance={"expr": "0.2 + frame * 0.1"},
    )
    batch = node.frames([0, 1, 2]).pixels
    for f in range(3):
        assert torch.equal(node.frames([f]).pixels[0], batch[f])
    assert batch[0, 3].sum() > batch[1, 3].sum() > batch[2, 3].sum()


def grey_ramp():
    """One row of 101 grey pixels whose sRGB value (hence luma) is 0, 0.01, ... 1."""
    v = np.linspace(0, 1, 101)
    lin = srgb_to_linear(v)
    rgba = np.stack([lin, lin, lin, np.ones_like(v)])[:, None, :]
    return torch.from_numpy(rgba[None].astype(np.float32)), v


@pytest.mark.parametrize("invert", [False, True])
def test_luma_key_thresholds_and_softness(invert):
    pixels, luma = grey_ramp()
    out = make_node(LumaKey, TensorClip(pixels), low=0.3, high=0.7, softness=0.1, invert=invert).frames([0])
    a = out.pixels[0, 3, 0].numpy()
    expected = np.clip((luma - 0.2) / 0.1, 0, 1) * np.clip((0.8 - luma) / 0.1, 0, 1)
    expected = 1 - expected if invert else expected
    assert np.allclose(a, expected, atol=1e-4)
    assert a[50] == pytest.approx(0.0 if invert else 1.0)
    assert a[25] == pytest.approx(0.5, abs=1e-4) and a[75] == pytest.approx(0.5, abs=1e-4)


@pytest.mark.kernel
def test_luma_key_hard_edges_and_defaults_key_out_black():
    pixels, luma = grey_ramp()
    a = make_node(LumaKey, TensorClip(pixels), low=0.405, high=0.605, softness=0.0).frames([0]).pixels[0, 3, 0].numpy()
    assert a.tolist() == ((luma >= 0.405) & (luma <= 0.605)).astype(float).tolist()
    d = make_node(LumaKey, TensorClip(pixels)).frames([0]).pixels[0, 3, 0].numpy()
    assert d[0] == 0.0 and d[10] == 0.0 and d[15] == pytest.approx(0.5, abs=1e-4) and d[100] == 1.0


def test_option_errors():
    with pytest.raises(OptionError) as info:
        ChromaKey.Options.from_mapping({"input": "a", "spill": 2, "output": "mate", "key_color": "grn"}, ParseContext())
    got = dict(info.value.errors)
    assert "at most 1.0" in got["spill"] and "did you mean 'matte'" in got["output"]
    assert "expected a colour" in got["key_color"]


def test_validation_errors_name_node_and_option(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 32
        height = 32
        duration = 4
        [nodes.plate]
        type = "source.color"
        color = "#20c020"
        [nodes.key]
        type = "effect.chroma_key"
        input = "plate"
        key_color = "#808080"
        [nodes.luma]
        type = "effect.luma_key"
        input = "plate"
        low = 0.8
        high = 0.2
        [nodes.both]
        type = "editor.composite"
        layers = ["key", "luma"]
        [nodes.out]
        type = "encode.video"
        input = "both"
        path = "o.mp4"
        """,
    )
    with pytest.raises(PipelineError) as info:
        build(load(p))
    got = {(pr.node, pr.option): pr.message for pr in info.value.problems}
    assert "grey" in got[("key", "key_color")]
    assert "above high" in got[("luma", "low")]


def test_keyed_plate_over_a_background(tmp_path):
    """A green screen with a red square, keyed and laid over a gradient: the gradient shows where
    the screen was, the square stays where it was."""
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 48
        duration = 2
        [nodes.screen]
        type = "source.color"
        color = "#19bf19"
        [nodes.actor]
        type = "source.color"
        color = "#d83020"
        size = [16, 16]
        [nodes.plate]
        type = "editor.composite"
        layers = ["screen", { input = "actor", position = [24, 16] }]
        [nodes.key]
        type = "effect.chroma_key"
        input = "plate"
        key_color = "#19bf19"
        [nodes.bg]
        type = "source.testpattern"
        pattern = "gradient"
        sweep = false
        [nodes.comp]
        type = "editor.composite"
        layers = ["bg", "key"]
        [nodes.out]
        type = "encode.image_sequence"
        input = "comp"
        bits = "16"
        path = "f_%02d.png"
        """,
    )
    from vfx.engine import RenderOptions, render

    graph = build(load(p))
    bg = graph.nodes["bg"].frames([0]).pixels[0].numpy()
    render(graph, RenderOptions(device="cpu"))
    got = decode_frames(tmp_path / "f_00.png", "rgb48le")[0].astype(np.float64) / 65535
    expected_bg = linear_to_srgb(bg[:3].transpose(1, 2, 0))
    screen = np.ones((48, 64), bool)
    screen[16:32, 24:40] = False
    assert np.abs(got[screen] - expected_bg[screen]).max() < 5e-4
    actor = np.array([0xD8, 0x30, 0x20]) / 255
    assert np.abs(got[16:32, 24:40] - actor).max() < 5e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    pixels = plate(alpha=0.8, frames=2)
    for cls, options in (
        (ChromaKey, dict(key_color=list(SCREEN), shrink=1.5, feather=2.0)),
        (ChromaKey, dict(key_color=[0.05, 0.7, 0.35], output="matte")),
        (LumaKey, dict(low=0.3, high=0.8, invert=True)),
    ):
        cpu = make_node(cls, TensorClip(pixels), **options).frames([0, 1]).pixels
        gpu = make_node(cls, TensorClip(pixels.cuda()), **options).frames([0, 1]).pixels
        assert gpu.device.type == "cuda"
        assert torch.allclose(cpu, gpu.cpu(), atol=1e-4)
