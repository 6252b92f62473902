"""Footage as users have it, made with the ffmpeg binary vfx already depends on (imageio-ffmpeg).

Every frame carries its own index as a row of black/white blocks across its top quarter, big
enough to survive any codec, chroma subsampling and colour matrix; ``read_index`` reads it back.
The lower part holds a horizontal grey ramp and six colour patches for colour checks.
``ffmpeg_frames`` decodes a file with the ffmpeg CLI itself, the reference vfx is compared to.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

INDEX_BITS = 10
PATCHES = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 60), (60, 200, 220), (210, 70, 210)]


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def indexed_frame(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """(height, width, 3) uint8: index blocks on top, a grey ramp, colour patches below."""
    img = np.zeros((height, width, 3), np.uint8)
    band = height // 4
    block = width // INDEX_BITS
    img[:band] = 16
    for bit in range(INDEX_BITS):
        if index >> bit & 1:
            img[:band, bit * block : (bit + 1) * block] = 235
    ramp_rows = slice(band, band * 2)
    img[ramp_rows] = np.linspace(0, 255, width).round().astype(np.uint8)[None, :, None]
    patch = width // len(PATCHES)
    for k, rgb in enumerate(PATCHES):
        img[band * 2 :, k * patch : (k + 1) * patch] = rgb
    return img


def read_index(rgb: np.ndarray) -> int:
    """The index drawn by ``indexed_frame`` into a decoded (H, W, 3|4) frame of any size."""
    height, width = rgb.shape[:2]
    band = height // 4
    block = width / INDEX_BITS
    luma = rgb[..., :3].astype(np.float32).mean(axis=2)
    value = 0
    for bit in range(INDEX_BITS):
        x0, x1 = int(bit * block + block * 0.3), int(bit * block + block * 0.7)
        if luma[band // 4 : band * 3 // 4, x0:x1].mean() > 128:
            value |= 1 << bit
    return value


def encode(
    path: Path,
    frames: int,
    *,
    rate: str = "24",
    size: tuple[int, int] = (320, 240),
    args: list[str] = (),
    audio: str | None = None,
    first: int = 0,
) -> Path:
    """Write ``frames`` indexed frames (``first`` on) at ``rate`` through ffmpeg with output ``args``.

    ``audio`` is a lavfi audio source (e.g. ``"sine=f=440:d=3"``) muxed as a second input.
    """
    w, h = size
    raw = b"".join(indexed_frame(first + i, w, h).tobytes() for i in range(frames))
    cmd = [
        ffmpeg_exe(),
        "-y",
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        rate,
        "-i",
        "-",
    ]
    if audio:
        cmd += ["-f", "lavfi", "-i", audio]
    cmd += list(args) + [str(path)]
    subprocess.run(cmd, input=raw, check=True, capture_output=True)
    return Path(path)


def ffmpeg_frames(path: Path, *, vf: str | None = None, deep: bool = False, args: list[str] = ()) -> np.ndarray:
    """Every frame the ffmpeg CLI decodes from ``path`` as RGB (N, H, W, 3), after the optional filter.

    uint8, or uint16 with ``deep`` (ffmpeg's own rgb48 conversion).
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args, "-i", str(path)]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-pix_fmt", "rgb48be" if deep else "rgb24", "-f", "image2pipe", "-c:v", "ppm", "-"]
    data = subprocess.run(cmd, check=True, capture_output=True).stdout
    frames, pos = [], 0
    while pos < len(data):
        fields = []
        while len(fields) < 4:  # P6, width, height, maxval, one white space each
            end = pos
            while data[end : end + 1] not in (b" ", b"\n", b"\t", b"\r"):
                end += 1
            fields.append(data[pos:end])
            pos = end + 1
        w, h, maxval = int(fields[1]), int(fields[2]), int(fields[3])
        dtype, size = (np.dtype(">u2"), 2) if maxval > 255 else (np.dtype(np.uint8), 1)
        n = w * h * 3 * size
        frames.append(np.frombuffer(data[pos : pos + n], dtype).reshape(h, w, 3).astype(dtype.newbyteorder("=")))
        pos += n
    return np.stack(frames)


def ffprobe_line(path: Path) -> str:
    """The ffmpeg binary's own one-line description of the first video stream (tags, SAR, rotation)."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    lines = [line.strip() for line in out.splitlines() if "Video:" in line]
    if not lines:
        raise AssertionError(f"no video stream in {path}: {out}")
    return lines[0]


def pts_of(path: Path) -> list[float]:
    """Presentation times (seconds) of every decoded video frame, through PyAV."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


def run_ffmpeg(*args: str) -> None:
    """Run the ffmpeg binary with ``args`` (quiet; raises on failure with its message)."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", *map(str, args)], capture_output=True, text=True
    )
    if proc.returncode:
        raise AssertionError(f"ffmpeg {' '.join(map(str, args))} failed: {proc.stderr}")


def remux(src: Path, dst: Path, *, input_args: list[str] = (), args: list[str] = ()) -> Path:
    """Copy ``src``'s streams into ``dst`` with input options (``-display_rotation 90``) and output ``args``."""
    run_ffmpeg(*input_args, "-i", str(src), "-c", "copy", *args, str(dst))
    return Path(dst)
