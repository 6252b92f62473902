"""effect.lightning: bolt shape and connectivity, strike timing (list, rate, trigger), flash, determinism."""

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
from vfx_plugins.effects.lightning import Lightning, TimeList

from conftest import TensorClip, write_pipeline

try:
    from scipy.ndimage import label as _label

    def components(mask):
        return _label(mask, structure=np.ones((3, 3), bool))[0]
except ImportError:  # pragma: no cover - scikit-image is a test dependency
    from skimage.measure import label as _sk_label

    def components(mask):
        return _sk_label(mask, connectivity=2)


W, H, FPS = 240, 160, 24


def dark_plate(level=0.02):
    p = torch.full((1, 4, H, W), level)
    p[:, 3] = 1
    return p


def make(plate=None, seed=1, **options):
    plate = dark_plate() if plate is None else plate
    parsed = Lightning.Options.from_mapping(
        {"input": "plate", **options}, ParseContext(fps=Fraction(FPS), width=W, height=H)
    )
    node = Lightning("bolt", parsed, NodeContext("bolt", PipelineSettings(width=W, height=H, seed=seed)))
    node.connect({"input": TensorClip(plate, count=60, fps=FPS, has_alpha=False)})
    node.configure()
    return node


def frames(node, idx):
    return node.frames(list(idx)).pixels


def changed(out, plate):
    """Per frame: does it differ from the plate at all?"""
    return [(not torch.equal(f, plate[0])) for f in out]


def test_same_seed_same_pixels_other_seed_differs():
    a = frames(make(seed=2, strikes=[0]), [0, 3])
    b = frames(make(seed=2, strikes=[0]), [0, 3])
    c = frames(make(seed=9, strikes=[0]), [0, 3])
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.3


@pytest.mark.parametrize(
    "options",
    [
        {"strikes": [4, 9, 15], "duration": 6},
        {"rate": 3.0, "duration": 5, "region": [0.1, 0.0, 0.9, 1.0]},
        {
            "strikes": [2, 8],
            "duration": 8,
            "width": {"keyframes": [[0, 0.002], [19, 0.02]]},
            "glow": {"expr": "1 + sin(t * 9)"},
            "start": {"keyframes": [[0, [0.2, 0.0]], [19, [0.8, 0.1]]]},
        },
    ],
)
def test_frames_alone_equal_the_same_frames_of_a_batch(options):
    whole = frames(make(**options), range(0, 20))
    alone = frames(make(**options), [10, 11])
    single = frames(make(**options), [5])
    assert (whole[10:12] - alone).abs().max() <= 1e-6
    assert (whole[5:6] - single).abs().max() <= 1e-6


def test_output_is_channels_last_and_the_input_untouched():
    plate = dark_plate()
    before = plate.clone()
    out = frames(make(plate=plate, strikes=[0]), [0, 1])
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plate, before)


@pytest.mark.parametrize("width, threshold", [(0.004, 0.05), (0.012, 0.4)])
def test_a_bolt_connects_start_and_end(width, threshold):
    start, end = (0.3, 0.05), (0.7, 0.95)
    plate = dark_plate()
    node = make(plate=plate, strikes=[0], start=list(start), end=list(end), width=width, flash=0.0, glow=0.0)
    out = frames(node, [0])
    lum = (out[0, :3] - plate[0, :3]).mean(0).numpy()
    mask = lum > threshold
    labels = components(mask)

    def near(point, radius=4):
        x, y = int(point[0] * W), int(point[1] * H)
        win = labels[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1]
        return set(win[win > 0].tolist())

    a, b = near(start), near(end)
    assert a and b, "bright pixels near both end points"
    assert a & b, "one connected path joins them"
    assert mask.mean() < 0.1  # a thin path, not a blob
    if width > 0.01:  # a white-hot core: bright and near white
        y, x = np.unravel_index(np.argmax(lum), lum.shape)
        r, g, b = (out[0, :3, y, x] - plate[0, :3, y, x]).tolist()
        assert min(r, g, b) > 1.0 and max(r, g, b) < 1.4 * min(r, g, b)


def test_strikes_only_at_the_given_times():
    plate = dark_plate()
    out = frames(make(plate=plate, strikes=[5, "1.25s"], duration=6), range(0, 40))
    hit = changed(out, plate)
    expected = [5 <= i < 11 or 30 <= i < 36 for i in range(40)]
    assert hit == expected


def test_nothing_before_the_first_strike_and_a_default_strike_at_zero():
    plate = dark_plate()
    out = frames(make(plate=plate, strikes=["0.5s"]), range(0, 14))
    assert changed(out, plate)[:12] == [False] * 12 and changed(out, plate)[12]
    assert changed(frames(make(plate=plate), [0]), plate) == [True]


def test_a_keyframed_trigger_strikes_where_it_crosses_one_half():
    plate = dark_plate()
    trigger = {"keyframes": [[0, 0.0], [12, 1.0], [14, 0.0], [30, 0.7], [33, 0.2]], "easing": "hold"}
    node = make(plate=plate, trigger=trigger, duration=4)
    hit = changed(frames(node, range(0, 40)), plate)
    assert [i for i, h in enumerate(hit) if h] == [12, 13, 14, 15, 30, 31, 32, 33]
    # a frame alone sees the same crossing
    assert changed(frames(make(plate=plate, trigger=trigger, duration=4), [31]), plate) == [True]


