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
@pytest.mark.parametrize(
    "top,opacity", [((1.0, 0.2, 0.0, 1.0), 0.7), ((0.1, 0.5, 0.9, 0.5), 1.0), ((0.8, 0.8, 0.3, 0.25), 0.5)]
)
def test_blend_modes_match_reference(tmp_path, mode, top, opacity):
    bottom = (0.4, 0.6, 0.2, 1.0)
    p = write_pipeline(
        tmp_path,
        f"""
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
    """,
    )
    render(build(load(p)), RenderOptions(device="cpu"))
    img = decode_frames(tmp_path / "f_01.png", fmt="rgba64le").pop().astype(np.float64) / 65535
    rgb, a = expected(bottom, top, opacity, mode)
    want = srgb_encode(np.clip(rgb, 0, None) / a)
    assert img[8, 8, :3] == pytest.approx(want, abs=2 / 65535 + 1e-4)
    assert img[8, 8, 3] == pytest.approx(a, abs=1 / 65535 + 1e-6)
    assert img[1, 1, :3] == pytest.approx(bottom[:3], abs=1e-4)  # outside the layer: untouched
    assert img[1, 1, 3] == 1.0


def test_alpha_png_layer_and_scaling(tmp_path):
    from conftest import make_png

    logo = np.zeros((20, 40, 4), np.uint8)
    logo[:, :20] = (255, 0, 0, 255)  # opaque red left half
    logo[:, 20:] = (0, 0, 255, 0)  # fully transparent right half
    make_png(tmp_path / "logo.png", logo)
    p = write_pipeline(
        tmp_path,
        """
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
    """,
    )
    with pytest.raises(PipelineError):
        build(load(p))  # filter is a composite option, not a layer option
    p.write_text(p.read_text().replace(', filter = "nearest"', "").replace("layers =", 'filter = "nearest"\nlayers ='))
    render(build(load(p)), RenderOptions(device="cpu"))
    img = decode_frames(tmp_path / "c_0.png", fmt="rgba")[0]
    assert tuple(img[30, 20]) == (255, 0, 0, 255)  # inside the scaled opaque half
    assert tuple(img[30, 70]) == (255, 255, 255, 255)  # transparent half shows the white background
    assert tuple(img[5, 5]) == (255, 255, 255, 255)
    assert tuple(img[49, 49]) == (255, 0, 0, 255) and tuple(img[50, 49]) == (255, 255, 255, 255)


# --- region-limited compositing against full-frame compositing ------------------------------------


def _full_frame_blend(dst, src, mode, opacity):
    """The previous algorithm, kept as the reference: premultiplied ``src`` (a whole canvas,
    transparent outside the layer) blended into the whole ``dst`` in place."""
    if opacity < 1.0:
        src = src * opacity
    sa = src[:, 3:4]
    if mode == "over":
        dst.mul_(1 - sa).add_(src)
    elif mode == "add":
        da = dst[:, 3:4].clone()
        dst[:, :3].add_(src[:, :3])
        dst[:, 3:4] = sa + da * (1 - sa)
    elif mode == "screen":
        rgb = src[:, :3] + dst[:, :3] - src[:, :3] * dst[:, :3]
        dst[:, 3:4] = sa + dst[:, 3:4] * (1 - sa)
        dst[:, :3] = rgb
    else:
        da = dst[:, 3:4]
        rgb = src[:, :3] * dst[:, :3] + src[:, :3] * (1 - da) + dst[:, :3] * (1 - sa)
        dst[:, 3:4] = sa + da - sa * da
        dst[:, :3] = rgb


def _full_frame_composite(graph, comp_id, indices):
    """``editor.composite``'s frames computed the full-frame way: each layer frame resampled,
    pasted into a transparent canvas-sized frame and blended over the whole canvas."""
    import torch
    from vfx.ops import resample

    comp = graph.nodes[comp_id]
    W, H, fps = comp.video.width, comp.video.height, comp.ctx.settings.fps
    canvas = torch.zeros((len(indices), 4, H, W))
    for entry in comp.options.layers:
        node = graph.nodes[entry.input]
        for j, i in enumerate(indices):
            e = entry.at(i, fps)
            li = i - e.start
            if not 0 <= li < node.video.frame_count:
                continue
            lw, lh = e.size or (max(1, round(node.video.width * e.scale)), max(1, round(node.video.height * e.scale)))
            pixels = resample.resize_batch(
                node.frames([li]), lw, lh, comp.options.filter, before_linear=comp.options.fast_scale
            )
            x, y = int(round(e.position[0])), int(round(e.position[1]))
            layer = torch.zeros((1, 4, H, W))
            x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + lw), min(H, y + lh)
            if x0 < x1 and y0 < y1:
                layer[:, :, y0:y1, x0:x1] = pixels[:, :, y0 - y : y1 - y, x0 - x : x1 - x]
            _full_frame_blend(canvas[j : j + 1], layer, e.blend, e.opacity)
    return canvas


