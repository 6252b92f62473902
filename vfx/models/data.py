"""Training data: folders of images, image sequences and videos, loaded once into memory, and the
augmentation (random resized crop, horizontal flip, small colour jitter) done with vfx.ops and torch.

``--data PATH`` is unlabelled; ``--data NAME=PATH`` gives every image under PATH the class NAME
(repeat it, one per class). PATH is a folder (images and videos inside, recursively), an image
sequence pattern (``frames/f_%04d.png``, ``frames/f_####.png`` or a glob ``frames/*.png``), an image
file or a video file (``video_frames`` frames sampled evenly). Images with alpha are composited over
black (premultiplied), then centre-cropped square and stored at ``STORE_SCALE`` x the resolution.
"""

from __future__ import annotations

import glob as globlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..ops import resample
from ..ops.color import LUMA
from .errors import TrainingDataError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf", ".gif", ".mpg", ".mpeg", ".ts", ".y4m"}
STORE_SCALE = 1.25  # stored side / resolution: room for the random crops
CROP_RANGE = (0.8, 1.0)  # side of a random crop, as a fraction of the stored side
_LABEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass
class DataSource:
    """One ``--data`` argument: a path (or pattern) and an optional class name."""

    path: str
    label: str | None = None

    @classmethod
    def parse(cls, arg: str) -> "DataSource":
        """``PATH`` or ``NAME=PATH`` (a path that exists as given wins over the ``NAME=`` reading)."""
        if "=" in arg and not Path(arg).exists():
            name, _, path = arg.partition("=")
            if _LABEL.match(name) and path:
                return cls(path, name)
        return cls(arg)


@dataclass
class Dataset:
    """Images as uint8 (N, 3, S, S) sRGB on the CPU, their class labels (N,) and class names."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    files: int = 0
    videos: int = 0
    description: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.images.shape[0]


def _expand(source: DataSource) -> list[Path]:
    """The image and video files a source names, sorted; an empty or missing source is an error."""
    raw = source.path
    p = Path(raw).expanduser()
    if p.is_dir():
        files = sorted(
            f
            for f in p.rglob("*")
            if f.is_file() and f.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS and not f.name.startswith(".")
        )
        if not files:
            raise TrainingDataError(
                f"--data {raw}: the folder holds no images or videos "
                f"({', '.join(sorted(IMAGE_EXTS))}; videos: {', '.join(sorted(VIDEO_EXTS))})"
            )
        return files
    if p.is_file():
        return [p]
    pattern = re.sub(r"%0?\d*d", "*", str(p))
    pattern = re.sub(r"#+", "*", pattern)
    if any(ch in pattern for ch in "*?["):
        files = sorted(Path(f) for f in globlib.glob(pattern) if Path(f).is_file())
        if not files:
            raise TrainingDataError(f"--data {raw}: no files match this pattern")
        return files
    raise TrainingDataError(f"--data {raw}: no such file or folder")


def _square(img, size: int) -> np.ndarray:
    """A PIL image composited over black, centre-cropped square, resized to size x size: uint8 (3, S, S)."""
    from PIL import Image

    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if ("A" in img.getbands() or "transparency" in img.info) else "RGB")
    if img.mode == "RGBA":
        black = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, img).convert("RGB")
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + s, top + s))
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def _load_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return _square(img, size)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise TrainingDataError(f"{path}: cannot read this image ({exc})") from None


def _load_video(path: Path, size: int, count: int) -> list[np.ndarray]:
    """``count`` frames sampled evenly over the video (all of them if it is shorter)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise TrainingDataError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            n = stream.frames
            if not n:
                dur = (
                    float(stream.duration * stream.time_base)
                    if stream.duration and stream.time_base
                    else (container.duration / 1e6 if container.duration else 0)
                )
                n = int(dur * float(stream.average_rate or 0))
            out: list[np.ndarray] = []
            if n > 0:
                wanted = sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist()))
                pos = 0
                for i, frame in enumerate(container.decode(stream)):
                    if i == wanted[pos]:
                        out.append(_square(frame.to_image(), size))
                        pos += 1
                        if pos == len(wanted):
                            break
            else:  # length unknown: keep every stride-th frame, thinning as it grows
                stride = 1
                for i, frame in enumerate(container.decode(stream)):
                    if i % stride == 0:
                        out.append(_square(frame.to_image(), size))
                        if len(out) >= 2 * count:
                            out, stride = out[::2], stride * 2
            return out
    except TrainingDataError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise TrainingDataError(f"{path}: cannot decode this video ({exc})") from None


