"""vfx.ops: each pixel operation against a reference, and its torch path (what a GPU runs) against
its CPU fast path (OpenCV), forced through ``vfx.ops.backend``; and bounded cost for huge kernels."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import ndimage

from vfx.ops import backend, color, filters, lut, resample


def both(fn, *args, **kwargs):
    """``fn`` on the CPU fast paths and on the torch path alone."""
    fast = fn(*args, **kwargs)
    with backend.only("torch"):
        slow = fn(*args, **kwargs)
    return fast, slow


def image(n=2, c=4, h=37, w=53, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, c, h, w)).astype(np.float32)
    x[:, :, h // 3 : h // 2, w // 4 : w // 2] += 2.0  # something with edges and values above 1
    return torch.from_numpy(x).contiguous(memory_format=torch.channels_last)


# --- colour -----------------------------------------------------------------------------------------


def test_srgb_curves_match_the_standard_and_invert_each_other():
    x = torch.linspace(-0.5, 3.0, 4001).view(1, 1, 1, -1).repeat(2, 3, 1, 1)
    xd = x.double().numpy()
    encoded = np.where(xd <= 0.0031308, 12.92 * xd, 1.055 * np.abs(xd) ** (1 / 2.4) - 0.055)
    for out in both(color.srgb_encode, x):
        assert np.allclose(out.numpy(), encoded, atol=2e-6, rtol=1e-6)
    s = torch.linspace(-0.5, 3.0, 4001).view(1, 1, 1, -1).repeat(2, 3, 1, 1)
    sd = s.double().numpy()
    decoded = np.where(sd <= 0.04045, sd / 12.92, ((np.abs(sd) + 0.055) / 1.055) ** 2.4)
    for out in both(color.srgb_decode, s):
        assert np.allclose(out.numpy(), decoded, atol=2e-6, rtol=2e-6)
    assert np.allclose(color.srgb_to_linear(encoded), xd, atol=1e-12)
    assert np.allclose(color.linear_to_srgb(decoded), sd, atol=1e-12)
    assert np.allclose(color.linear_to_srgb(xd), encoded, atol=1e-12)


def test_the_8bit_tables_come_from_the_one_curve():
    codes = np.arange(256) / 255
    assert np.array_equal(color._decode_lut(), color.srgb_to_linear(codes).astype(np.float32))
    # every 8-bit code decodes and encodes back to itself through the 16-bit table
    assert np.array_equal(color._encode_lut()[np.round(color._decode_lut() * 65535).astype(int)], np.arange(256))


def test_unpremultiply_and_premultiply_round_trip():
    px = image()
    px[:, 3] = px[:, 3].clamp(0, 1)
    px[0, 3, :5] = 0.0
    px[:, :3] *= px[:, 3:4]
    rgb, alpha = color.unpremultiply(px)
    assert torch.all(rgb[0, :, :5] == 0)  # colour is 0 where alpha is 0
    assert torch.allclose(color.premultiply(rgb, alpha), px, atol=1e-6)
    same, _ = color.unpremultiply(px, has_alpha=False)
    assert torch.equal(same, px[:, :3])


def test_luma_and_the_bt709_matrix():
    assert color.LUMA == (0.2126, 0.7152, 0.0722)
    rgb = torch.rand(2, 3, 4, 5)
    expected = 0.2126 * rgb[:, 0:1] + 0.7152 * rgb[:, 1:2] + 0.0722 * rgb[:, 2:3]
    assert torch.allclose(color.luma(rgb), expected)
    ycc = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]) @ color.BT709.T
    assert np.allclose(ycc[0], [1, 0, 0])  # white has no chroma
    assert ycc[1, 1] == pytest.approx(0.5) and ycc[2, 2] == pytest.approx(0.5)  # blue: Cb 0.5, red: Cr 0.5
    assert np.allclose(color.BT709 @ color.BT709_INVERSE, np.eye(3))


def test_hex_round_trip():
    assert color.hex_to_rgb("#ff8000") == (1.0, 128 / 255, 0.0)
    assert color.rgb_to_hex((1.0, 128 / 255, 0.0, 0.5)) == "#ff8000"


# --- filters ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("border, mode", [("replicate", "nearest"), ("constant", "constant")])
@pytest.mark.parametrize("sigma", [0.7, 2.0, 6.5])
def test_gaussian_blur_matches_scipy_on_both_paths(border, mode, sigma):
    x = image()
    ref = ndimage.gaussian_filter(x.double().numpy(), (0, 0, sigma, sigma), mode=mode, truncate=4.0)
    for out in both(filters.gaussian_blur, x, sigma, border=border):
        assert out.shape == x.shape and out.is_contiguous(memory_format=torch.channels_last)
        assert np.abs(out.numpy() - ref).max() < 2e-5


def test_truncate_sets_the_kernel_radius():
    assert len(filters.gaussian_kernel(2.0)) == 2 * 8 + 1
    assert len(filters.gaussian_kernel(2.0, truncate=3.0)) == 2 * 6 + 1
    x = image(n=1, c=1)
    ref = ndimage.gaussian_filter(x.double().numpy(), (0, 0, 2.0, 2.0), mode="nearest", truncate=3.0)
    for out in both(filters.gaussian_blur, x, 2.0, truncate=3.0):
        assert np.abs(out.numpy() - ref).max() < 2e-5


@pytest.mark.parametrize("border, mode", [("replicate", "nearest"), ("constant", "constant")])
def test_a_kernel_wider_than_the_frame_is_cut_to_it_exactly(border, mode):
    """The taps past the frame read the edge pixel (replicate) or 0: folding them changes nothing."""
    x = image(n=1, c=2, h=5, w=9)
    sigma = 40.0  # radius 160 >> the frame
    ref = ndimage.gaussian_filter(x.double().numpy(), (0, 0, sigma, sigma), mode=mode, truncate=4.0)
    for out in both(filters.gaussian_blur, x, sigma, border=border, max_direct=1e9):
        assert np.abs(out.numpy() - ref).max() < 1e-5
    assert len(filters.gaussian_kernel(sigma, extent=9)) == 17
    assert filters.gaussian_kernel(sigma, extent=9).sum() == pytest.approx(1.0, abs=1e-6)
    assert filters.gaussian_kernel(sigma, extent=9, border="constant").sum() < 0.2


@pytest.mark.parametrize("sigma", [12.0, 30.0, 1000.0])
def test_large_sigmas_downsample_on_both_paths_alike(sigma):
    x = image(h=67, w=101)
    fast, slow = both(filters.gaussian_blur, x, sigma)
    assert (fast - slow).abs().max() < 1e-5
    if sigma < 100:
        ref = ndimage.gaussian_filter(x.double().numpy(), (0, 0, sigma, sigma), mode="nearest", truncate=4.0)
        assert np.abs(fast.numpy() - ref).mean() < 2e-3


def test_per_frame_sigmas_and_planes():
    x = image(n=3)
    out = filters.gaussian_blur_frames(x, [1.0, 3.0, 1.0])
    assert torch.allclose(out[1:2], filters.gaussian_blur(x[1:2], 3.0))
    assert torch.allclose(out[2:3], filters.gaussian_blur(x[2:3], 1.0))
    planes = x.permute(0, 2, 3, 1).contiguous()
    for out in both(filters.blur_planes, planes, 2.5):
        assert torch.allclose(out, filters.gaussian_blur(x, 2.5, border="constant").permute(0, 2, 3, 1), atol=2e-6)


@pytest.mark.parametrize("border, mode", [("replicate", "nearest"), ("constant", "constant")])
@pytest.mark.parametrize("radius", [1, 3, 40])
def test_box_blur_matches_scipy_on_both_paths(border, mode, radius):
    x = image(c=3)
    ref = ndimage.uniform_filter(x.double().numpy(), (1, 1, 2 * radius + 1, 2 * radius + 1), mode=mode)
    for out in both(filters.box_blur, x, radius, border=border):
        assert np.abs(out.numpy() - ref).max() < 2e-5


@pytest.mark.parametrize("size", [1, 3, 100])
def test_erode_and_dilate_match_scipy_on_both_paths(size):
    x = image(c=1)
    window = (1, 1, 2 * size + 1, 2 * size + 1)
    for op, ref in ((filters.erode, ndimage.grey_erosion), (filters.dilate, ndimage.grey_dilation)):
        want = ref(x.numpy(), size=window, mode="nearest")  # the edge neither erodes nor grows
        for out in both(op, x, size):
            assert np.array_equal(out.numpy(), want)


def test_unknown_borders_are_refused():
    with pytest.raises(ValueError, match="border"):
        filters.gaussian_blur(image(), 2.0, border="mirror")


# --- resampling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("filter", ["bilinear", "bicubic"])
def test_resize_enlarging_is_the_same_on_both_paths(filter):
    x = image(h=20, w=30)
    fast, slow = both(resample.resize, x, 47, 33, filter)
    assert fast.shape == slow.shape == (2, 4, 33, 47)
    assert (fast - slow).abs().max() < 1e-4


def test_box_down_and_bilinear_up_are_the_same_on_both_paths():
    x = image(h=36, w=52)
    fast, slow = both(resample.downsample_box, x, 4)
    assert torch.allclose(fast, torch.nn.functional.avg_pool2d(x, 4), atol=1e-6) and torch.allclose(
        fast, slow, atol=1e-6
    )
    fast, slow = both(resample.upsample_bilinear, x, 2)
    assert fast.shape == (2, 4, 72, 104) and (fast - slow).abs().max() < 1e-5


@pytest.mark.parametrize("area", [False, True])
def test_resize_planes_is_the_same_on_both_paths(area):
    x = image(c=3, h=40, w=60).permute(0, 2, 3, 1).contiguous()
    size = (10, 15) if area else (57, 83)
    fast, slow = both(resample.resize_planes, x, *size, area=area)
    assert fast.shape == slow.shape == (2, *size, 3) and (fast - slow).abs().max() < 1e-4
    crop = x[:, 3:33, 5:45]  # a strided view, read in place
    out = torch.empty((2, 15, 20, 3))
    assert resample.resize_planes(crop, 15, 20, area=area, out=out) is out
    assert torch.allclose(out, resample.resize_planes(crop.contiguous(), 15, 20, area=area), atol=1e-6)


@pytest.mark.parametrize("filter", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("border", ["constant", "replicate", "reflect"])
def test_warp_affine_is_the_same_on_both_paths(filter, border):
    x = image(h=30, w=40)
    a = np.deg2rad(17)
    m = np.array([[np.cos(a), -np.sin(a), 6.3], [np.sin(a), np.cos(a), -4.1]]) * [[1.1], [0.9]]
    mats = np.stack([m, m * [[1], [1.02]]])  # (N, 2, 3)
    fast, slow = both(resample.warp_affine, x, mats, filter=filter, border=border)
    diff = (fast - slow).abs()
    # nearest may pick the other neighbour where a position falls on a half pixel
    assert (diff.mean() < 1e-3) if filter == "nearest" else (diff.max() < 2e-3)


def test_warp_affine_by_whole_pixels_into_a_bigger_frame_copies():
    x = image(n=1, h=10, w=12)
    shift = np.array([[[1.0, 0, -3], [0, 1.0, -2]]])  # output (x, y) reads input (x - 3, y - 2)
    for out in both(resample.warp_affine, x, shift, (15, 20)):
        assert out.shape == (1, 4, 15, 20)
        assert torch.allclose(out[:, :, 2:12, 3:15], x, atol=1e-5) and out[:, :, :2].abs().max() == 0


def test_motion_samples_are_averaged():
    x = image(n=1, h=10, w=12)
    one = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    two = np.array([[1.0, 0, 1], [0, 1.0, 0]])
    out = resample.warp_affine(x, np.stack([one, two])[:, None], border="replicate")
    want = (x + resample.warp_affine(x, two[None], border="replicate")) / 2
    assert torch.allclose(out, want, atol=1e-5)


@pytest.mark.parametrize("border", ["replicate", "constant"])
def test_remap_is_the_same_on_both_paths_and_exact_on_the_identity(border):
    x = image(h=20, w=30).permute(0, 2, 3, 1).contiguous()  # (N, H, W, C) planes
    ys, xs = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    identity = torch.stack([xs, ys], -1)[None].repeat(2, 1, 1, 1)
    for out in both(resample.remap_planes, x, identity, border=border):
        assert (out - x).abs().max() < 1e-5
    where = identity + torch.rand(2, 20, 30, 2) * 6 - 3
    fast, slow = both(resample.remap_planes, x, where, border=border)
    assert (fast - slow).abs().max() < 2e-2 and (fast - slow).abs().mean() < 2e-3  # OpenCV: 1/32-pixel steps


@pytest.mark.parametrize("count", [7, 3000])
def test_scattered_samples_equal_bilinear_interpolation_on_both_paths(count):
    field = torch.rand(2, 9, 11, 3)
    x, y = torch.rand(2, count) * 12 - 1, torch.rand(2, count) * 10 - 1  # some beyond the edge
    grid = torch.stack([(x + 0.5) / 11 * 2 - 1, (y + 0.5) / 9 * 2 - 1], -1)[:, :, None]
    want = torch.nn.functional.grid_sample(
        field.permute(0, 3, 1, 2), grid, mode="bilinear", padding_mode="border", align_corners=False
    )[..., 0].permute(0, 2, 1)
    fast, slow = both(resample.sample_points, field, x, y)
    assert fast.shape == slow.shape == (2, count, 3)
    assert (slow - want).abs().max() < 1e-5
    assert (fast - want).abs().max() < 2e-2  # OpenCV: 1/32-pixel steps


# --- 3-D LUTs -----------------------------------------------------------------------------------------


class _Cube:
    def __init__(self, fn, size=9):
        g = np.linspace(0, 1, size, dtype=np.float64)
        b, gg, r = np.meshgrid(g, g, g, indexing="ij")
        self.size, self.domain_min, self.domain_max = size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        self.table = np.stack(fn(r, gg, b), -1).astype(np.float32)


def test_lut_atlas_and_grid_sample_agree_and_interpolate_trilinearly():
    cube = _Cube(lambda r, g, b: (r, g * b, 1 - r))  # trilinear reproduces these exactly
    rgb = torch.rand(2, 3, 17, 19) * 1.2 - 0.1  # some values outside the domain: clamped
    fast = lut.apply_lut(rgb, cube, lut.lut_volume(cube, "cpu"))
    with backend.only("torch"):
        slow = lut.apply_lut(rgb, cube, lut.lut_volume(cube, "cpu"))
    assert (fast - slow).abs().max() < 1e-5
    c = rgb.clamp(0, 1)
    want = torch.stack([c[:, 0], c[:, 1] * c[:, 2], 1 - c[:, 0]], 1)
    assert (fast - want).abs().max() < 1e-5


# --- bounded cost ------------------------------------------------------------------------------------

_HUGE = """
import torch
from conftest import TensorClip, make_node
from vfx.ops import backend
from vfx_plugins.effects import Blur, Glow
from vfx_plugins.effects.keying import ChromaKey
px = torch.rand(2, 4, 16, 16).contiguous(memory_format=torch.channels_last)
for paths in (("torch", "numba", "opencv"), ("torch",)):
    with backend.only(*paths):
        for size in ((16, 16), (1, 1), (3, 40)):
            p = torch.rand(2, 4, *size)
            assert torch.isfinite(make_node(Blur, TensorClip(p), sigma=1000.0).frames([0, 1]).pixels).all()
            assert torch.isfinite(make_node(Glow, TensorClip(p), radius=3000.0).frames([0]).pixels).all()
        key = make_node(ChromaKey, TensorClip(px), key_color=[0, 1, 0], feather=200.0, shrink=100.0)
        assert torch.isfinite(key.frames([0]).pixels).all()
print("done")
"""


def test_the_largest_blurs_of_a_tiny_frame_finish():
    """effect.blur at sigma 1000, effect.glow at radius 3000 and the keyer's largest feather and
    shrink on 16 x 16 (and 1 x 1) frames: kernels are cut to the frame, so these are quick (they
    once ran for minutes). A generous timeout guards the test; nothing is timed."""
    from pathlib import Path

    tests = Path(__file__).parent
    p = subprocess.run(
        [sys.executable, "-c", _HUGE],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tests,
        env={**__import__("os").environ, "PYTHONPATH": str(tests)},
    )
    assert p.returncode == 0, p.stderr
    assert "done" in p.stdout
