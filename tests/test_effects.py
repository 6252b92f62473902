"""Built-in effects (plugins/effects/): grade, blur, glow, vignette, grain, fade.

Nodes are tested directly on small tensors (no registry, no encoder), against NumPy and
scikit-image references; masks, keyframes, validation and one lossless render go through real
pipelines.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vfx
from vfx.ops import backend
from vfx.ops import color as vfx_color
from vfx.ops import filters
from vfx.ops import lut as ops_lut
from vfx.engine import RenderOptions, render
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.pipeline import load
from vfx_plugins.effects import Blur, Fade, Glow, Grade, Grain, Vignette
from vfx.media import lut as cube

from conftest import TensorClip, decode_frames, make_node, write_pipeline

ROOT = Path(__file__).resolve().parent.parent
LUMA = np.array([0.2126, 0.7152, 0.0722])


def premultiplied(rgb, alpha):
    """(N, 3, H, W) straight colour and (N, 1, H, W) alpha as premultiplied RGBA."""
    return torch.cat([rgb * alpha, alpha], 1)


def sample_pixels(n=1, h=6, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand((n, 3, h, w), generator=g) * 1.2
    alpha = torch.rand((n, 1, h, w), generator=g) * 0.8 + 0.2
    return rgb, alpha


def straight(out):
    out = out.double().numpy()
    return out[:, :3] / out[:, 3:4], out[:, 3:4]


def cpu_path(path: str):
    """On a CPU, "kernel": every fast path allowed; "torch": no Numba kernels (OpenCV still allowed)."""
    return contextlib.nullcontext() if path == "kernel" else backend.only("torch", "opencv")


# --- grade ------------------------------------------------------------------------------------------


@pytest.fixture(params=["kernel", "torch"])
def grade_path(request):
    """Grade on the CPU both ways: through its Numba kernel, and through the torch path GPUs take."""
    with cpu_path(request.param):
        yield request.param


def test_grade_matches_reference_formulas_on_straight_colour(grade_path):
    rgb, alpha = sample_pixels()
    opts = dict(
        exposure=0.7,
        contrast=1.3,
        pivot=0.2,
        saturation=1.4,
        lift=[0.05, -0.02, 0.0],
        gamma=[1.2, 0.9, 1.0],
        gain=[1.1, 1.0, 0.95],
    )
    out = make_node(Grade, TensorClip(premultiplied(rgb, alpha)), **opts).frames([0]).pixels
    x = rgb.double().numpy() * 2**0.7
    x = np.where(x > 0, 0.2 * (np.maximum(x, 0) / 0.2) ** 1.3, x)
    y = np.einsum("c,nchw->nhw", LUMA, x)[:, None]
    x = y + 1.4 * (x - y)
    lift, gamma, gain = (np.array(v).reshape(1, 3, 1, 1) for v in (opts["lift"], opts["gamma"], opts["gain"]))
    base = gain * (x + lift * (1 - x))
    x = np.where(base > 0, np.maximum(base, 0) ** (1 / gamma), base)
    got, a = straight(out)
    assert np.allclose(a, alpha.numpy(), atol=1e-7)
    np.testing.assert_allclose(got, x, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    "name,value,expected",
    [
        ("exposure", -1.0, lambda x: x / 2),
        ("contrast", 2.0, lambda x: 0.18 * (x / 0.18) ** 2),
        ("saturation", 0.0, lambda x: np.repeat(np.einsum("c,nchw->nhw", LUMA, x)[:, None], 3, 1)),
        ("lift", [0.1, 0.1, 0.1], lambda x: x + 0.1 * (1 - x)),
        ("gamma", [2.0, 2.0, 2.0], lambda x: np.sqrt(x)),
        ("gain", [0.5, 1.0, 2.0], lambda x: x * np.array([0.5, 1.0, 2.0]).reshape(1, 3, 1, 1)),
    ],
)
def test_each_grade_control_alone(grade_path, name, value, expected):
    rgb, alpha = sample_pixels(seed=3)
    out = make_node(Grade, TensorClip(premultiplied(rgb, alpha)), **{name: value}).frames([0]).pixels
    np.testing.assert_allclose(straight(out)[0], expected(rgb.double().numpy()), rtol=2e-5, atol=2e-6)


def test_grade_with_defaults_returns_the_input_batch():
    src = TensorClip(premultiplied(*sample_pixels()))
    batch = src.frames([0])
    src.render = lambda indices: batch
    assert make_node(Grade, src).frames([0]) is batch


def test_white_balance_makes_the_picked_white_neutral_and_keeps_luminance(grade_path):
    picked = [0.9, 0.75, 0.55]  # a warm grey card, sRGB
    lin = vfx_color.srgb_to_linear(np.array(picked))
    rgb = torch.tensor(lin, dtype=torch.float32).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = make_node(Grade, TensorClip(premultiplied(rgb, torch.ones(1, 1, 2, 2))), white=picked).frames([0]).pixels
    r, g, b = out[0, :3, 0, 0].double().tolist()
    assert r == pytest.approx(g, rel=1e-5) and g == pytest.approx(b, rel=1e-5)
    assert r == pytest.approx(float(lin @ LUMA), rel=1e-5)
    # temperature warms: red up, blue down, luminance of grey kept
    grey = torch.full((1, 3, 2, 2), 0.18)
    warm = make_node(Grade, TensorClip(premultiplied(grey, torch.ones(1, 1, 2, 2))), temperature=1.0).frames([0]).pixels
    r, g, b = warm[0, :3, 0, 0].double().tolist()
    assert r > g > b and r / b == pytest.approx(2.0, rel=1e-5)
    assert np.dot([r, g, b], LUMA) == pytest.approx(0.18, rel=1e-5)


def cube_file(path: Path, fn, size: int, header: str = "", domain=(0.0, 1.0)) -> Path:
    steps = np.linspace(domain[0], domain[1], size)
    b, g, r = np.meshgrid(steps, steps, steps, indexing="ij")
    table = fn(np.stack([r, g, b], -1)).reshape(-1, 3)
    lines = ['TITLE "test"', "# a comment", "", f"LUT_3D_SIZE {size}", header]
    lines += [f"{v[0]:.9f} {v[1]:.9f} {v[2]:.9f}" for v in table]
    path.write_text("\n".join(lines) + "\n")
    return path


def lut_pixels(seed=5):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand((2, 3, 16, 16), generator=g)
    rgb[0, :, 0, :3] = torch.tensor([[0.0, 1.0, 0.5]]).T  # corners and the middle of the cube
    alpha = torch.rand((2, 1, 16, 16), generator=g) * 0.9 + 0.1
    return rgb, alpha


@pytest.mark.parametrize("space", ["srgb", "linear"])
def test_identity_lut_changes_nothing(tmp_path, grade_path, space):
    lut = cube_file(tmp_path / "id.cube", lambda x: x, 5)
    rgb, alpha = lut_pixels()
    px = premultiplied(rgb, alpha)
    out = make_node(Grade, TensorClip(px), lut=str(lut), lut_space=space).frames([0, 1]).pixels
    assert (out - px).abs().max() < 1e-5


def test_lut_from_a_known_function_matches_it_within_trilinear_error(tmp_path, grade_path):
    lut = cube_file(tmp_path / "sq.cube", lambda x: x**2, 33)
    rgb, alpha = lut_pixels()
    out = (
        make_node(Grade, TensorClip(premultiplied(rgb, alpha)), lut=str(lut), lut_space="linear").frames([0, 1]).pixels
    )
    # trilinear interpolation of x^2 on a grid of step h errs by at most h^2 / 4
    assert np.abs(straight(out)[0] - rgb.double().numpy() ** 2).max() <= (1 / 32) ** 2 / 4 + 1e-6
    # in sRGB space the cube sees encoded values: out = decode(encode(x)^2)
    out = make_node(Grade, TensorClip(premultiplied(rgb, alpha)), lut=str(lut)).frames([0, 1]).pixels
    enc = vfx_color.srgb_encode(rgb.double()).numpy()
    expected = vfx_color.srgb_decode(torch.from_numpy(enc**2)).numpy()
    assert np.abs(straight(out)[0] - expected).max() < 1e-3


def test_the_cpu_lut_atlas_matches_grid_sample(tmp_path):
    rng = np.random.default_rng(4)
    table = rng.random((17, 17, 17, 3)).astype(np.float32)  # a rough LUT: large steps
    lut = cube.CubeLUT(17, table, (-0.5, 0.0, 0.0), (1.5, 1.0, 2.0))
    rgb = torch.rand((2, 3, 30, 40)) * 2.2 - 0.6  # inside and outside the domain
    atlas = ops_lut.apply_lut(rgb, lut, ops_lut.lut_volume(lut, "cpu"))
    reference = ops_lut.apply_lut(rgb, lut, ops_lut.lut_tensor(lut, "cpu"))
    assert (atlas - reference).abs().max() < 2e-5


def test_lut_domain_and_mix(tmp_path, grade_path):
    # DOMAIN_MAX 2: an identity over 0..2 keeps values above 1; values past the domain clamp to it
    lut = cube_file(tmp_path / "wide.cube", lambda x: x, 9, "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2", (0.0, 2.0))
    rgb = torch.tensor([0.25, 1.5, 3.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    px = premultiplied(rgb, torch.ones(1, 1, 2, 2))
    out = make_node(Grade, TensorClip(px), lut=str(lut), lut_space="linear").frames([0]).pixels
    assert out[0, :3, 0, 0].tolist() == pytest.approx([0.25, 1.5, 2.0], abs=1e-5)
    half = cube_file(tmp_path / "half.cube", lambda x: x * 0.5, 3)
    out = make_node(Grade, TensorClip(px), lut=str(half), lut_space="linear", lut_mix=0.5).frames([0]).pixels
    assert out[0, 0, 0, 0].item() == pytest.approx(0.25 * 0.75, abs=1e-6)


GRADE_CASES = {
    "every step": dict(
        exposure=0.4,
        contrast=1.3,
        pivot=0.25,
        saturation=0.6,
        lift=[0.03, -0.02, 0.0],
        gamma=[1.2, 0.8, 1.0],
        gain=[1.1, 1.0, 0.9],
        temperature=0.5,
    ),
    "sRGB LUT, mixed": dict(exposure=-0.5, saturation=1.5, lut="LUT", lut_mix=0.7),
    "linear LUT, contrast 0": dict(contrast=0.0, lut="LUT", lut_space="linear"),
    "low contrast on black": dict(contrast=0.05, gamma=[0.5, 1.0, 4.0]),
    "animated": dict(
        exposure={"keyframes": [[0, -1.0], [2, 1.5]]},
        gamma={"keyframes": [[0, [1, 1, 1]], [2, [2, 1, 0.5]]]},
        saturation={"keyframes": [[0, 0.0], [2, 2.0]]},
        lut="LUT",
        lut_mix={"keyframes": [[0, 0.0], [2, 1.0]]},
    ),
}


@pytest.mark.kernel
@pytest.mark.parametrize("has_alpha", [True, False])
@pytest.mark.parametrize("case", list(GRADE_CASES))
def test_grade_kernel_matches_the_torch_path(tmp_path, monkeypatch, case, has_alpha):
    """The CPU kernel runs the torch path's formulas: three frames (per-frame values when
    animated) of more pixels than one kernel chunk, with values below 0 and above 1, pixels of
    alpha 0, and a LUT of rough steps whose domain the values overshoot."""
    from vfx_plugins.effects import _grade_kernel as grade_kernel

    def look(x):
        r, g, b = x[..., 0], x[..., 1], x[..., 2]
        return np.stack([g**2, np.sin(3 * r) + 0.2, b * r - 0.1], -1)

    lut = cube_file(tmp_path / "look.cube", look, 7, "DOMAIN_MIN -0.5 0 0\nDOMAIN_MAX 1.5 1 2", (-0.5, 1.5))
    g = torch.Generator().manual_seed(7)
    h, w = 23, 97
    assert h * w > grade_kernel.CHUNK
    rgb = torch.rand((3, 3, h, w), generator=g) * 2.6 - 0.1
    alpha = (torch.rand((3, 1, h, w), generator=g) * 1.2 - 0.1).clamp(0, 1) if has_alpha else torch.ones(3, 1, h, w)
    options = {k: str(lut) if v == "LUT" else v for k, v in GRADE_CASES[case].items()}
    results = {}
    for path in ("kernel", "torch"):
        with cpu_path(path):
            clip = TensorClip(premultiplied(rgb, alpha), has_alpha=has_alpha)
            results[path] = make_node(Grade, clip, **options).frames([0, 1, 2]).pixels
    kernel, reference = results["kernel"], results["torch"]
    assert kernel.is_contiguous(memory_format=torch.channels_last) and reference.std() > 0.1
    assert (kernel[1] - kernel[0]).abs().max() > 0.01 or case != "animated"
    torch.testing.assert_close(kernel, reference, rtol=2e-5, atol=2e-5)


def test_read_cube_parses_title_domain_and_order(tmp_path):
    lut = cube.read_cube(
        cube_file(tmp_path / "t.cube", lambda x: x * [1.0, 0.5, 0.25], 3, "DOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1")
    )
    assert (lut.size, lut.title, lut.domain_max) == (3, "test", (1.0, 1.0, 1.0))
    # red changes fastest: table[b, g, r]
    assert lut.table[0, 0, 2].tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert lut.table[2, 0, 0].tolist() == pytest.approx([0.0, 0.0, 0.25])


BAD_CUBES = [
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1\n", 4, "expected 3 number(s)"),
    ("LUT_3D_SIZE 2\n0 0 0\n1 0 zero\n", 3, "expected numbers"),
    ("0 0 0\nLUT_3D_SIZE 2\n", 1, "before LUT_3D_SIZE"),
    ("LUT_3D_SIZE 1\n", 1, "from 2 to 256"),
    ("LUT_1D_SIZE 16\n", 1, "1-D LUTs"),
    ("# fine\nLUT_3D_SIZE 2\nDOMAIN_MAX 1 1\n", 3, "DOMAIN_MAX"),
    ("LUT_3D_SIZE 2\nSHAPER on\n", 2, "unknown keyword 'SHAPER'"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7, 8, "needs 8 data rows, found 7"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 9, 10, "more than 2^3"),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "nan 0 0\n", 9, "finite"),
]


@pytest.mark.parametrize("text,line,message", BAD_CUBES)
def test_bad_cube_files_are_configure_errors_with_the_line(tmp_path, text, line, message):
    (tmp_path / "bad.cube").write_text(text)
    p = write_pipeline(tmp_path, GRADED.format(grade='lut = "bad.cube"'))
    with pytest.raises(PipelineError) as info:
        build(load(p), require_encoder=False)
    msg = str(info.value)
    assert "node 'g'" in msg and "option 'lut'" in msg and f"line {line} of bad.cube" in msg and message in msg, msg


def test_a_cube_without_a_size_is_refused(tmp_path):
    (tmp_path / "empty.cube").write_text('TITLE "nothing"\n# only comments\n')
    with pytest.raises(cube.CubeError, match="no LUT_3D_SIZE"):
        cube.read_cube(tmp_path / "empty.cube")


def test_committed_warm_cube_is_what_its_script_writes():
    sys.path.insert(0, str(ROOT / "pipelines" / "luts"))
    try:
        import make_warm_cube
    finally:
        sys.path.pop(0)
    assert (ROOT / "pipelines" / "luts" / "warm.cube").read_text() == make_warm_cube.cube_text()
    assert cube.read_cube(ROOT / "pipelines" / "luts" / "warm.cube").size == 17


# --- blur -------------------------------------------------------------------------------------------


def blur_image(h=96, w=160, seed=1):
    """Shapes, a gradient and some noise in 0..1 (HWC, float32), alpha included."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] / np.array([h, w]).reshape(2, 1, 1)
    img = np.zeros((h, w, 4))
    img[..., 0] = xx
    img[..., 1] = ((xx * 7).astype(int) + (yy * 5).astype(int)) % 2
    img[..., 2] = np.hypot(xx - 0.3, yy - 0.6) < 0.25
    img[..., 3] = 1.0 - 0.7 * (yy > 0.5)
    img[..., :3] = img[..., :3] * 0.8 + 0.2 * rng.random((h, w, 3))
    img[..., :3] *= img[..., 3:4]
    return img.astype(np.float32)


