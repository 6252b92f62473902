"""effect.explosion: closed-form particles, determinism, random access, colour over time, shockwave."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from vfx.errors import PipelineError
from vfx.graph import build
from vfx.node import NodeContext, PipelineSettings
from vfx.ops import backend
from vfx.options import ParseContext
from vfx.pipeline import load
from vfx_plugins.effects.explosion import Explosion, blackbody_rgb, drag_terms

from conftest import TensorClip, write_pipeline

W, H, FPS = 192, 108, 24
# small and quick: fewer particles, nothing that is not asked for
QUIET = {"flash": 0.0, "shake": 0.0, "shockwave": 0.0}


def grey_plate(level=0.2):
    p = torch.full((1, 4, H, W), level)
    p[:, 3] = 1
    return p


def gradient_plate():
    y = torch.linspace(0, 1, H).view(H, 1).expand(H, W)
    x = torch.linspace(0, 1, W).view(1, W).expand(H, W)
    checker = (((x * 12).floor() + (y * 7).floor()) % 2) * 0.4
    return torch.stack([0.1 + 0.5 * x, 0.1 + checker, 0.1 + 0.5 * y, torch.ones_like(x)])[None]


def make(plate=None, seed=1, **options):
    plate = grey_plate() if plate is None else plate
    parsed = Explosion.Options.from_mapping(
        {"input": "plate", "count": 3000, **options}, ParseContext(fps=Fraction(FPS), width=W, height=H)
    )
    node = Explosion("boom", parsed, NodeContext("boom", PipelineSettings(width=W, height=H, seed=seed)))
    node.connect({"input": TensorClip(plate, count=60, fps=FPS, has_alpha=False)})
    node.configure()
    return node


def frames(node, idx):
    return node.frames(list(idx)).pixels


def window_mean(px, cx=0.5, cy=0.6, r=0.12):
    """Mean RGB (N, 3) in a box of half size r (frame heights) around (cx, cy)."""
    x0, x1 = int((cx * W / H - r) * H), int((cx * W / H + r) * H)
    y0, y1 = int((cy - r) * H), int((cy + r) * H)
    return px[:, :3, y0:y1, x0:x1].mean(dim=(2, 3))


def test_same_seed_same_pixels_other_seed_differs():
    a = frames(make(seed=3), [8, 20])
    b = frames(make(seed=3), [8, 20])
    c = frames(make(seed=4), [8, 20])
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.05


@pytest.mark.parametrize(
    "options",
    [
        {},
        QUIET,
        {"spread": 60.0, "direction": 45.0, "turbulence": 0.2},
        {
            "at": 3,
            "flash": {"keyframes": [[0, 0.0], [19, 2.0]]},
            "shockwave": {"expr": "0.5 + 0.5 * sin(t * 7)"},
            "bloom": {"keyframes": [[0, 0.0], [19, 1.0]]},
            "smoke_color": {"keyframes": [[0, "black"], [19, "gray"]]},
            "position": {"keyframes": [[0, [0.3, 0.5]], [19, [0.7, 0.6]]]},
        },
    ],
)
def test_frames_alone_equal_the_same_frames_of_a_batch(options):
    whole = frames(make(plate=gradient_plate(), **options), range(0, 20))
    alone = frames(make(plate=gradient_plate(), **options), [10, 11])
    single = frames(make(plate=gradient_plate(), **options), [3])
    assert (whole[10:12] - alone).abs().max() <= 1e-6
    assert (whole[3:4] - single).abs().max() <= 1e-6


def test_output_is_channels_last_and_the_input_untouched():
    plate = gradient_plate()
    before = plate.clone()
    out = frames(make(plate=plate), [2, 5])
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert out.shape == (2, 4, H, W)
    assert torch.equal(plate, before)


def test_nothing_is_drawn_before_at():
    plate = gradient_plate()
    node = make(plate=plate, at=10)
    out = frames(node, range(0, 14))
    for i in range(10):
        assert torch.equal(out[i], plate[0]), i
    assert (out[10] - plate[0]).abs().max() > 0.1  # the flash, at once
    assert (out[12] - plate[0]).abs().max() > 0.1


def test_fire_is_bright_and_warm_early_then_smoke_is_darker():
    node = make(**QUIET, bloom=0.0)
    fps = FPS
    early = window_mean(frames(node, [int(0.15 * fps)]))[0]
    late = window_mean(frames(node, [int(2.2 * fps)]), cy=0.45)[0]
    plate = 0.2
    lum = lambda c: float(0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2])
    assert lum(early) > 2 * plate  # fire is light
    assert early[0] > 1.3 * early[2]  # warm: more red than blue
    assert lum(late) < 0.85 * plate  # smoke darkens the plate
    assert late[0] < 1.3 * late[2]  # and is not fire-coloured


def test_colour_cools_over_the_fireball_life():
    node = make(**QUIET, bloom=0.0, smoke=0.0)
    m = window_mean(frames(node, [2, 6, 12]), r=0.08)
    ratio = (m[:, 0] / m[:, 2].clamp(min=1e-6)).tolist()  # red / blue grows as it cools
    assert ratio[0] < ratio[1] < ratio[2]


def test_no_smoke_and_no_light_leaves_the_plate():
    plate = gradient_plate()
    out = frames(make(plate=plate, **QUIET, brightness=0.0, smoke_density=0.0, bloom=0.0), [3, 9])
    assert (out - plate).abs().max() < 1e-5


def ring_radius(diff):
    """Radius (frame heights) of the brightest ring of a (H, W) map around the default centre."""
    ys, xs = np.mgrid[0:H, 0:W]
    r = np.hypot(xs + 0.5 - 0.5 * W, ys + 0.5 - 0.6 * H) / H
    bins = np.linspace(0, 1, 101)
    which = np.digitize(r.ravel(), bins)
    prof = np.bincount(which, weights=diff.ravel(), minlength=102) / np.maximum(np.bincount(which, minlength=102), 1)
    return bins[int(np.argmax(prof[1:101]))]


def test_shockwave_ring_grows_at_its_speed():
    plate = grey_plate()
    node = make(
        plate=plate,
        flash=0.0,
        shake=0.0,
        brightness=0.0,
        smoke_density=0.0,
        bloom=0.0,
        shockwave=0.5,
        shock_speed=1.0,
        shock_width=0.03,
        shock_glow=0.5,
    )
    out = frames(node, [4, 8, 12])
    radii = [ring_radius((out[i, :3] - plate[0, :3]).mean(0).numpy()) for i in range(3)]
    assert radii[0] < radii[1] < radii[2]
    for r, f in zip(radii, (4, 8, 12)):
        assert abs(r - f / FPS) < 0.05  # radius = speed * t


def test_shockwave_refracts_the_plate_only_near_the_ring():
    plate = gradient_plate()
    node = make(
        plate=plate,
        flash=0.0,
        shake=0.0,
        brightness=0.0,
        smoke_density=0.0,
        bloom=0.0,
        shockwave=1.0,
        shock_speed=1.0,
        shock_width=0.04,
        shock_glow=0.0,
    )
    out = frames(node, [8])
    diff = (out[0, :3] - plate[0, :3]).abs().mean(0).numpy()
    ys, xs = np.mgrid[0:H, 0:W]
    r = np.hypot(xs + 0.5 - 0.5 * W, ys + 0.5 - 0.6 * H) / H
    radius = 8 / FPS
    near = diff[np.abs(r - radius) < 0.03].mean()
    far = diff[np.abs(r - radius) > 0.2].mean()
    assert near > 0.01 and far < 1e-4


def test_camera_shake_moves_the_plate_deterministically():
    plate = gradient_plate()
    a = frames(
        make(plate=plate, flash=0.0, shockwave=0.0, brightness=0.0, smoke_density=0.0, bloom=0.0, shake=0.03), [3, 6]
    )
    b = frames(
        make(plate=plate, flash=0.0, shockwave=0.0, brightness=0.0, smoke_density=0.0, bloom=0.0, shake=0.03), [6]
    )
    assert (a[1] - plate[0]).abs().max() > 0.05
    assert (a[1:2] - b).abs().max() <= 1e-6


def test_flash_brightens_the_plate_around_the_start_and_decays():
    plate = grey_plate()
    node = make(plate=plate, shockwave=0.0, shake=0.0, brightness=0.0, smoke_density=0.0, bloom=0.0, flash=1.0)
    out = frames(node, [0, 1, 8])
    centre = window_mean(out, r=0.05)[:, 1]
    assert centre[0] > 0.3 and centre[0] > centre[1] > centre[2] - 1e-6
    assert abs(float(centre[2]) - 0.2) < 0.01


def test_drag_terms_match_integration_and_free_fall():
    k = torch.tensor([0.0, 1e-7, 0.5, 4.0], dtype=torch.float64)
    s = torch.full_like(k, 0.8)
    e1, e2 = drag_terms(k, s)
    v0, a = 1.3, -0.7
    for i, kk in enumerate(k.tolist()):
        x, v, dt = 0.0, v0, 1e-5
        for _ in range(int(0.8 / dt)):
            v += (a - kk * v) * dt
            x += v * dt
        assert abs(float(v0 * e1[i] + a * e2[i]) - x) < 1e-3
    assert abs(float(e1[0]) - 0.8) < 1e-12 and abs(float(e2[0]) - 0.32) < 1e-12


def test_blackbody_colours():
    rgb = blackbody_rgb(torch.tensor([1500.0, 3000.0, 6500.0, 12000.0]))
    lum = 0.2126 * rgb[:, 0] + 0.7152 * rgb[:, 1] + 0.0722 * rgb[:, 2]
    assert torch.allclose(lum, torch.ones(4), atol=1e-4)
    assert rgb[0, 0] > rgb[0, 1] > rgb[0, 2]  # red-orange
    assert rgb[1, 0] > rgb[1, 1] > rgb[1, 2]  # orange-yellow
    assert (rgb[2] - 1).abs().max() < 0.1  # about white at 6500 K
    assert rgb[3, 2] > rgb[3, 0]  # bluish when very hot


def test_transparent_plate_gets_alpha_where_the_explosion_is():
    plate = torch.zeros((1, 4, H, W))
    node = make(plate=plate, **QUIET)
    node.video = node.video.with_(has_alpha=True)
    out = frames(node, [4, 40])
    assert float(window_mean(out, r=0.05)[0].max()) > 0.1
    centre = out[:, 3, int(0.6 * H) - 3 : int(0.6 * H) + 3, W // 2 - 3 : W // 2 + 3].mean(dim=(1, 2))
    assert (centre > 0.2).all()
    assert float(out[:, 3, :4, :4].max()) < 0.05


def test_validation_errors_name_node_and_option(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 48
        duration = 12
        [nodes.plate]
        type = "source.color"
        [nodes.boom]
        type = "effect.explosion"
        input = "plate"
        smoke = 0.7
        sparks = 0.5
        at = 40
        [nodes.big]
        type = "effect.explosion"
        input = "plate"
        count = 0
        [nodes.out]
        type = "encode.video"
        input = "boom"
        path = "o.mp4"
    """,
    )
    with pytest.raises(PipelineError) as info:
        build(load(p))
    found = {(pr.node, pr.option) for pr in info.value.problems}
    assert ("big", "count") in found
    assert ("boom", "sparks") in found or ("boom", "at") in found
    text = "\n".join(map(str, info.value.problems))
    assert "node 'big'" in text and "option 'count'" in text


def test_renders_in_a_pipeline(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 96
        height = 54
        duration = 10
        seed = 5
        [nodes.plate]
        type = "source.testpattern"
        pattern = "grid"
        [nodes.boom]
        type = "effect.explosion"
        input = "plate"
        count = 2000
        at = 2
        position = { keyframes = [[0, [0.4, 0.6]], [9, [0.6, 0.5]]] }
        [nodes.out]
        type = "encode.image_sequence"
        input = "boom"
        path = "f_%03d.png"
        bits = "16"
    """,
    )
    from vfx.engine import RenderOptions, render

    render(build(load(p)), RenderOptions(device="cpu"))
    assert len(list(tmp_path.glob("f_*.png"))) == 10


def test_the_torch_path_a_gpu_takes_matches_the_opencv_path(monkeypatch):
    plate = gradient_plate()
    ref = frames(make(plate=plate), [0, 4, 12])
    with backend.only("torch", "numba"):
        out = frames(make(plate=plate), [0, 4, 12])
    assert out.is_contiguous(memory_format=torch.channels_last)
    diff = (out - ref).abs()
    assert float(diff.mean()) < 2e-3 and float(diff.max()) < 0.05
