"""Fast paths give the pixels of the plain ones: the grade computed straight in 8 bits (code
tables) against the float grade encoded, the encoder's strip-wise output conversion against the
whole-frame one, and whole renders through the fast paths against renders without them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.media.encode import VideoWriter
from vfx.ops import backend, color
from vfx.ops import codes as ops_lut
from vfx.ops.codes import EncodedBatch
from vfx.pipeline import load
from vfx_plugins.effects import grade as grade_module

from conftest import decode_frames, write_pipeline

LUT_TEXT = "\n".join(
    ["LUT_3D_SIZE 5"]
    + [
        f"{min(1, r * 1.1):.4f} {g**1.3:.4f} {0.1 + 0.8 * b:.4f}"
        for b in np.linspace(0, 1, 5)
        for g in np.linspace(0, 1, 5)
        for r in np.linspace(0, 1, 5)
    ]
)


def textured_clip(path: Path, frames: int = 6, size=(96, 48), pix_fmt="yuv420p", codec="libx264") -> Path:
    """A clip of noise over gradients (every code of each channel shows up), 24 fps, no audio."""
    rng = np.random.default_rng(5)
    w, h = size
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=24)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.codec_context.colorspace, v.codec_context.color_range = 1, 1
        for i in range(frames):
            ramp = np.linspace(0, 255, w)[None, :, None] * np.ones((h, 1, 3))
            img = np.clip(ramp * (0.4 + 0.1 * i) + rng.normal(0, 60, (h, w, 3)), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt, dst_colorspace="ITU709")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
    return path


def grade_pipeline(tmp_path: Path, clip: Path, grade: str, encoder: str = "") -> Path:
    """source.video -> effect.grade (-> ``encoder``), in ``tmp_path/p.toml`` beside a 5-point LUT."""
    (tmp_path / "look.cube").write_text(LUT_TEXT + "\n")
    body = f"""
        [pipeline]
        width = 96
        height = 48
        fps = 24

        [nodes.src]
        type = "source.video"
        path = "{clip}"

        [nodes.grade]
        type = "effect.grade"
        input = "src"
        {grade}
        {encoder}
        """
    return write_pipeline(tmp_path, body)


def grade_graph(tmp_path: Path, clip: Path, grade: str):
    """The opened graph of ``grade_pipeline`` (no encoder)."""
    graph = build(load(grade_pipeline(tmp_path, clip, grade)), require_encoder=False)
    for node in graph.nodes.values():
        node.open()
    return graph


GRADES = {
    "exposure and contrast": "exposure = 0.3\ncontrast = 1.2",
    "lift, gamma, gain": "lift = [0.02, 0.0, -0.01]\ngamma = [1.1, 0.9, 1.0]\ngain = [1.05, 1.0, 0.9]",
    "animated exposure": "exposure = { keyframes = [[0, -0.5], [5, 0.8]] }\ncontrast = 0.8",
    "saturation (every RGB triple)": "saturation = 1.3\nexposure = -0.2",
    "a LUT (every RGB triple)": 'lut = "look.cube"\nlut_mix = 0.8',
}


@pytest.mark.kernel
@pytest.mark.parametrize("grade", GRADES.values(), ids=GRADES.keys())
def test_grade_in_8_bits_equals_the_float_grade_encoded(tmp_path, monkeypatch, grade):
    monkeypatch.setattr(grade_module, "CUBE_AFTER", 0)  # no float frames first
    graph = grade_graph(tmp_path, textured_clip(tmp_path / "c.mp4"), grade)
    try:
        batch = graph.nodes["grade"].frames([0, 1, 2, 3, 4])
        assert isinstance(batch, EncodedBatch)
        fast = np.stack([f.to_ndarray(format="rgb24") for f in batch.encoded])
        exact = color.from_linear(batch.pixels, alpha=False)
        assert np.array_equal(fast, exact)
    finally:
        graph.close()


@pytest.mark.kernel
def test_grade_in_8_bits_at_a_width_swscale_pads(tmp_path):
    """90 pixels wide: not a multiple of 16, so the RGBA frames have padded rows (and the source's
    RGB24 conversion): the codes are still the float grade's."""
    graph = grade_graph(tmp_path, textured_clip(tmp_path / "c.mp4", size=(90, 48)), GRADES["exposure and contrast"])
    try:
        batch = graph.nodes["grade"].frames([0, 1])
        assert isinstance(batch, EncodedBatch)
        fast = np.stack([f.to_ndarray(format="rgb24") for f in batch.encoded])
        assert fast.shape == (2, 48, 90, 3)
        assert np.array_equal(fast, color.from_linear(batch.pixels, alpha=False))
    finally:
        graph.close()


def test_cube_tables_wait_for_enough_float_frames_and_a_still_grade(tmp_path, monkeypatch):
    clip = textured_clip(tmp_path / "c.mp4")
    graph = grade_graph(tmp_path, clip, GRADES["saturation (every RGB triple)"])
    try:
        assert not isinstance(graph.nodes["grade"].frames([0, 1]), EncodedBatch)  # a preview builds no cube
    finally:
        graph.close()
    monkeypatch.setattr(grade_module, "CUBE_AFTER", 0)
    graph = grade_graph(tmp_path, clip, "saturation = { keyframes = [[0, 0.5], [5, 1.5]] }")
    try:
        assert not isinstance(graph.nodes["grade"].frames([0, 1]), EncodedBatch)  # no cube per frame
    finally:
        graph.close()