@pytest.mark.parametrize("sigma,tolerance", [(1.5, 1e-6), (20.0, 5e-4)])
def test_blur_matches_skimage_gaussian(sigma, tolerance):
    """Mean absolute error against skimage.filters.gaussian (mode 'nearest', truncate 4) on 0..1
    values: exact convolution for small sigma (float32 rounding only, < 1e-6), under 5e-4 for the
    downsampled path at sigma 20 (measured 1.3e-4); the largest single-pixel error is under ten
    times the tolerance (measured 1.0e-3 at sigma 20)."""
    from skimage.filters import gaussian

    img = blur_image()
    ref = gaussian(
        img.astype(np.float64), sigma=sigma, mode="nearest", preserve_range=True, channel_axis=-1, truncate=4.0
    )
    src = TensorClip(torch.from_numpy(img).permute(2, 0, 1)[None])
    out = make_node(Blur, src, sigma=sigma).frames([0]).pixels[0].permute(1, 2, 0).numpy()
    err = np.abs(out - ref)
    assert err.mean() < tolerance and err.max() < max(10 * tolerance, 1e-5), (err.mean(), err.max())


def test_blur_radius_is_three_sigma_and_both_is_an_error():
    img = torch.from_numpy(blur_image(48, 64)).permute(2, 0, 1)[None]
    a = make_node(Blur, TensorClip(img), sigma=4.0).frames([0]).pixels
    b = make_node(Blur, TensorClip(img), radius=12.0).frames([0]).pixels
    assert torch.equal(a, b)
    with pytest.raises(vfx.ConfigureError) as info:
        make_node(Blur, TensorClip(img), sigma=1.0, radius=3.0)
    assert info.value.option == "radius"


