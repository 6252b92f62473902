"""Procedural backdrops: sizes, determinism, random access, and what each picture must look like."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.ops.color import srgb_to_linear
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.pipeline import load

from conftest import write_pipeline

W, H = 128, 72


def graph(tmp_path, nodes: str, seed: int = 3, size=(W, H), duration: int = 6):
    body = f"""
format = 1
[pipeline]
width = {size[0]}
height = {size[1]}
fps = 24
duration = {duration}
seed = {seed}
{nodes}
"""
    return build(load(write_pipeline(tmp_path, body, name=f"p{seed}.toml")), require_encoder=False)


def pixels(tmp_path, nodes: str, frames=(0,), node="bg", **kw) -> torch.Tensor:
    return graph(tmp_path, nodes, **kw).nodes[node].frames(list(frames)).pixels


def lum(rgb: torch.Tensor) -> torch.Tensor:
    return 0.2126 * rgb[..., 0, :, :] + 0.7152 * rgb[..., 1, :, :] + 0.0722 * rgb[..., 2, :, :]


def lin(hex_color: str) -> torch.Tensor:
    c = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return torch.tensor(srgb_to_linear(np.array(c)), dtype=torch.float32)


NODES = {
    "sky": '[nodes.bg]\ntype = "background.sky"\n',
    "mountains": '[nodes.bg]\ntype = "background.mountains"\n',
    "canyon": '[nodes.bg]\ntype = "background.mountains"\nlook = "canyon"\n',
    "starfield": '[nodes.bg]\ntype = "background.starfield"\n',
    "nebula": '[nodes.bg]\ntype = "background.nebula"\n',
    "noise": '[nodes.bg]\ntype = "background.noise"\n',
    "worley": '[nodes.bg]\ntype = "background.noise"\nbasis = "worley"\nscale = 8\n',
}


@pytest.mark.parametrize("name", sorted(NODES))
def test_size_count_determinism_and_random_access(tmp_path, name):
    g = graph(tmp_path, NODES[name])
    node = g.nodes["bg"]
    assert (node.video.width, node.video.height, node.video.frame_count) == (W, H, 6)
    assert not node.video.has_alpha
    batch = node.frames([0, 2, 5]).pixels
    assert batch.shape == (3, 4, H, W) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.isfinite(batch).all()
    assert (batch[:, 3] == 1).all() and batch[:, :3].min() >= 0 and batch[:, :3].max() <= 1
    # a frame rendered alone is the same frame of a batch
    alone = node.frames([5]).pixels
    assert torch.equal(alone[0], batch[2])
    # same seed: same pixels from a fresh graph; another seed: another picture
    again = graph(tmp_path, NODES[name]).nodes["bg"].frames([2]).pixels
    assert torch.equal(again[0], batch[1])
    other = graph(tmp_path, NODES[name], seed=4).nodes["bg"].frames([2]).pixels
    assert (other[0, :3] - batch[1, :3]).abs().mean() > 1e-3


@pytest.mark.parametrize("name", ["sky", "starfield", "nebula", "noise"])
def test_animated_over_time(tmp_path, name):
    px = pixels(tmp_path, NODES[name], frames=(0, 5))
    assert (px[0, :3] - px[1, :3]).abs().max() > 1e-3


def test_size_and_duration_options(tmp_path):
    g = graph(tmp_path, '[nodes.bg]\ntype = "background.sky"\nsize = [40, 30]\nduration = 3\n')
    node = g.nodes["bg"]
    assert (node.video.width, node.video.height, node.video.frame_count) == (40, 30, 3)
    assert node.frames([0, 2]).pixels.shape == (2, 4, 30, 40)


def test_sky_gradient_zenith_on_top_horizon_below(tmp_path):
    px = pixels(
        tmp_path,
        """