def load_dataset(sources: list[DataSource | str], resolution: int, video_frames: int = 256) -> Dataset:
    """Read every source into memory at ``STORE_SCALE * resolution``; labels follow ``NAME=`` prefixes."""
    sources = [s if isinstance(s, DataSource) else DataSource.parse(s) for s in sources]
    if not sources:
        raise TrainingDataError("no training data: give --data PATH (or --data NAME=PATH per class)")
    labelled = [s.label is not None for s in sources]
    if any(labelled) and not all(labelled):
        raise TrainingDataError(
            "either every --data is NAME=PATH (a class-conditional model) or none is; "
            f"unlabelled: {', '.join(s.path for s in sources if s.label is None)}"
        )
    class_names: list[str] = []
    for s in sources:
        if s.label is not None and s.label not in class_names:
            class_names.append(s.label)
    size = int(round(resolution * STORE_SCALE))
    arrays, labels, description = [], [], []
    files = videos = 0
    for s in sources:
        before = len(arrays)
        for f in _expand(s):
            if f.suffix.lower() in IMAGE_EXTS:
                arrays.append(_load_image(f, size))
                files += 1
            else:
                frames = _load_video(f, size, video_frames)
                if not frames:
                    raise TrainingDataError(f"{f}: no frames could be decoded")
                arrays.extend(frames)
                videos += 1
        label = class_names.index(s.label) if s.label is not None else 0
        labels += [label] * (len(arrays) - before)
        description.append(f"{s.label + '=' if s.label else ''}{s.path}: {len(arrays) - before} images")
    images = torch.from_numpy(np.stack(arrays))
    return Dataset(images, torch.tensor(labels, dtype=torch.long), class_names, files, videos, description)


def augment(images: torch.Tensor, resolution: int, gen: torch.Generator, enabled: bool = True) -> torch.Tensor:
    """Float [0, 1] (B, 3, R, R) from uint8 stored images: a random resized crop (side 80-100 %,
    aspect within ~10 %), a horizontal flip half the time and a small brightness / contrast /
    saturation jitter (+-10 %). Random numbers come from ``gen`` (CPU), so a seed fixes them.
    Without ``enabled``: the whole image, resized.
    """
    x = images.float() / 255
    b, dev = x.shape[0], x.device
    if not enabled:
        return resample.resize(x, resolution, resolution, "bilinear").contiguous()
    r = torch.rand(b, 9, generator=gen)
    scale = CROP_RANGE[0] + (CROP_RANGE[1] - CROP_RANGE[0]) * r[:, 0]
    aspect = torch.exp((r[:, 1] - 0.5) * 0.2)
    sx = (scale * aspect.sqrt()).clamp(max=1.0)
    sy = (scale / aspect.sqrt()).clamp(max=1.0)
    tx = (r[:, 2] * 2 - 1) * (1 - sx)
    ty = (r[:, 3] * 2 - 1) * (1 - sy)
    flip = torch.where(r[:, 4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx * flip, tx, sy, ty
    height, width = x.shape[-2:]
    where = resample.pixel_matrices(theta.numpy(), width, height, (resolution, resolution))
    x = resample.warp_affine(x, where, (resolution, resolution), border="reflect").contiguous()
    jit = ((r[:, 5:8] * 2 - 1) * 0.1 + 1).to(dev).view(b, 3, 1, 1, 1)
    x = x * jit[:, 0]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * jit[:, 1] + mean
    gray = (x * torch.tensor(LUMA, device=dev).view(1, 3, 1, 1)).sum(1, keepdim=True)
    x = (x - gray) * jit[:, 2] + gray
    return x.clamp(0, 1)