@pytest.mark.parametrize("sigma,size", [(3.0, 120), (30.0, 400)])
def test_blur_keeps_total_energy(sigma, size):
    px = torch.zeros(1, 4, size, size)
    c = size // 2
    px[:, :, c - 20 : c + 20, c - 20 : c + 20] = torch.tensor([2.0, 0.5, 1.0, 1.0]).view(1, 4, 1, 1)
    out = make_node(Blur, TensorClip(px), sigma=sigma).frames([0]).pixels
    assert out.double().sum((2, 3)).numpy() == pytest.approx(px.double().sum((2, 3)).numpy(), rel=1e-4)
    assert out.max() <= 2.0 + 1e-5 and out.min() >= 0


def test_blur_of_premultiplied_alpha_does_not_darken_edges():
    px = torch.zeros(1, 4, 40, 40)
    px[:, :, 10:30, 10:30] = torch.tensor([1.0, 0.2, 0.0, 1.0]).view(1, 4, 1, 1)  # opaque orange on clear
    out = make_node(Blur, TensorClip(px), sigma=3.0).frames([0]).pixels
    a = out[0, 3]
    edge = (a > 0.01) & (a < 0.99)
    assert edge.sum() > 100
    assert torch.allclose(out[0, 0][edge] / a[edge], torch.tensor(1.0), atol=1e-4)
    assert torch.allclose(out[0, 1][edge] / a[edge], torch.tensor(0.2), atol=1e-4)