[nodes.bg]
type = "background.sky"
zenith = "#1a3d80"
horizon = "#e0c8a0"
clouds = 0
sun_size = 0
sun_glow = 0
haze = 0
""",
    )[0, :3]
    z, hz = lin("#1a3d80").view(3, 1), lin("#e0c8a0").view(3, 1)
    top = px[:, :3].reshape(3, -1)
    bottom = px[:, -3:].reshape(3, -1)
    assert ((top - z).norm(dim=0) < (top - hz).norm(dim=0)).all()
    assert ((bottom - hz).norm(dim=0) < (bottom - z).norm(dim=0)).all()
    # monotonic from top to bottom in luminance (the horizon colour is the brighter one)
    rows = lum(px).mean(1)
    assert (rows[1:] >= rows[:-1] - 1e-6).all()


def test_sky_sun_is_brightest_and_clouds_cover(tmp_path):
    base = """
[nodes.bg]
type = "background.sky"
sun_position = [0.25, 0.3]
"""
    clear = pixels(tmp_path, base + "clouds = 0\n")[0, :3]
    L = lum(clear)
    ys, xs = torch.nonzero(L >= 0.98 * L.max(), as_tuple=True)
    assert abs(float(xs.float().mean()) + 0.5 - 0.25 * W) < 1 and abs(float(ys.float().mean()) + 0.5 - 0.3 * H) < 1
    cloudy = pixels(tmp_path, base + "clouds = 0.8\nsun_size = 0\nsun_glow = 0\n")[0, :3]
    clear_nosun = pixels(tmp_path, base + "clouds = 0\nsun_size = 0\nsun_glow = 0\n")[0, :3]
    # clouds are whiter (less saturated) than the blue sky they cover
    sat = lambda p: p.max(0).values - p.min(0).values  # noqa: E731
    assert sat(cloudy)[: H // 2].mean() < 0.7 * sat(clear_nosun)[: H // 2].mean()


def test_sky_clouds_are_lit_on_the_sun_side(tmp_path):
    """With the sun on the left, cloud pixels right next to the sun are brighter than far ones."""
    nodes = """
[nodes.bg]
type = "background.sky"
clouds = 0.9
sun_position = [0.1, 0.2]
sun_size = 0
perspective = 0
haze = 0
"""
    px = pixels(tmp_path, nodes, size=(192, 108))[0, :3]
    L = lum(px)
    assert L[:, :48].mean() > L[:, -48:].mean()


def test_mountains_snow_and_atmospheric_perspective(tmp_path):
    g = graph(tmp_path, '[nodes.bg]\ntype = "background.mountains"\nclouds = 0\nlayers = 4\n', size=(256, 144))
    node = g.nodes["bg"]
    px = node.frames([0]).pixels[0, :3]
    layers = node.layer_map(0)
    assert set(layers.unique().tolist()) >= {-1, 0, 3}
    white = (px.min(0).values > 0.55) & ((px.max(0).values - px.min(0).values) < 0.15)
    mountain = layers >= 0
    assert (white & mountain).sum() > 20  # snow caps
    # the snow sits high up: above the middle of the mountain area
    ys = torch.nonzero(white & mountain)[:, 0].float()
    ms = torch.nonzero(mountain)[:, 0].float()
    assert ys.mean() < ms.mean()
    # far layers are closer to the haze colour, paler and flatter; near layers darker, more contrast
    haze = lin("#c3d0dd").view(3, 1)
    far, near = px[:, layers == 0], px[:, layers == 3]
    assert (far - haze).norm(dim=0).mean() < (near - haze).norm(dim=0).mean()
    ln, lf = lum(near[:, None]), lum(far[:, None])
    assert ln.mean() < lf.mean()
    assert ln.std() / ln.mean() > lf.std() / lf.mean()  # contrast: relative spread of luminance

    canyon = graph(
        tmp_path, '[nodes.bg]\ntype = "background.mountains"\nlook = "canyon"\nclouds = 0\n', size=(256, 144)
    ).nodes["bg"]
    cpx = canyon.frames([0]).pixels[0, :3]
    cl = canyon.layer_map(0)
    cwhite = (cpx.min(0).values > 0.55) & ((cpx.max(0).values - cpx.min(0).values) < 0.15)
    assert (cwhite & (cl >= 0)).sum() == 0  # no snow in the canyon
    rock = cpx[:, cl >= 0]
    assert (rock[0] > rock[2]).float().mean() > 0.95  # red/orange rock


def test_mountains_colour_overrides_and_parallax(tmp_path):
    g = graph(
        tmp_path,
        """
