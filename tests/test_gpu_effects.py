"""Every built-in effect and background renders on CUDA what it renders on the CPU.

The random draws come from per-frame CPU generators and the noise from integer hashes, so the
two devices agree up to float rounding (and the order of the particle splats' atomic adds).
Skipped without CUDA."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

from vfx.graph import build  # noqa: E402
from vfx.pipeline import load  # noqa: E402
from vfx.plugins import get_registry  # noqa: E402

# options that make each node show its work on the compared frames
SETTINGS = {
    "effect.explosion": "at = 0\ncount = 4000\nshake = 0.02",
    "effect.blur": "sigma = 6.0",
    "effect.lightning": "strikes = [0]\nduration = 48",
    "effect.fade": "in = 8\nout = 0",
    "effect.chroma_key": 'key_color = "#00ff00"\nfeather = 2.0\nshrink = 1.0',
    "effect.transform": "rotate = 10.0\nscale = 1.1\nmotion_blur = 3",
    "effect.grade": 'exposure = 0.3\ncontrast = 1.2\nsaturation = 1.1\nlut = "LUT"',
    "effect.grain": "color = 0.5",
}
FRAMES = [2, 3, 4, 5]


def node_types():
    reg = get_registry()
    return [
        t
        for t in sorted(reg.nodes)
        if t.startswith(("effect.", "background.")) and reg.nodes[t].__module__.startswith("vfx_plugins")
    ]


def render(tmp_path, node_type: str, device: str):
    from pathlib import Path

    lut = Path(__file__).resolve().parent.parent / "pipelines" / "luts" / "warm.cube"
    extra = SETTINGS.get(node_type, "").replace("LUT", str(lut))
    kind = get_registry().nodes[node_type].kind
    body = textwrap.dedent("""
        [pipeline]
        width = 192
        height = 108
        fps = 24
        duration = 48
        seed = 7
        """)
    if kind == "source":
        body += f'[nodes.fx]\ntype = "{node_type}"\n{extra}\n'
    else:
        body += (
            f'[nodes.plate]\ntype = "source.testpattern"\npattern = "zoneplate"\n'
            f'[nodes.fx]\ntype = "{node_type}"\ninput = "plate"\n{extra}\n'
        )
    path = tmp_path / f"{node_type}-{device}.toml"
    path.write_text(body)
    graph = build(load(path), device=device, require_encoder=False)
    for node in graph.nodes.values():
        node.open()
    pixels = graph.nodes["fx"].frames(FRAMES).pixels
    graph.close()
    return pixels


@pytest.mark.parametrize("node_type", node_types())
def test_effect_on_cuda_matches_cpu(tmp_path, node_type):
    cpu = render(tmp_path, node_type, "cpu")
    gpu = render(tmp_path, node_type, "cuda")
    assert gpu.device.type == "cuda" and gpu.shape == cpu.shape
    diff = (gpu.float().cpu() - cpu.float()).abs()
    print(f"{node_type}: mean {diff.mean():.2e}  p99.9 {diff.flatten().quantile(0.999):.2e}  max {diff.max():.2e}")
    assert torch.isfinite(gpu).all()
    assert diff.mean() < 1e-3
    assert diff.flatten().quantile(0.999) < 2e-2