def test_gaussian_blur_on_tiny_and_odd_frames():
    """A kernel far wider than the frame, and odd sizes (padded to the downsampling factor)."""
    from skimage.filters import gaussian

    img = blur_image(17, 23)
    ref = gaussian(img.astype(np.float64), sigma=30, mode="nearest", preserve_range=True, channel_axis=-1)
    out = filters.gaussian_blur(torch.from_numpy(img).permute(2, 0, 1)[None], 30.0)[0].permute(1, 2, 0).numpy()
    assert np.abs(out - ref).max() < 1e-3
    out = filters.gaussian_blur(torch.from_numpy(img).permute(2, 0, 1)[None], 7.0)[0].permute(1, 2, 0).numpy()
    ref = gaussian(img.astype(np.float64), sigma=7, mode="nearest", preserve_range=True, channel_axis=-1)
    assert np.abs(out - ref).max() < 1e-5
    img = blur_image(101, 203)
    ref = gaussian(img.astype(np.float64), sigma=12, mode="nearest", preserve_range=True, channel_axis=-1)
    out = filters.gaussian_blur(torch.from_numpy(img).permute(2, 0, 1)[None], 12.0)[0].permute(1, 2, 0).numpy()
    assert np.abs(out - ref).mean() < 1e-3


@pytest.mark.parametrize("sigma", [1.5, 5.0, 20.0])
def test_torch_path_for_gpus_matches_the_opencv_path(monkeypatch, sigma):
    """On a GPU the blur runs on torch (conv2d, avg_pool2d, interpolate): same numbers as OpenCV."""
    img = torch.from_numpy(blur_image(51, 83)).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    cv = filters.gaussian_blur(img, sigma)
    with backend.only("torch", "numba"):
        th = filters.gaussian_blur(img, sigma)
        assert th.shape == img.shape and th.is_contiguous(memory_format=torch.channels_last)
        assert (cv - th).abs().max() < 1e-5
        src = grain_src(2)
        a = make_node(Grain, src, size=2.5, color=0.5).frames([0, 1]).pixels
        assert (a - src.pixels).abs().mean() > 1e-3 and torch.isfinite(a).all()
        glow = make_node(Glow, TensorClip(glow_plate()), radius=30.0, threshold=1.0).frames([0]).pixels
    again = make_node(Glow, TensorClip(glow_plate()), radius=30.0, threshold=1.0).frames([0]).pixels
    assert (glow - again).abs().max() < 1e-5