def test_a_trigger_from_a_driver_node(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 48
        duration = 24
        [nodes.flashes]
        type = "source.color"
        color = { keyframes = [[0, "black"], [6, "white"], [8, "black"]], easing = "hold" }
        [nodes.meter]
        type = "signal.luma"
        input = "flashes"
        [nodes.plate]
        type = "source.color"
        color = "#101020"
        [nodes.bolt]
        type = "effect.lightning"
        input = "plate"
        duration = 3
        trigger = { driver = "meter" }
        [nodes.out]
        type = "encode.video"
        input = "bolt"
        path = "o.mp4"
    """,
    )
    graph = build(load(p))
    node, plate = graph.nodes["bolt"], graph.nodes["plate"]
    out = node.frames(list(range(12))).pixels
    base = plate.frames(list(range(12))).pixels
    hit = [not torch.equal(out[i], base[i]) for i in range(12)]
    assert [i for i, h in enumerate(hit) if h] == [6, 7, 8]


def test_rate_strikes_are_seeded_and_about_the_rate():
    plate = dark_plate()
    node = make(plate=plate, rate=2.0, duration=1, flash=0.0)
    starts = node._strike_starts(list(range(0, 24 * 20)))
    frames_with = sorted({s for v in starts.values() for s in v})
    assert 25 <= len(frames_with) <= 60  # about 2 per second over 20 s
    again = make(plate=plate, rate=2.0, duration=1, flash=0.0)._strike_starts(list(range(100, 140)))
    assert sorted({s for v in again.values() for s in v}) == [f for f in frames_with if 100 <= f < 140]


def test_flash_lights_the_plate_only_during_strikes():
    plate = dark_plate(0.05)
    node = make(plate=plate, strikes=[3], duration=5, flash=0.3, core=0.0, glow=0.0)
    out = frames(node, range(0, 12))
    corner = out[:, :3, :10, :10].mean(dim=(1, 2, 3)).numpy()
    during = corner[3:8]
    assert (during > 0.05 + 1e-3).all() and during[0] > 0.05 + 0.1
    assert np.allclose(corner[:3], 0.05) and np.allclose(corner[8:], 0.05)
    assert during[0] == during.max()  # the first stroke is the brightest


def test_region_moves_the_bolt_per_strike():
    plate = dark_plate()
    node = make(plate=plate, strikes=[0, 10], duration=3, region=[0.0, 0.0, 1.0, 1.0], flash=0.0, glow=0.0)
    out = frames(node, [0, 10])
    cols = [(f[:3] - plate[0, :3]).mean(0)[int(0.1 * H) : int(0.2 * H)].amax(0).numpy() > 0.3 for f in out]
    assert not np.array_equal(cols[0], cols[1])


def test_branches_add_bright_pixels():
    plate = dark_plate()
    bare = frames(make(plate=plate, strikes=[0], branches=0.0, flash=0.0, glow=0.0), [0])
    branched = frames(make(plate=plate, strikes=[0], branches=0.9, branch_length=1.0, flash=0.0, glow=0.0), [0])
    count = lambda o: int(((o[0, :3] - plate[0, :3]).mean(0) > 0.2).sum())
    assert count(branched) > 1.3 * count(bare)


def test_time_list_option():
    ctx = ParseContext(fps=Fraction(24))
    opt = TimeList()
    assert opt.parse([30, "0.5s", "00:00:01:00", 30], ctx) == [12, 24, 30]
    with pytest.raises(ValueError, match="entry 2"):
        opt.parse([1, "soon"], ctx)
    with pytest.raises(ValueError, match="list of times"):
        opt.parse("1s", ctx)


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
        [nodes.bolt]
        type = "effect.lightning"
        input = "plate"
        region = [0.8, 0.0, 0.2, 1.0]
        [nodes.late]
        type = "effect.lightning"
        input = "plate"
        strikes = [2, "10s"]
        [nodes.bad]
        type = "effect.lightning"
        input = "plate"
        strikes = [2, "later"]
        [nodes.out]
        type = "encode.video"
        input = "bolt"
        path = "o.mp4"
    """,
    )
    with pytest.raises(PipelineError) as info:
        build(load(p))
    found = {(pr.node, pr.option) for pr in info.value.problems}
    assert {("bolt", "region"), ("late", "strikes"), ("bad", "strikes")} <= found
    text = "\n".join(map(str, info.value.problems))
    assert "node 'bolt'" in text and "option 'region'" in text


def test_the_torch_path_a_gpu_takes_matches_the_opencv_path(monkeypatch):
    plate = dark_plate()
    ref = frames(make(plate=plate, strikes=[0], region=[0.2, 0.0, 0.8, 1.0]), [0, 2])
    with backend.only("torch", "numba"):
        out = frames(make(plate=plate, strikes=[0], region=[0.2, 0.0, 0.8, 1.0]), [0, 2])
    assert out.is_contiguous(memory_format=torch.channels_last)
    diff = (out - ref).abs()
    assert float(diff.mean()) < 2e-3 and float(diff.max()) < 0.05


def test_transparent_plate_gets_alpha_along_the_bolt():
    plate = torch.zeros((1, 4, H, W))
    node = make(plate=plate, strikes=[0], flash=0.2, width=0.012)
    node.video = node.video.with_(has_alpha=True)
    out = frames(node, [0])
    alpha = out[0, 3]
    assert float(alpha.max()) > 0.9  # the core is opaque light
    assert float(alpha.max()) <= 1.0
    assert float(alpha[:, :2].max()) < 0.5  # away from the bolt it stays clear
    assert float(out[0, :3, :, :2].max()) < 1e-6  # the flash lights nothing where there is no plate