[nodes.bg]
type = "background.mountains"
rock_color = "#203020"
snowline = 1.0
clouds = 0
offset = { keyframes = [[0, 0.0], [5, 1.0]] }
""",
    )
    node = g.nodes["bg"]
    px = node.frames([0, 5]).pixels
    near = node.layer_map(0) == node.options.layers - 1
    rock = px[0, :3][:, near]
    assert (rock[1] > rock[0]).float().mean() > 0.9  # green rock, as asked
    assert (px[0] - px[1]).abs().mean() > 1e-3  # the ranges slid sideways
    assert torch.equal(node.frames([5]).pixels[0], px[1])


def test_starfield_mostly_dark_with_sparse_bright_stars(tmp_path):
    px = pixels(tmp_path, '[nodes.bg]\ntype = "background.starfield"\n', size=(320, 180))[0, :3]
    L = lum(px)
    assert float(L.median()) < 0.02
    bright = (L > 0.1).float().mean()
    assert 0.0005 < float(bright) < 0.05
    # colour temperature varies: some stars are warm, some are cool
    stars = px[:, L > 0.1]
    assert (stars[0] > stars[2] * 1.15).any() and (stars[2] > stars[0] * 1.05).any()


def test_starfield_twinkles_in_place_and_drifts(tmp_path):
    nodes = '[nodes.bg]\ntype = "background.starfield"\ntwinkle = 1.0\nglow = 0\n'
    a, b = pixels(tmp_path, nodes, frames=(0, 12), size=(320, 180))[:, :3]
    La, Lb = lum(a), lum(b)
    assert (La - Lb).abs().max() > 0.02  # brightness changes...
    sa, sb = La > 0.05, Lb > 0.05
    assert (sa & sb).sum() > 0.5 * min(sa.sum(), sb.sum())  # ...but stars stay put
    drift = nodes + "drift = [0.2, 0.0]\n"
    c, d = pixels(tmp_path, drift, frames=(0, 12), size=(320, 180))[:, :3]
    sc, sd = lum(c) > 0.05, lum(d) > 0.05
    assert (sc & sd).sum() < 0.3 * min(sc.sum(), sd.sum())
    steady = pixels(tmp_path, '[nodes.bg]\ntype = "background.starfield"\ntwinkle = 0\n', frames=(0, 12))
    assert torch.equal(steady[0], steady[1])


def test_nebula_has_coloured_gas_and_stars(tmp_path):
    px = pixels(tmp_path, '[nodes.bg]\ntype = "background.nebula"\nintensity = 2.0\n', size=(256, 144))[0, :3]
    sat = px.max(0).values - px.min(0).values
    assert (sat > 0.05).float().mean() > 0.05  # coloured gas somewhere
    assert (lum(px) > 0.1).sum() > 10  # stars
    dark = pixels(tmp_path, '[nodes.bg]\ntype = "background.nebula"\nintensity = 0\ndensity = 0\ndust = 0\n')[0, :3]
    bg = lin("#020208").view(3, 1, 1)
    assert torch.allclose(dark, bg.expand_as(dark), atol=1e-6)


def _srgb(px):
    return torch.where(px <= 0.0031308, px * 12.92, 1.055 * px.clamp(min=1e-12) ** (1 / 2.4) - 0.055)


@pytest.mark.parametrize(
    "basis,lo,hi",
    [
        ("perlin", 0.4, 0.6),
        ("simplex", 0.4, 0.6),
        ("fbm", 0.45, 0.55),
        ("worley", 0.3, 0.6),
        ("turbulence", 0.1, 0.4),
        ("ridged", 0.3, 0.8),
    ],
)
def test_noise_statistics(tmp_path, basis, lo, hi):
    px = pixels(tmp_path, f'[nodes.bg]\ntype = "background.noise"\nbasis = "{basis}"\nscale = 12\n', size=(256, 144))[
        0, :3
    ]
    v = _srgb(px[0])
    assert torch.allclose(px[0], px[1]) and torch.allclose(px[1], px[2])  # grey
    assert lo < float(v.mean()) < hi
    assert float(v.std()) > 0.03
    assert v.min() >= 0 and v.max() <= 1


def test_noise_colours_contrast_and_speed(tmp_path):
    px = pixels(
        tmp_path,
        """