# --- glow -------------------------------------------------------------------------------------------


def glow_plate(h=120, w=160):
    px = torch.zeros(1, 4, h, w)
    px[:, :3] = 0.05
    px[:, 3] = 1.0
    px[:, :3, 55:65, 75:85] = 4.0  # one hot spot
    return px


def test_glow_adds_light_only_around_bright_areas():
    px = glow_plate()
    out = make_node(Glow, TensorClip(px), radius=12.0, threshold=1.0, knee=0.5).frames([0]).pixels
    diff = (out - px)[0, :3]
    assert diff.min() >= -1e-6  # light is only added
    assert diff[:, 50, 70].min() > 0.01  # next to the spot
    assert diff[:, 5:20, 5:20].abs().max() < 1e-6  # far away: untouched
    assert torch.equal(out[0, 3], px[0, 3])
    # nothing above threshold - knee: unchanged
    dim = torch.cat([torch.full((1, 3, 32, 32), 0.3), torch.ones(1, 1, 32, 32)], 1)
    out = make_node(Glow, TensorClip(dim), radius=9.0, threshold=0.8, knee=0.2).frames([0]).pixels
    assert (out - dim).abs().max() < 1e-7


def test_glow_tint_intensity_and_screen():
    px = glow_plate()
    base = make_node(Glow, TensorClip(px), radius=12.0, threshold=1.0).frames([0]).pixels - px
    red = (
        make_node(Glow, TensorClip(px), radius=12.0, threshold=1.0, color="red", intensity=2.0).frames([0]).pixels - px
    )
    assert torch.allclose(red[0, 0], 2 * base[0, 0], atol=1e-5) and red[0, 1:3].abs().max() < 1e-6
    screen = make_node(Glow, TensorClip(px), radius=12.0, threshold=1.0, blend="screen").frames([0]).pixels
    assert torch.allclose(screen - px, base * (1 - px.clamp(0, 1)), atol=1e-5)


def test_glow_on_a_transparent_plate_adds_alpha_around_the_element():
    px = torch.zeros(1, 4, 64, 64)
    px[:, :, 28:36, 28:36] = torch.tensor([3.0, 3.0, 3.0, 1.0]).view(1, 4, 1, 1)
    out = make_node(Glow, TensorClip(px), radius=9.0, threshold=0.5).frames([0]).pixels
    assert out[0, 3, 24, 32] > 0.05 and out[0, 3, 0, 0] < 1e-6


# --- vignette ---------------------------------------------------------------------------------------


def test_vignette_leaves_the_centre_and_darkens_the_corners():
    px = torch.cat([torch.full((1, 3, 90, 160), 0.5), torch.ones(1, 1, 90, 160)], 1)
    out = make_node(Vignette, TensorClip(px), amount=0.8, radius=0.5, softness=0.8).frames([0]).pixels
    assert torch.equal(out[0, :, 40:50, 75:85], px[0, :, 40:50, 75:85])
    corner = out[0, 0, 0, 0].item()
    assert corner < 0.5 * 0.5 and out[0, 0, 0, 0] < out[0, 0, 10, 10] < out[0, 0, 30, 40] <= 0.5
    assert torch.equal(out[0, 3], px[0, 3])
    # corners sit at distance sqrt(2): radius 1.5 leaves the whole frame alone
    same = make_node(Vignette, TensorClip(px), radius=1.5, roundness=0.0).frames([0]).pixels
    assert torch.equal(same, px)
    # an off-centre vignette, tinted white: the new centre is untouched, far corner brightened
    tinted = make_node(Vignette, TensorClip(px), center=[0.0, 0.0], color="white", radius=0.2).frames([0]).pixels
    assert tinted[0, 0, 0, 0].item() == pytest.approx(0.5, abs=1e-6)
    assert tinted[0, 0, -1, -1].item() > 0.7


# --- grain ------------------------------------------------------------------------------------------


def grain_src(n=6):
    ramp = torch.linspace(0.02, 0.9, 64).view(1, 1, 1, 64).expand(n, 3, 48, 64)
    return TensorClip(torch.cat([ramp, torch.ones(n, 1, 48, 64)], 1).contiguous(), has_alpha=False)


@pytest.mark.parametrize("options", [{}, {"color": 1.0, "size": 1.0}, {"color": 0.5, "size": 2.5}])
def test_grain_is_deterministic_per_frame_and_seed(options):
    src = grain_src()
    a = make_node(Grain, src, seed=1, **options).frames(list(range(6))).pixels
    b = make_node(Grain, src, seed=1, **options).frames(list(range(6))).pixels
    assert torch.equal(a, b)
    alone = make_node(Grain, src, seed=1, **options).frames([4]).pixels
    assert torch.equal(alone[0], a[4])
    other_seed = make_node(Grain, src, seed=2, **options).frames([4]).pixels
    assert (other_seed[0] - a[4]).abs().mean() > 1e-3
    assert (a[3] - a[4]).abs().mean() > 1e-3  # every frame has its own grain
    assert (a - src.pixels).abs().mean() > 1e-3