def _noise_png(path, width, height, seed, alpha=True):
    from conftest import make_png

    rng = np.random.default_rng(seed)
    rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    if alpha:
        rgba[: height // 3, :, 3] = 0  # a transparent band and an opaque one
        rgba[-height // 3 :, :, 3] = 255
    else:
        rgba[..., 3] = 255
    return make_png(path, rgba)


def _region_pipeline(tmp_path, bottom_layer, blend="over"):
    from conftest import make_video

    make_video(tmp_path / "clip.mp4", frames=12, size=(48, 32), audio_freq=None)
    _noise_png(tmp_path / "bottom.png", 61, 37, 1, alpha=False)
    _noise_png(tmp_path / "logo.png", 23, 17, 2)
    _noise_png(tmp_path / "title.png", 40, 9, 3)
    return write_pipeline(
        tmp_path,
        f"""
        [pipeline]
        width = 64
        height = 38
        fps = 24
        duration = 8
        [nodes.bottom]
        type = "source.image"
        path = "bottom.png"
        [nodes.clip]
        type = "source.video"
        path = "clip.mp4"
        [nodes.logo]
        type = "source.image"
        path = "logo.png"
        [nodes.title]
        type = "source.image"
        path = "title.png"
        [nodes.comp]
        type = "editor.composite"
        size = [61, 37]
        duration = 8
        layers = [
          {bottom_layer},
          {{ input = "clip", size = [29, 19], position = [-7, 25], opacity = 0.7, blend = "{blend}" }},
          {{ input = "logo", position = [49, -5], scale = 1.5, blend = "{blend}" }},
          {{ input = "title", position = {{ keyframes = [[0, [-30, 3]], [7, [40, 30]]] }}, opacity = 0.45 }},
          {{ input = "logo", position = [13, 11], start = 3, blend = "{blend}" }},
          {{ input = "logo", position = [70, 3] }},
          {{ input = "logo", position = [30, 20], scale = {{ keyframes = [[0, 0.5], [7, 2.0]] }}, opacity = 0.9 }},
        ]
        [nodes.out]
        type = "encode.image_sequence"
        input = "comp"
        path = "f_%02d.png"
    """,
    )


@pytest.mark.parametrize("bottom_layer", ['"bottom"', '{ input = "bottom", position = [3, -2], opacity = 0.8 }'])
@pytest.mark.parametrize("blend", ["over", "screen", "multiply", "add"])
def test_region_compositing_equals_full_frame(tmp_path, bottom_layer, blend):
    """Layers partly off the canvas (every side), at odd positions, scaled, with opacity, starting
    late, animated (position; scale, so frames of one batch differ in size), and wholly off the canvas: blending only their rectangles gives the pixels of
    blending each as a full canvas-sized frame, exactly on the torch path and within 1e-6 with the
    CPU kernels (Numba ``over``: the same float32 operations, possibly fused into FMAs)."""
    from vfx.ops import backend

    graph = build(load(_region_pipeline(tmp_path, bottom_layer, blend)))
    for node in graph.nodes.values():
        node.open()
    try:
        indices = [0, 1, 2, 3, 4, 5, 6, 7]
        with backend.only("torch"):
            want = _full_frame_composite(graph, "comp", indices)
            got = graph.nodes["comp"].frames(indices).pixels
            assert torch_equal(got, want)
        want = _full_frame_composite(graph, "comp", indices)  # OpenCV resizes, Numba blends
        got = graph.nodes["comp"].frames(indices).pixels
        assert float((got - want).abs().max()) <= 1e-6
        assert float(graph.nodes["comp"].frames([2, 5]).pixels.sub(want[[2, 5]]).abs().max()) <= 1e-6
    finally:
        graph.close()


def torch_equal(a, b):
    import torch

    return bool(torch.equal(a.contiguous(), b.contiguous()))


def test_over_kernel_matches_torch_on_regions():
    """``vfx.ops.composite.over`` on a region of a channels-last canvas: the Numba kernel and the
    torch path agree within 1e-6, and nothing outside the region changes."""
    import torch
    from vfx.frames import empty_pixels
    from vfx.ops import backend
    from vfx.ops.composite import over, placement

    gen = torch.Generator().manual_seed(4)
    canvas = empty_pixels(2, 37, 61)
    canvas.copy_(torch.rand((2, 4, 37, 61), generator=gen))
    layer = torch.rand((2, 4, 20, 33), generator=gen)
    layer[:, :3] *= layer[:, 3:4]  # premultiplied
    layer = layer.contiguous(memory_format=torch.channels_last)
    place = placement(-5, 21, 33, 20, 61, 37)
    assert place == (0, 21, 28, 37, 5, 0)
    results = []
    for paths in (("torch",), ("torch", "numba")):
        out = canvas.clone(memory_format=torch.channels_last)
        with backend.only(*paths):
            over(
                out[:, :, place.y0 : place.y1, place.x0 : place.x1],
                layer[:, :, place.sy : place.sy + place.height, place.sx : place.sx + place.width],
                0.6,
            )
        results.append(out)
    assert float((results[0] - results[1]).abs().max()) <= 1e-6
    for out in results:
        outside = torch.ones((37, 61), dtype=torch.bool)
        outside[21:, :28] = False
        assert torch.equal(out[:, :, outside], canvas[:, :, outside])
    assert placement(61, 0, 5, 5, 61, 37) is None and placement(-5, 0, 5, 5, 61, 37) is None


# --- no extra full-frame copies on the W2 graph ---------------------------------------------------

W2_SMALL = """
    # benchmarks/pipelines/w2.toml at a sixth of the size: the same graph
    [pipeline]
    width = 320
    height = 180
    fps = 24
    [nodes.a]
    type = "source.video"
    path = "a.mp4"
    [nodes.a6]
    type = "editor.trim"
    input = "a"
    duration = 36
    [nodes.b]
    type = "source.video"
    path = "b.mp4"
    audio = false
    [nodes.logo]
    type = "source.image"
    path = "logo.png"
    duration = 36
    [nodes.comp]
    type = "editor.composite"
    layers = [
      "a6",
      { input = "b", size = [160, 90], position = [17, 17], opacity = 0.7 },
      { input = "logo", position = [247, 7] },
    ]
    [nodes.black]
    type = "source.color"
    color = "#000000"
    duration = 4
    [nodes.fade]
    type = "editor.crossfade"
    inputs = ["black", "comp"]
    duration = 4
    [nodes.out]
    type = "encode.video"
    input = "fade"
    path = "out.mp4"
    audio = "a6"
"""


class _FullFrames:
    """Counts full-frame float tensors made while active, in frames (an (N, 4, H, W) tensor of
    frames at least H x W is N; a batch of smaller layers is none):
    ``vfx.frames.empty_planes`` wherever it is bound (NumPy-backed frames) and every torch op
    in this thread whose result has new storage (clones, stacks, arithmetic; not views or in-place)."""

    def __init__(self, width, height):
        self.frame = width * height * 4
        self.count = 0

    def add(self, t):
        n = t.shape[0] if t.dim() == 4 else 1
        per_frame = t.numel() // max(1, n)
        if per_frame >= self.frame:
            self.count += n * (per_frame // self.frame)

    def __enter__(self):
        import sys
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        import vfx.frames

        original, counter = vfx.frames.empty_planes, self

        def counted(*args, **kwargs):
            out = original(*args, **kwargs)
            counter.add(out)
            return out

        self._patched = [m for m in list(sys.modules.values()) if getattr(m, "empty_planes", None) is original]
        for module in self._patched:
            module.empty_planes = counted
        self._original = original

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                if isinstance(out, torch.Tensor) and out.dtype.is_floating_point:
                    inputs = {
                        a.untyped_storage().data_ptr()
                        for a in torch.utils._pytree.tree_leaves((args, kwargs))
                        if isinstance(a, torch.Tensor)
                    }
                    if out.untyped_storage().data_ptr() not in inputs:
                        counter.add(out)
                return out

        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        for module in self._patched:
            module.empty_planes = self._original


def test_w2_graph_makes_one_full_frame_per_frame(tmp_path):
    """On W2's graph the composite's canvas is clip A's decoded frame itself (owned: the encoder's
    ``audio = "a6"`` does not share a6's frames), clip B is scaled before it enters linear light and
    blended over its own 160x90 rectangle, the logo over its 66x33: one full-frame tensor per frame
    (A's conversion into linear light) through the composite, the dissolve (the crossfade mixes the
    black into the composite's canvas in place, reading the colour as one row) and after it."""
    from conftest import make_video

    make_video(tmp_path / "a.mp4", frames=40, size=(320, 180))
    make_video(tmp_path / "b.mp4", frames=40, size=(320, 180), audio_freq=None)
    _noise_png(tmp_path / "logo.png", 66, 33, 5)
    graph = build(load(write_pipeline(tmp_path, W2_SMALL)))
    from vfx import engine

    engine._mark_shared(graph)
    assert graph.nodes["a6"]._shared is None
    for node in graph.nodes.values():
        node.open()
    try:
        graph.nodes["comp"].frames([0, 1])  # first use: caches, kernels
        for node_id, indices, most in (("comp", [8, 9, 10, 11], 1), ("fade", [12, 13, 14, 15], 1), ("fade", [1, 2], 1)):
            with _FullFrames(320, 180) as made:
                assert graph.nodes[node_id].frames(indices).pixels is not None
            assert made.count <= most * len(indices), (node_id, indices, made.count)
            assert made.count >= len(indices)  # the counter sees the conversion
    finally:
        graph.close()