[nodes.bg]
type = "background.noise"
basis = "perlin"
color_a = "#ff0000"
color_b = "#0000ff"
contrast = 3.0
""",
    )[0, :3]
    assert px[1].abs().max() < 1e-6
    assert (px[0] > 0.99).any() and (px[2] > 0.99).any()  # contrast pushes both ends to the colours
    flat = pixels(tmp_path, '[nodes.bg]\ntype = "background.noise"\ncontrast = 0\n')[0, :3]
    assert torch.allclose(flat, torch.full_like(flat, float(srgb_to_linear(0.5))), atol=1e-5)
    still = pixels(tmp_path, '[nodes.bg]\ntype = "background.noise"\nspeed = 0\n', frames=(0, 5))
    assert torch.equal(still[0], still[1])


def test_resolution_independent(tmp_path):
    """The same scene at twice the size, scaled down, is the same picture (sizes are in frame heights)."""
    nodes = '[nodes.bg]\ntype = "background.noise"\nbasis = "perlin"\nscale = 3\n'
    small = pixels(tmp_path, nodes, size=(64, 36))[0, :3]
    big = pixels(tmp_path, nodes, size=(128, 72))[0, :3]
    down = torch.nn.functional.avg_pool2d(big[None], 2)[0]
    assert (small - down).abs().mean() < 0.01


def test_animated_options_batch_equals_alone(tmp_path):
    nodes = """