def test_grain_strength_size_colour_and_response():
    src = grain_src(1)
    flat = src.pixels

    def grain(**options):
        out = make_node(Grain, src, amount=0.05, response=0.0, **options).frames([0]).pixels
        return (out[:, :3].sqrt() - flat[:, :3].sqrt())[0]

    e = grain(size=1.0)
    assert e.std().item() == pytest.approx(0.05, rel=0.1)  # amount: the deviation in sqrt units
    assert torch.allclose(e[0], e[1], atol=1e-6)  # monochrome by default
    ec = grain(size=1.0, color=1.0)
    assert (ec[0] - ec[1]).abs().mean() > 0.01  # per channel
    assert grain(size=3.0).std().item() == pytest.approx(0.05, rel=0.15)

    def corr(x):
        return np.corrcoef(x[:, 1:].flatten(), x[:, :-1].flatten())[0, 1]

    assert corr(grain(size=4.0)[0].numpy()) > 0.7 and abs(corr(e[0].numpy())) < 0.3
    # response: little grain in deep shadows and highlights, the most in the midtones
    bands = torch.tensor([0.001, 0.25, 0.98]).repeat_interleave(20).view(1, 1, 1, 60).expand(1, 3, 40, 60)
    src = TensorClip(torch.cat([bands, torch.ones(1, 1, 40, 60)], 1), has_alpha=False)
    out = make_node(Grain, src, amount=0.02, response=1.0, size=1.0).frames([0]).pixels
    er = out[0, 0].sqrt() - src.pixels[0, 0].sqrt()
    shadow, mid, high = er[:, :20].std(), er[:, 20:40].std(), er[:, 40:].std()
    assert shadow < 0.3 * mid and high < 0.3 * mid and mid.item() == pytest.approx(0.02, rel=0.15)


# --- fade -------------------------------------------------------------------------------------------


def test_fade_values_at_known_frames():
    white = TensorClip(torch.ones(12, 4, 4, 4), has_alpha=False)
    node = make_node(Fade, white, **{"in": 4, "out": 4})
    out = node.frames(list(range(12))).pixels[:, 0, 0, 0].tolist()
    assert out == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0], abs=1e-6)
    assert node.video.has_alpha is False
    smooth = make_node(Fade, white, **{"in": 4}, curve="smooth").frames([1, 2, 11]).pixels[:, 0, 0, 0].tolist()
    assert smooth == pytest.approx([0.15625, 0.5, 1.0], abs=1e-6)
    clear = make_node(Fade, white, out=2, color="transparent")
    assert clear.video.has_alpha is True
    px = clear.frames([9, 10, 11]).pixels
    assert px[:, 3, 0, 0].tolist() == pytest.approx([1.0, 0.5, 0.0]) and px[:, 0, 0, 0].tolist() == pytest.approx(
        [1.0, 0.5, 0.0]
    )
    red = make_node(Fade, white, **{"in": 2}, color="#ff0000").frames([0, 1]).pixels[:, :, 0, 0]
    assert red.flatten().tolist() == pytest.approx([1, 0, 0, 1, 1, 0.5, 0.5, 1])


def test_fade_longer_than_the_input_is_an_error():
    with pytest.raises(vfx.ConfigureError) as info:
        make_node(Fade, TensorClip(torch.ones(5, 4, 2, 2)), out=5)
    assert info.value.option == "out"


@pytest.mark.parametrize(
    "cls,options",
    [
        (Grade, dict(exposure=1.0, contrast=1.5, saturation=0.5, lift=[0.1, 0.0, 0.0], gamma=[1.5, 1, 1])),
        (Blur, dict(sigma=12.0)),
        (Glow, dict(threshold=0.2, radius=6.0)),
        (Glow, dict(threshold=0.2)),
        (Vignette, dict(color="orange")),
        (Grain, dict(color=0.5)),
        (Fade, {"in": 1}),
    ],
)
@pytest.mark.parametrize("layout", ["channels_last", "nchw"])
def test_no_effect_writes_into_its_input(cls, options, layout):
    px = premultiplied(*sample_pixels(n=2, h=40, w=48))
    px = px.contiguous(memory_format=torch.channels_last) if layout == "channels_last" else px.contiguous()
    before = px.clone()
    src = TensorClip(px)
    src.render = lambda indices: vfx.FrameBatch(indices, px[: len(indices)])  # hands out the tensor itself
    out = make_node(cls, src, **options).frames([0, 1]).pixels
    assert torch.equal(px, before) and not torch.equal(out, px)
    assert out.is_contiguous(memory_format=torch.channels_last)


# --- through pipelines: masks, keyframes, validation, a lossless render -------------------------------

GRADED = """
    [pipeline]
    width = 32
    height = 16
    duration = 12
    [nodes.plate]
    type = "source.color"
    color = [0.5, 0.25, 0.75]
    [nodes.g]
    type = "effect.grade"
    input = "plate"
    {grade}
    [nodes.out]
    type = "encode.image_sequence"
    input = "g"
    bits = "16"
    path = "f_%02d.png"
"""


def plate_linear():
    return vfx_color.srgb_to_linear(np.array([0.5, 0.25, 0.75]))


def test_mask_blends_input_and_result_by_its_alpha(tmp_path):
    body = (
        GRADED.format(grade='exposure = 1.0\nmask = "half"')
        + """
    [nodes.half]
    type = "source.color"
    color = [1.0, 1.0, 1.0, 0.5]
    size = [8, 4]
    """
    )
    graph = build(load(write_pipeline(tmp_path, body)), require_encoder=False)
    px = graph.nodes["g"].frames([0, 1]).pixels
    # the half-alpha mask (resized to the frame) mixes 1x and 2x: 1.5x
    assert px[:, :3].permute(0, 2, 3, 1).reshape(-1, 3).numpy() == pytest.approx(
        np.tile(1.5 * plate_linear(), (2 * 16 * 32, 1)), rel=1e-5
    )


