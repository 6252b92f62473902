"""OpenEXR read / write speed at 1080p half float, against the ffmpeg CLI's EXR encoder and
decoder, and the cost of OpenColorIO conversions per 1080p frame next to encoding that frame.

    .venv/bin/python benchmarks/interchange.py [--frames 12]

EXR: ``--frames`` 1920x1080 RGBA half frames (a render-like image: smooth gradients, a soft
disc with alpha, grain) written and read with ``vfx.media.exr`` for ZIP and DWAA (and PIZ), and
the same frames written by the ffmpeg CLI (``-c:v exr -format half -compression zip16``; it has
no PIZ or DWAA encoder) and decoded by it (``-f null``), each in one process from the same raw
input, timed wall clock; the ffmpeg numbers include its start-up (~0.1 s), as a user pays it.

OCIO: per 1080p frame, the ``[color]`` input conversion (lin_rec709 to ACEScg), the output
conversions (ACEScg to lin_rec709; ACEScg through the ACES 2.0 SDR view), ``effect.ocio`` with
a CDL, and next to them vfx's sRGB 8-bit conversion out of the graph plus a libx264 (veryfast)
encode of that frame through PyAV.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

W, H = 1920, 1080


def render_like(seed: int) -> np.ndarray:
    """(H, W, 4) float32 premultiplied RGBA that compresses like a CG render."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    r = np.hypot(x - W * 0.5, y - H * 0.5) / (H * 0.4)
    alpha = np.clip(1.5 - r, 0, 1)
    rgb = np.stack([x / W * 2.0, y / H, 0.5 + 0.5 * np.sin(x / 37 + seed)], axis=2)
    rgb += rng.normal(0, 0.01, rgb.shape).astype(np.float32)
    return np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2).astype(np.float32)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def exr_bench(frames: list[np.ndarray], work: Path) -> list[tuple[str, float, float, int]]:
    """(label, write fps, read fps, bytes a frame) for vfx's compressions and the ffmpeg CLI."""
    import imageio_ffmpeg

    from vfx.media.exr import read_exr, write_exr

    rows = []
    out = np.empty((H, W, 4), np.float32)
    for compression in ("zip", "dwaa", "piz"):
        folder = work / compression
        folder.mkdir()
        paths = [folder / f"f_{k:04d}.exr" for k in range(len(frames))]
        t0 = time.perf_counter()
        for path, frame in zip(paths, frames):
            write_exr(path, {"": frame}, pixel_type="half", compression=compression)
        wt = time.perf_counter() - t0
        t0 = time.perf_counter()
        for path in paths:
            read_exr(path, out=out)
        rt = time.perf_counter() - t0
        rows.append((f"vfx {compression}", len(frames) / wt, len(frames) / rt, paths[0].stat().st_size))
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    folder = work / "ffmpeg"
    folder.mkdir()
    raw = b"".join(np.ascontiguousarray(f[..., [1, 2, 0, 3]].transpose(2, 0, 1)).tobytes() for f in frames)
    cmd = [ff, "-v", "error", "-f", "rawvideo", "-pix_fmt", "gbrapf32le", "-s", f"{W}x{H}", "-i", "-"]
    cmd += ["-c:v", "exr", "-format", "half", "-compression", "zip16", str(folder / "f_%04d.exr")]
    wt = timed(lambda: subprocess.run(cmd, input=raw, check=True))
    rt = timed(
        lambda: subprocess.run([ff, "-v", "error", "-i", str(folder / "f_%04d.exr"), "-f", "null", "-"], check=True)
    )
    size = (folder / "f_0001.exr").stat().st_size
    rows.append(("ffmpeg CLI zip16 (its ZIP)", len(frames) / wt, len(frames) / rt, size))
    # ffmpeg's decoder on vfx's DWAA files (it has no DWAA encoder)
    rt = timed(
        lambda: subprocess.run([ff, "-v", "error", "-i", str(work / "dwaa/f_%04d.exr"), "-f", "null", "-"], check=True)
    )
    rows.append(("ffmpeg CLI decoding vfx's dwaa", float("nan"), len(frames) / rt, 0))
    return rows


def ocio_bench(repeat: int) -> list[tuple[str, float]]:
    """(label, milliseconds per 1080p frame), the median of ``repeat`` runs."""
    import av
    import torch

    from vfx.ops import color, ocio

    frame = render_like(0)
    pixels = torch.from_numpy(frame.copy()).permute(2, 0, 1)[None]
    config = ocio.load_config()
    cases = {
        "[color] in: lin_rec709 -> ACEScg": ocio.colorspace_transform(config, "lin_rec709", "ACEScg"),
        "[color] out: ACEScg -> lin_rec709": ocio.colorspace_transform(config, "ACEScg", "lin_rec709"),
        "out / effect.ocio: ACES 2.0 SDR view": ocio.display_view_transform(
            config, "ACEScg", "sRGB - Display", "ACES 2.0 - SDR 100 nits (Rec.709)"
        ),
        "effect.ocio: CDL": ocio.cdl_transform(config, (1.1, 1.0, 0.9), (0.01, 0, 0), (1.2, 1, 1), 0.8),
        "effect.ocio: lin_rec709 -> ACEScct (log)": ocio.colorspace_transform(config, "lin_rec709", "ACEScct"),
    }
    rows = []
    for label, transform in cases.items():
        times = [timed(lambda t=transform: t.apply(pixels)) for _ in range(repeat)]
        rows.append((label, 1000 * float(np.median(times))))
    times = [timed(lambda: color.from_linear(pixels, alpha=False)) for _ in range(repeat)]
    rows.append(("sRGB 8-bit out of the graph (from_linear)", 1000 * float(np.median(times))))
    rgb = color.from_linear(pixels, alpha=False)[0]
    with tempfile.TemporaryDirectory() as tmp:
        with av.open(str(Path(tmp) / "x.mp4"), "w") as c:
            s = c.add_stream("libx264", rate=24)
            s.width, s.height, s.pix_fmt = W, H, "yuv420p"
            s.options = {"preset": "veryfast", "crf": "20"}
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            times = []
            for k in range(repeat + 8):
                vf.pts = k
                t = timed(lambda: [c.mux(p) for p in s.encode(vf.reformat(format="yuv420p"))])
                times.append(t)
            for p in s.encode(None):
                c.mux(p)
    rows.append(("libx264 veryfast encode of the frame (PyAV, steady state)", 1000 * float(np.median(times[8:]))))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    frames = [render_like(k) for k in range(args.frames)]
    work = Path(tempfile.mkdtemp(prefix="vfx-interchange-"))
    try:
        print(f"OpenEXR 1920x1080 RGBA half, {args.frames} frames")
        print(f"{'':34} {'write fps':>10} {'read fps':>10} {'MB/frame':>9}")
        for label, wfps, rfps, size in exr_bench(frames, work):
            print(f"{label:34} {wfps:10.1f} {rfps:10.1f} {size / 1e6:9.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nOpenColorIO per 1080p frame (CPU, one thread)")
    for label, ms in ocio_bench(args.repeat):
        print(f"{label:58} {ms:8.1f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
