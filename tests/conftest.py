"""Shared fixtures: media made on the fly with PyAV, pipelines written into tmp folders."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vfx
from vfx.node import NodeContext, PipelineSettings

VFX = str(Path(sys.executable).parent / "vfx")


def index_color(i: int) -> tuple[int, int, int]:
    """A colour that encodes a frame index (survives lossy coding: steps of 16 per channel)."""
    return (16 + (i % 14) * 16, 16 + ((i // 14) % 14) * 16, 200)


def decode_index(rgb: np.ndarray) -> int:
    """Inverse of ``index_color`` from the mean of a frame's centre."""
    h, w, _ = rgb.shape
    r, g, _ = rgb[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3).mean(0)
    return int(round((r - 16) / 16)) + 14 * int(round((g - 16) / 16))


def make_video(
    path: Path,
    frames: int = 48,
    size=(128, 72),
    fps=24,
    codec="libx264",
    pix_fmt="yuv420p",
    audio_freq: float | None = 440.0,
    sample_rate=48000,
    gop: int | None = 12,
) -> Path:
    """A clip whose frame i is filled with ``index_color(i)``, plus an optional sine track."""
    path = Path(path)
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=fps)
        v.width, v.height = size
        v.pix_fmt = pix_fmt
        if pix_fmt.startswith("yuv"):  # converted with BT.709 below, so tagged so (untagged SD reads as 601)
            v.codec_context.colorspace, v.codec_context.color_range = 1, 1
        if gop and codec == "libx264":
            v.codec_context.gop_size = gop
            v.options = {"crf": "10", "preset": "ultrafast"}
        a = None
        if audio_freq:
            a = out.add_stream("aac", rate=sample_rate)
            a.layout = "stereo"
        for i in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:] = index_color(i)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame = (
                frame.reformat(format=pix_fmt, dst_colorspace="ITU709")
                if pix_fmt.startswith("yuv")
                else frame.reformat(format=pix_fmt)
            )
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        if a is not None:
            total = int(frames / fps * sample_rate)
            t = np.arange(total) / sample_rate
            wave = (0.3 * np.sin(2 * np.pi * audio_freq * t)).astype(np.float32)
            data = np.stack([wave, wave])
            pos = 0
            while pos < total:
                n = min(1024, total - pos)
                f = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(data[:, pos : pos + n]), format="fltp", layout="stereo"
                )
                f.sample_rate = sample_rate
                f.pts = pos
                for p in a.encode(f):
                    out.mux(p)
                pos += n
            for p in a.encode(None):
                out.mux(p)
    return path


def make_png(path: Path, rgba: np.ndarray) -> Path:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba" if rgba.shape[2] == 4 else "rgb24")
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height = rgba.shape[1], rgba.shape[0]
    ctx.pix_fmt = frame.format.name
    ctx.time_base = Fraction(1, 25)
    Path(path).write_bytes(b"".join(bytes(p) for p in ctx.encode(frame)) + b"".join(bytes(p) for p in ctx.encode(None)))
    return Path(path)


def decode_frames(path: Path, fmt: str = "rgb24") -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def decode_audio(path: Path) -> np.ndarray:
    """All audio of a file as float32 (channels, samples)."""
    chunks = []
    with av.open(str(path)) as c:
        for f in c.decode(audio=0):
            arr = f.to_ndarray()
            if not f.format.is_planar:
                arr = arr.reshape(-1, len(f.layout.channels)).T
            if arr.dtype == np.int16:
                arr = arr.astype(np.float32) / 32768
            chunks.append(arr)
    return np.concatenate(chunks, axis=1)


def stream_info(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        frames = sum(1 for _ in c.decode(video=0)) if v else 0
        return {
            "frames": frames,
            "width": v.codec_context.width if v else None,
            "height": v.codec_context.height if v else None,
            "fps": v.average_rate if v else None,
            "codec": v.codec_context.name if v else None,
            "pix_fmt": v.codec_context.pix_fmt if v else None,
            "audio_codec": a.codec_context.name if a else None,
            "sample_rate": a.codec_context.sample_rate if a else None,
        }


class TensorClip(vfx.Source):
    """A stand-in input node serving frames from a (N, 4, H, W) tensor, for unit tests of nodes.

    A one-frame tensor is a still held for ``count`` frames; otherwise frame i is ``pixels[i]``.
    """

    type = "test.clip"

    def __init__(self, pixels, count: int | None = None, fps: int = 24, has_alpha: bool = True):
        import torch

        super().__init__("src", vfx.Options(), NodeContext("src", PipelineSettings()))
        self.pixels = pixels.contiguous(memory_format=torch.channels_last)
        n, _, h, w = pixels.shape
        self.video = vfx.StreamInfo(w, h, Fraction(fps), count or n, has_alpha)

    def render(self, indices):
        if self.pixels.shape[0] == 1:
            return vfx.FrameBatch(indices, self.pixels.expand(len(indices), -1, -1, -1))
        return vfx.FrameBatch(indices, self.pixels[indices])


def make_node(cls, src, seed: int = 0, node_id: str = "fx", base_dir: Path = Path("."), **options):
    """A configured node of ``cls`` reading ``src`` as its input, options given as in a pipeline."""
    from vfx.options import ParseContext

    parsed = cls.Options.from_mapping({"input": "src", **options}, ParseContext(base_dir=base_dir))
    node = cls(node_id, parsed, NodeContext(node_id, PipelineSettings(seed=seed)))
    node.connect({"input": src})
    node.configure()
    return node


def write_pipeline(folder: Path, body: str, name: str = "p.toml") -> Path:
    path = Path(folder) / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def run_vfx(*args, cwd=None, check=False) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([VFX, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"vfx {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def clip(tmp_path) -> Path:
    """2 s 128x72 24 fps H.264 + AAC, frame i coloured index_color(i)."""
    return make_video(tmp_path / "clip.mp4")


@pytest.fixture
def lossless_clip(tmp_path) -> Path:
    """The same content as ``clip`` but FFV1 (exact pixels) with PCM audio, in MKV."""
    return make_video(tmp_path / "clip.mkv", codec="ffv1", pix_fmt="yuv444p", gop=None)


@pytest.fixture(scope="session")
def ray_cluster():
    """ONE local Ray for the whole test run (started on first use): a head node with 2 CPUs and no
    GPU, plus a second node with 1 CPU and 1 (fake) GPU, so GPU placement can be checked. Usage
    stats and the dashboard are off. Yields the cluster; ``.address`` lets a CLI subprocess join it."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray's memory monitor kills workers when the *machine* is above 95% memory, which on a shared
    # test machine says more about the neighbours than about the code under test: off for tests
    os.environ["RAY_memory_monitor_refresh_ms"] = "0"
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 0, "include_dashboard": False})
    cluster.gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def synthetic_images(tmp_path_factory) -> Path:
    """A folder of 24 small PNGs (coloured discs on a dark ground) for training tests."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("train_images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    for i in range(24):
        img = np.full((24, 24, 3), 20, np.uint8)
        cy, cx, r = rng.integers(7, 17), rng.integers(7, 17), rng.integers(4, 8)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(80, 256, 3)
        Image.fromarray(img).save(folder / f"disc_{i:03d}.png")
    return folder
