"""Composite pixel values for known inputs: alpha, opacity and each blend mode, in linear light."""
from __future__ import annotations

import numpy as np
import pytest

from vfx.ops.color import linear_rgba
from vfx.engine import RenderOptions, render
from vfx.errors import PipelineError
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_frames, write_pipeline


def srgb_encode(linear):
    x = np.clip(np.asarray(linear, dtype=np.float64), 0, 1)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def expected(bottom, top, opacity, mode):
    """Reference premultiplied blending (Porter-Duff over and the separable modes)."""
    d = np.array(linear_rgba(bottom))
    s = np.array(linear_rgba(top)) * opacity
    sa, da = s[3], d[3]
    if mode == "over":
        rgb, a = s[:3] + d[:3] * (1 - sa), sa + da * (1 - sa)
    elif mode == "add":
        rgb, a = s[:3] + d[:3], sa + da * (1 - sa)
    elif mode == "screen":
        rgb, a = s[:3] + d[:3] - s[:3] * d[:3], sa + da * (1 - sa)
    else:
        rgb, a = s[:3] * d[:3] + s[:3] * (1 - da) + d[:3] * (1 - sa), sa + da - sa * da
    return rgb, a


@pytest.mark.parametrize("mode", ["over", "add", "multiply", "screen"])
@pytest.mark.parametrize("top,opacity", [((1.0, 0.2, 0.0, 1.0), 0.7), ((0.1, 0.5, 0.9, 0.5), 1.0),
                                         ((0.8, 0.8, 0.3, 0.25), 0.5)])
def test_blend_modes_match_reference(tmp_path, mode, top, opacity):
    bottom = (0.4, 0.6, 0.2, 1.0)
    p = write_pipeline(tmp_path, f"""
        [pipeline]
        width = 16
        height = 16
        duration = 2
        [nodes.bottom]
        type = "source.color"
        color = {list(bottom[:3])}
        [nodes.top]
        type = "source.color"
        color = {list(top)}
        size = [8, 8]
        [nodes.comp]
        type = "editor.composite"
        layers = ["bottom", {{ input = "top", position = [4, 4], opacity = {opacity}, blend = "{mode}" }}]
        [nodes.out]
        type = "encode.image_sequence"
        input = "comp"
        bits = "16"
        path = "f_%02d.png"
    """)
    render(build(load(p)), RenderOptions(device="cpu"))
    img = decode_frames(tmp_path / "f_01.png", fmt="rgba64le").pop().astype(np.float64) / 65535
    rgb, a = expected(bottom, top, opacity, mode)
    want = srgb_encode(np.clip(rgb, 0, None) / a)
    assert img[8, 8, :3] == pytest.approx(want, abs=2 / 65535 + 1e-4)
    assert img[8, 8, 3] == pytest.approx(a, abs=1 / 65535 + 1e-6)
    assert img[1, 1, :3] == pytest.approx(bottom[:3], abs=1e-4)      # outside the layer: untouched
    assert img[1, 1, 3] == 1.0


def test_alpha_png_layer_and_scaling(tmp_path):
    from conftest import make_png
    logo = np.zeros((20, 40, 4), np.uint8)
    logo[:, :20] = (255, 0, 0, 255)     # opaque red left half
    logo[:, 20:] = (0, 0, 255, 0)       # fully transparent right half
    make_png(tmp_path / "logo.png", logo)
    p = write_pipeline(tmp_path, """
        [pipeline]
        width = 100
        height = 60
        duration = 1
        [nodes.bg]
        type = "source.color"
        color = "white"
        [nodes.logo]
        type = "source.image"
        path = "logo.png"
        [nodes.comp]
        type = "editor.composite"
        layers = ["bg", { input = "logo", position = [10, 10], scale = 2.0, filter = "nearest" }]
        [nodes.out]
        type = "encode.image_sequence"
        input = "comp"
        path = "c_%d.png"
    """)
    with pytest.raises(PipelineError):
        build(load(p))        # filter is a composite option, not a layer option
    p.write_text(p.read_text().replace(', filter = "nearest"', "").replace('layers =', 'filter = "nearest"\nlayers ='))
    render(build(load(p)), RenderOptions(device="cpu"))
    img = decode_frames(tmp_path / "c_0.png", fmt="rgba")[0]
    assert tuple(img[30, 20]) == (255, 0, 0, 255)       # inside the scaled opaque half
    assert tuple(img[30, 70]) == (255, 255, 255, 255)   # transparent half shows the white background
    assert tuple(img[5, 5]) == (255, 255, 255, 255)
    assert tuple(img[49, 49]) == (255, 0, 0, 255) and tuple(img[50, 49]) == (255, 255, 255, 255)