def test_grade_takes_the_float_path_off_the_kernels_and_with_alpha(tmp_path):
    graph = grade_graph(tmp_path, textured_clip(tmp_path / "c.mp4"), GRADES["exposure and contrast"])
    try:
        with backend.only("torch", "opencv"):
            assert not isinstance(graph.nodes["grade"].frames([0]), EncodedBatch)
    finally:
        graph.close()


@pytest.mark.kernel
def test_channel_and_cube_tables_agree_for_a_per_channel_chain():
    def chain(rgba):
        return rgba * np.array([1.7, 0.6, 1.2, 1.0], np.float32)

    flat = ops_lut.channel_table(chain)
    cube = ops_lut.cube_table(chain)
    rgba = np.random.default_rng(2).integers(0, 256, (16, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    a, b, wide = np.empty_like(rgba), np.empty_like(rgba), np.zeros((16, 30, 4), np.uint8)
    ops_lut.apply_channel_table(rgba, flat, a)
    ops_lut.apply_cube_table(rgba, cube, b)  # the kernel
    c = wide[:, 3:27]  # not contiguous
    with backend.only("torch", "opencv"):
        ops_lut.apply_cube_table(rgba, cube, c)  # NumPy
    linear = color.to_linear(rgba[None], premultiply=False)[0].permute(1, 2, 0).numpy()
    ref = color.from_linear(torch.from_numpy(chain(linear))[None].permute(0, 3, 1, 2), alpha=False)[0]
    assert np.array_equal(a[..., :3], ref) and np.array_equal(b[..., :3], ref) and np.array_equal(c, b)


@pytest.mark.parametrize("grade", [GRADES["exposure and contrast"], GRADES["a LUT (every RGB triple)"]])
def test_render_through_the_8_bit_grade_is_the_render_without_it(tmp_path, monkeypatch, grade):
    clip = textured_clip(tmp_path / "c.mp4", frames=8)
    outputs = []
    for fast in (True, False):
        out = tmp_path / f"out_{fast}.mkv"
        encoder = f'[nodes.out]\ntype = "encode.video"\ninput = "grade"\npath = "{out}"\ncodec = "ffv1"'
        monkeypatch.setattr(grade_module, "CUBE_AFTER", 2)
        if not fast:
            monkeypatch.setattr(grade_module.Grade, "_encoded", lambda self, *a: None)
        render(build(load(grade_pipeline(tmp_path, clip, grade, encoder))), RenderOptions(batch_size=2))
        outputs.append(np.stack(decode_frames(out)))
    assert outputs[0].shape[0] == 8
    assert np.array_equal(outputs[0], outputs[1])


def test_strip_wise_output_conversion_equals_the_whole_frame(tmp_path):
    rng = np.random.default_rng(4)
    pixels = torch.from_numpy(rng.random((2, 37, 50, 4), dtype=np.float32) * 1.1).permute(0, 3, 1, 2)
    writer = VideoWriter(
        tmp_path / "o.mkv",
        codec="ffv1",
        width=50,
        height=37,
        fps=24,
        alpha=False,
        crf=None,
        bitrate=None,
        preset=None,
        pix_fmt="yuv444p",
        audio_codec=None,
        sample_rate=48000,
        channels=2,
    )
    try:
        got = [f.to_ndarray()[..., :3] for f in writer._rgb_frames(pixels)]
    finally:
        writer.abort()
    assert np.array_equal(np.stack(got), color.from_linear(pixels, alpha=False))


@pytest.mark.kernel
@pytest.mark.parametrize("has_alpha", [False, True])
@pytest.mark.parametrize("key", ["#00b140", "#1030e0"])
def test_chroma_key_in_one_pass_equals_matte_then_despill(monkeypatch, has_alpha, key):
    from vfx_plugins.effects import ChromaKey
    from vfx_plugins.effects import keying

    from conftest import TensorClip, make_node

    g = torch.Generator().manual_seed(3)
    rgb = torch.rand((2, 3, 24, 40), generator=g)
    rgb[:, :, 4:16, 8:30] = torch.tensor([0.0, 0.45, 0.08]).view(1, 3, 1, 1) + 0.05 * rgb[:, :, 4:16, 8:30]
    alpha = torch.rand((2, 1, 24, 40), generator=g) * 0.8 + 0.2 if has_alpha else torch.ones((2, 1, 24, 40))
    clip = TensorClip(torch.cat([rgb * alpha, alpha], 1), has_alpha=has_alpha)
    one_pass = make_node(ChromaKey, clip, key_color=key, tolerance=0.15, softness=0.5).frames([0, 1]).pixels
    monkeypatch.setattr(keying.ChromaKey, "_one_pass", lambda self, *a: None)
    two_passes = make_node(ChromaKey, clip, key_color=key, tolerance=0.15, softness=0.5).frames([0, 1]).pixels
    assert torch.equal(one_pass, two_passes)
    assert float(one_pass[:, 3].min()) == 0.0  # the screen is keyed out