[nodes.bg]
type = "background.sky"
zenith = { keyframes = [[0, "#000040"], [5, "#4080ff"]] }
sun_position = { keyframes = [[0, [0.2, 0.8]], [5, [0.6, 0.2]]] }
"""
    g = graph(tmp_path, nodes)
    node = g.nodes["bg"]
    batch = node.frames([0, 3, 5]).pixels
    assert torch.equal(node.frames([3]).pixels[0], batch[1])
    assert lum(batch[2, :3])[:4].mean() > lum(batch[0, :3])[:4].mean()


@pytest.mark.parametrize(
    "body,option",
    [
        ('type = "background.mountains"\nlook = "snowie"\n', "look"),
        ('type = "background.mountains"\nlayers = 0\n', "layers"),
        ('type = "background.mountains"\nlayers = { keyframes = [[0, 2], [5, 3]] }\n', "layers"),
        ('type = "background.noise"\nbasis = "perlinn"\n', "basis"),
        ('type = "background.sky"\nclouds = 2\n', "clouds"),
        ('type = "background.starfield"\ndrift = [1]\n', "drift"),
        ('type = "background.nebula"\ncolor_a = "nope"\n', "color_a"),
        ('type = "background.sky"\nsize = [0, 10]\n', "size"),
        ('type = "background.mountains"\nhorizon = 0.1\nheight = 0.9\n', "height"),
    ],
)
def test_validation_errors_name_node_and_option(tmp_path, body, option):
    with pytest.raises(PipelineError) as info:
        graph(tmp_path, "[nodes.backdrop]\n" + body)
    probs = [p for p in info.value.problems if p.node == "backdrop"]
    assert probs and probs[0].option == option, info.value.problems
    assert "backdrop" in str(probs[0]) and option in str(probs[0])


def test_starfield_milky_way_band(tmp_path):
    base = '[nodes.bg]\ntype = "background.starfield"\ntwinkle = 0\nglow = 0\nmilky_way_angle = 0\n'
    none = pixels(tmp_path, base + "milky_way = 0\n", size=(320, 180))[0, :3]
    band = pixels(tmp_path, base + "milky_way = 1.5\n", size=(320, 180))[0, :3]
    extra = lum(band) - lum(none)
    assert float(extra.min()) >= -0.05
    # a horizontal band through the middle: the middle rows gain light and stars, the top rows little
    assert extra[70:110].mean() > 4 * extra[:20].mean()
    stars_mid = ((lum(band) > 0.05)[70:110]).float().mean()
    stars_mid_none = ((lum(none) > 0.05)[70:110]).float().mean()
    assert stars_mid > 1.3 * stars_mid_none


@pytest.mark.kernel
@pytest.mark.parametrize(
    "options",
    [
        "clouds = 0.8",
        "clouds = 0.0\nhaze = 0.0\nsun_size = 0.0",
        "sun_position = [0.5, 0.9]\nperspective = 0.3\nhorizon_line = 0.6\nsun_size = 0.2",
    ],
)
def test_the_sky_kernel_draws_what_the_torch_path_draws(tmp_path, options):
    from vfx.ops import backend

    nodes = f'[nodes.bg]\ntype = "background.sky"\n{options}\n'
    kernel = pixels(tmp_path, nodes, frames=(0, 30), size=(160, 90))
    with backend.only("opencv"):
        torch_path = pixels(tmp_path, nodes, frames=(0, 30), size=(160, 90))
    assert kernel.shape == torch_path.shape == (2, 4, 90, 160)
    assert (kernel - torch_path).abs().max() < 1e-4  # float32 exp/pow approximations, not an 8-bit step
    assert torch.equal(kernel[:, 3], torch.ones_like(kernel[:, 3]))


@pytest.mark.kernel
def test_the_mountain_layer_kernel_composites_as_the_torch_path_does():
    """``_mountains_kernel.layer_over`` against the torch path's formulas (``Mountains.draw``)."""
    from vfx_plugins.backgrounds import _mountains_kernel as K

    g = torch.Generator().manual_seed(4)
    h, w, top = 60, 80, 17
    img = torch.rand(3, h, w, generator=g)
    face = torch.rand(3, h - top, w, generator=g)
    crest = 0.2 + 0.3 * torch.rand(w, generator=g)
    mist_field = 1.5 * torch.rand(h, w, generator=g)
    base, fog, mist, foot_h = 0.8, 0.3, 0.4, 0.07
    haze = torch.tensor([0.6, 0.7, 0.8])
    want = img.clone()
    Y = ((torch.arange(h, dtype=torch.float32) + 0.5) / h).view(h, 1)
    cov = ((Y - crest.view(1, w)) * h + 0.5).clamp(0.0, 1.0)
    above = base - Y[top:]
    foot = torch.where(above > 0, (-above / foot_h).exp(), (above / 0.04).exp())
    m = (mist * foot * mist_field[top:]).clamp(0.0, 1.0)
    fog_total = 1.0 - (1.0 - fog) * (1.0 - m)
    col = face + (haze.view(3, 1, 1) - face) * fog_total[None]
    want[:, top:] = want[:, top:] + (col - want[:, top:]) * cov[top:][None]
    got = img.clone()
    params = K.PARAMS.pack(1, base=base, fog=fog, mist=mist, foot=foot_h, haze_color=haze.numpy())[0]
    K.layer_over(got.numpy(), face.numpy(), crest.numpy(), mist_field.numpy(), top, params)
    assert torch.equal(got[:, :top], img[:, :top])
    assert (got - want).abs().max() < 1e-5