def test_blur_with_a_gradient_mask(tmp_path):
    body = """
    [pipeline]
    width = 64
    height = 32
    duration = 2
    [nodes.plate]
    type = "source.testpattern"
    pattern = "checker"
    sweep = false
    [nodes.ramp]
    type = "source.color"
    color = { keyframes = [[0, [1.0, 1.0, 1.0, 0.0]], [1, [1.0, 1.0, 1.0, 1.0]]] }
    [nodes.b]
    type = "effect.blur"
    input = "plate"
    sigma = 3
    mask = "ramp"
    [nodes.b_full]
    type = "effect.blur"
    input = "plate"
    sigma = 3
    """
    graph = build(load(write_pipeline(tmp_path, body)), require_encoder=False)
    plate = graph.nodes["plate"].frames([0, 1]).pixels
    masked = graph.nodes["b"].frames([0, 1]).pixels
    full = graph.nodes["b_full"].frames([0, 1]).pixels
    assert torch.allclose(masked[0], plate[0], atol=1e-6)  # mask alpha 0: the input
    assert torch.allclose(masked[1], full[1], atol=1e-6)  # mask alpha 1: the blur


def test_exposure_keyframes_at_known_frames(tmp_path):
    keys = 'exposure = { keyframes = [[0, 0.0], [4, 2.0], [8, -1.0, "hold"]] }'
    p = write_pipeline(tmp_path, GRADED.format(grade=keys))
    graph = build(load(p), require_encoder=False)
    frames = [0, 2, 4, 6, 8, 11]
    px = graph.nodes["g"].frames(frames).pixels[:, :3, 0, 0].double().numpy()
    stops = [0.0, 1.0, 2.0, 0.5, -1.0, -1.0]
    assert px == pytest.approx(np.outer(2.0 ** np.array(stops), plate_linear()), rel=1e-5)
    # a render (batches of 8 with a frame-by-frame animation inside) to 16-bit PNGs agrees
    render(graph, RenderOptions(device="cpu", batch_size=8))
    for f, s in zip(frames, stops):
        img = decode_frames(tmp_path / f"f_{f:02d}.png", fmt="rgba64le")[0][8, 8, :3] / 65535
        lin = vfx_color.srgb_to_linear(img)
        assert lin == pytest.approx(np.minimum(1.0, 2.0**s * plate_linear()), abs=2e-4)


@pytest.mark.parametrize(
    "grade,option,message",
    [
        ("exposure = 100", "exposure", "must be at most 16"),
        ("gamma = [1.0, 0.0, 1.0]", "gamma", "at least 0.01"),
        ('lut_space = "log"', "lut_space", "expected one of srgb, linear"),
        ('lut = "missing.cube"', "lut", "file not found"),
        ("saturation = { keyframes = [[0, 1.0], [5, 9.0]] }", "saturation", "keyframe 2: must be at most 8"),
        ('white = "#ff8000"', "white", "has a channel at or near 0"),
    ],
)
def test_validation_errors_name_node_and_option(tmp_path, grade, option, message):
    p = write_pipeline(tmp_path, GRADED.format(grade=grade))
    with pytest.raises(PipelineError) as info:
        build(load(p), require_encoder=False)
    msg = str(info.value)
    assert "node 'g'" in msg and f"option '{option}'" in msg and message in msg, msg


def test_node_level_validation_through_a_pipeline(tmp_path):
    body = (
        GRADED.format(grade="")
        + """
    [nodes.fade]
    type = "effect.fade"
    input = "plate"
    in = "1s"
    [nodes.soft]
    type = "effect.blur"
    input = "plate"
    sigma = 2
    radius = 6
    """
    )
    with pytest.raises(PipelineError) as info:
        build(load(write_pipeline(tmp_path, body)), require_encoder=False)
    msg = str(info.value)
    assert "node 'fade': option 'in': a 24-frame fade does not fit the input's 12 frames" in msg, msg
    assert "node 'soft': option 'radius': give sigma or radius, not both" in msg, msg


def test_every_effect_renders_a_pipeline_with_a_lut(tmp_path):
    lut = cube_file(tmp_path / "look.cube", lambda x: x**1.1, 9)
    body = f"""
    [pipeline]
    width = 64
    height = 36
    duration = 6
    [nodes.bars]
    type = "source.testpattern"
    [nodes.g]
    type = "effect.grade"
    input = "bars"
    lut = "{lut.name}"
    saturation = {{ expr = "1 + 0.1 * frame" }}
    [nodes.b]
    type = "effect.blur"
    input = "g"
    radius = {{ keyframes = [[0, 0.0], [5, 60.0]] }}
    [nodes.gl]
    type = "effect.glow"
    input = "b"
    radius = 20
    threshold = 0.3
    [nodes.v]
    type = "effect.vignette"
    input = "gl"
    [nodes.gr]
    type = "effect.grain"
    input = "v"
    [nodes.f]
    type = "effect.fade"
    input = "gr"
    in = 2
    out = 2
    [nodes.out]
    type = "encode.video"
    input = "f"
    path = "o.mkv"
    codec = "ffv1"
    """
    graph = build(load(write_pipeline(tmp_path, body)))
    render(graph, RenderOptions(device="cpu", batch_size=4))
    frames = decode_frames(tmp_path / "o.mkv")
    assert len(frames) == 6 and frames[0].max() == 0 and frames[3].mean() > 20
    # the whole render equals frames rendered alone (grain and animation are per frame)
    alone = build(load(write_pipeline(tmp_path, body)))
    single = alone.nodes["f"].frames([3]).pixels
    again = build(load(write_pipeline(tmp_path, body))).nodes["f"].frames([1, 2, 3]).pixels
    assert torch.allclose(single[0], again[2], atol=1e-6)


