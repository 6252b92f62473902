"""The CUDA path: the same pipeline on the GPU matches the CPU render. Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

from vfx.engine import RenderOptions, render  # noqa: E402
from vfx.graph import build  # noqa: E402
from vfx.pipeline import load  # noqa: E402

from conftest import decode_frames, make_png, write_pipeline  # noqa: E402

PIPE = """
    [pipeline]
    width = 320
    height = 180
    duration = 24
    seed = 3
    [nodes.noise]
    type = "source.testpattern"
    pattern = "zoneplate"
    [nodes.clip]
    type = "source.video"
    path = "{clip}"
    [nodes.logo]
    type = "source.image"
    path = "logo.png"
    [nodes.comp]
    type = "editor.composite"
    layers = ["noise", {{ input = "clip", size = [160, 90], position = [20, 20], opacity = 0.7 }},
              {{ input = "logo", position = [200, 100], blend = "screen" }}]
    [nodes.out]
    type = "encode.video"
    input = "comp"
    codec = "ffv1"
    path = "{name}.mkv"
"""


def test_cuda_matches_cpu(tmp_path, clip):
    logo = np.zeros((40, 60, 4), np.uint8)
    logo[..., 0] = 255
    logo[..., 3] = np.linspace(0, 255, 60, dtype=np.uint8)
    make_png(tmp_path / "logo.png", logo)
    for device in ("cpu", "cuda"):
        p = write_pipeline(tmp_path, PIPE.format(clip=clip, name=device), f"{device}.toml")
        graph = build(load(p), device=device)
        render(graph, RenderOptions(device=device, batch_size=8))
    a = np.stack(decode_frames(tmp_path / "cpu.mkv")).astype(int)
    b = np.stack(decode_frames(tmp_path / "cuda.mkv")).astype(int)
    assert a.shape == b.shape == (24, 180, 320, 3)
    assert np.abs(a - b).max() <= 3 and np.abs(a - b).mean() < 0.5


def test_frames_stay_on_the_device(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 64
        duration = 4
        [nodes.bars]
        type = "source.testpattern"
        [nodes.out]
        type = "encode.video"
        input = "bars"
        codec = "ffv1"
        path = "o.mkv"
    """,
    )
    graph = build(load(p), device="cuda")
    batch = graph.nodes["bars"].frames([0, 1, 2, 3])
    assert batch.pixels.device.type == "cuda" and batch.pixels.shape == (4, 4, 64, 64)