@pytest.mark.kernel
@pytest.mark.parametrize("has_alpha", [True, False])
@pytest.mark.parametrize("blend", ["add", "screen"])
def test_glow_kernels_match_the_torch_path(monkeypatch, blend, has_alpha):
    """On a CPU a half-resolution glow's bright pass and its upsampling and combining are Numba
    kernels: the torch path's frames, for an odd-sized frame with overbright and transparent
    pixels and per-frame values."""
    from vfx_plugins.effects import _glow_kernel as glow_kernel

    combined = []
    combine = glow_kernel.combine
    monkeypatch.setattr(glow_kernel, "combine", lambda *args: combined.append(1) or combine(*args))
    g = torch.Generator().manual_seed(9)
    rgb = torch.rand((2, 3, 41, 63), generator=g) ** 4 * 3.0
    alpha = (torch.rand((2, 1, 41, 63), generator=g) * 1.2 - 0.1).clamp(0, 1) if has_alpha else torch.ones(2, 1, 41, 63)
    results = {}
    for path in ("kernel", "torch"):
        with cpu_path(path):
            clip = TensorClip(premultiplied(rgb, alpha), has_alpha=has_alpha)
            node = make_node(
                Glow,
                clip,
                radius=24.0,
                octaves=2,
                blend=blend,
                color="#ffc080",
                threshold={"keyframes": [[0, 0.3], [1, 0.8]]},
                knee=0.3,
                intensity=2.0,
            )
            results[path] = node.frames([0, 1]).pixels
    assert len(combined) == 2  # the kernel ran (half resolution), once a frame
    assert (results["torch"] - premultiplied(rgb, alpha)).abs().mean() > 0.01
    torch.testing.assert_close(results["kernel"], results["torch"], rtol=1e-5, atol=1e-5)


@pytest.mark.kernel
@pytest.mark.parametrize("has_alpha", [True, False])
@pytest.mark.parametrize("color", [0.0, 0.4, 1.0])
def test_grain_kernel_matches_the_torch_path(monkeypatch, color, has_alpha):
    """On a CPU the grain's per-pixel part is a Numba kernel: the torch path's frames, for
    monochrome, mixed and colour grain, values below 0 and above 1, pixels of alpha 0."""
    g = torch.Generator().manual_seed(5)
    rgb = torch.rand((2, 3, 21, 34), generator=g) * 1.4 - 0.1
    alpha = (torch.rand((2, 1, 21, 34), generator=g) * 1.2 - 0.1).clamp(0, 1) if has_alpha else torch.ones(2, 1, 21, 34)
    results = {}
    for path in ("kernel", "torch"):
        with cpu_path(path):
            clip = TensorClip(premultiplied(rgb, alpha), has_alpha=has_alpha)
            results[path] = (
                make_node(Grain, clip, amount=0.2, color=color, size=2.0, response=0.6).frames([0, 1]).pixels
            )
    assert (results["torch"] - premultiplied(rgb, alpha)).abs().mean() > 0.01
    torch.testing.assert_close(results["kernel"], results["torch"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["grade", "grain", "chroma_key", "luma_key"])
def test_row_strips_render_what_whole_frames_render(tmp_path, monkeypatch, case):
    """On a CPU the per-pixel effects run in row strips: strips of 5 rows, and of a height that
    does not divide the frame, give the whole-frame result (spatial steps span strips) up to the
    rounding of sums taken in another order."""
    from vfx import frames
    from vfx_plugins.effects.keying import ChromaKey, LumaKey

    rgb, alpha = sample_pixels(n=2, h=23, w=17, seed=3)
    rgb[:, 1] += 0.6 * (torch.rand((2, 23, 17)) > 0.5)  # a patchy green screen to key
    px = premultiplied(rgb, alpha)
    lut = cube_file(tmp_path / "sq.cube", lambda x: x**2, 9)
    node = {
        "grade": lambda: make_node(
            Grade,
            TensorClip(px),
            exposure=0.4,
            contrast=1.3,
            saturation=0.7,
            lift=[0.02, 0, 0],
            gamma=[1.1, 1, 0.9],
            lut=str(lut),
            lut_mix=0.8,
        ),
        "grain": lambda: make_node(Grain, TensorClip(px), amount=0.2, color=0.4, size=2.0),
        "chroma_key": lambda: make_node(ChromaKey, TensorClip(px), key_color="#20c030", shrink=1.5, feather=2.0),
        "luma_key": lambda: make_node(LumaKey, TensorClip(px), low=0.3, high=0.8, invert=True),
    }[case]
    results = []
    for rows in (1000, 5, 7):
        monkeypatch.setattr(frames, "STRIP_ROWS", rows)
        with cpu_path("torch"):  # on a CPU the kernels run instead of strips
            results.append(node().frames([0, 1]).pixels)
    whole, *strips = results
    assert whole.shape == (2, 4, 23, 17) and whole.std() > 0.05
    for s in strips:
        assert (s - whole).abs().max() < 1e-6
