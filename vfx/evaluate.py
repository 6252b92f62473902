"""Comparing renders: per-frame PSNR/SSIM, temporal consistency, and a distribution distance (SWD).

Nothing here prints; ``vfx eval`` (vfx/cli/evaluate.py) is the front end.

**Inputs.** A video file (anything PyAV decodes), a folder of images (sorted by name, numbers in
names compared as numbers), a printf pattern such as ``frames/%04d.png`` (the contiguous run from
the lowest number found), or one image file. Every frame is compared as 8-bit RGB: videos are
decoded with PyAV and converted to ``rgb24`` (FFmpeg's swscale, the same conversion for both
inputs), images are read as 8-bit RGBA and the alpha channel is dropped (the stored colour values
are compared, alpha is not).

**Frame metrics** (``compare``): for each frame pair, scikit-image's
``peak_signal_noise_ratio(a, b, data_range=255)`` and
``structural_similarity(a, b, channel_axis=2, data_range=255)`` (7x7 uniform window; frames must be
at least 7 pixels on each side). Reported: per-frame values, the mean, the worst frame and its index
(0-based, in the order the frames are read). ``psnr.mean`` is the arithmetic mean of the per-frame
values, so it is ``inf`` as soon as one frame pair is identical; ``psnr.pooled`` is the PSNR of the
mean squared error over all frames (FFmpeg's ``psnr`` filter "average"), finite unless every frame
is identical. **Temporal consistency** of each input is the mean SSIM between consecutive frames
(frame i and i+1) over the compared frames; ``None`` for a single frame. A static clip scores 1.

**Mismatches.** Different frame sizes are an error. Different frame counts are an error unless
``prefix=True`` (``vfx eval --prefix``): then the first min(count A, count B) frames are compared
and a warning says so. All of these raise ``EvalError`` (exit status 2), as does a missing input.

**Distribution distance** (``swd``): the sliced Wasserstein distance between the 7x7 patches of
the Laplacian pyramids of two *sets* of images (Karras et al., 2018, "Progressive Growing of GANs
for Improved Quality, Stability, and Variation", section 5). It needs no pretrained network, so it
works offline on any kind of image. Pairing and order do not matter; only the image size must agree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import MediaError, VfxError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".tga"}
_PATTERN = re.compile(r"%0?\d*d")


class EvalError(VfxError, ValueError):
    """Inputs that cannot be compared: missing, unreadable, or of different sizes or lengths."""

    exit_code = 2


# ---------------------------------------------------------------------------------------------
# reading frames


def _natural_key(path: Path):
    """Sort key comparing the runs of digits in a name as numbers (f_2 before f_10)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


@dataclass
class FrameInput:
    """One side of a comparison: where its frames come from, how many, and their size."""

    spec: str
    kind: str  # "video", "sequence" (folder or pattern) or "image"
    width: int
    height: int
    frame_count: int
    files: list[Path] = field(default_factory=list)

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as uint8 (H, W, 3) RGB."""
        if self.kind == "video":
            yield from _video_frames(Path(self.spec))
            return
        from .media.images import read_image

        for f in self.files:
            try:
                rgb = read_image(f)[..., :3]
            except MediaError as exc:
                raise EvalError(str(exc)) from None
            if rgb.shape[:2] != (self.height, self.width):
                raise EvalError(
                    f"{f}: the image is {rgb.shape[1]}x{rgb.shape[0]}, the first of "
                    f"{self.spec} is {self.width}x{self.height}"
                )
            yield np.ascontiguousarray(rgb)

    def as_dict(self) -> dict:
        return {
            "path": self.spec,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "frames": self.frame_count,
        }


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    """Decode every frame of a video's first video stream as uint8 RGB."""
    import av
    from .media.probing import open_container

    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise EvalError(f"{path}: decoding failed: {exc}") from None
    finally:
        container.close()


def open_input(spec: str | Path) -> FrameInput:
    """Find the frames of a video, a folder of images, a printf pattern or one image."""
    from .media.images import read_image

    spec = str(spec)
    path = Path(spec)
    files: list[Path] | None = None
    kind = "sequence"
    if _PATTERN.search(path.name):
        folder = path.parent
        if not folder.is_dir():
            raise EvalError(f"{spec}: no such folder {folder}")
        regex = re.compile("^" + _PATTERN.sub(r"(\\d+)", re.escape(path.name).replace(r"\%", "%")) + "$")
        # only names the pattern itself produces ("f_%04d.png" matches f_0007.png, not f_7.png)
        numbers = sorted(
            int(m.group(1))
            for p in folder.iterdir()
            if (m := regex.match(p.name)) and path.name % int(m.group(1)) == p.name
        )
        if not numbers:
            raise EvalError(f"{spec}: no file matches the pattern")
        present, start, files = set(numbers), numbers[0], []
        while start + len(files) in present:
            files.append(folder / (path.name % (start + len(files))))
    elif path.is_dir():
        files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural_key
        )
        if not files:
            raise EvalError(f"{spec}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    elif not path.exists():
        raise EvalError(f"{spec}: no such file or folder")
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        files, kind = [path], "image"
    if files is not None:
        try:
            first = read_image(files[0])
        except MediaError as exc:
            raise EvalError(str(exc)) from None
        return FrameInput(spec, kind, first.shape[1], first.shape[0], len(files), files)
    from .media.probing import probe

    try:
        info = probe(path)
    except MediaError as exc:
        raise EvalError(str(exc)) from None
    if info.video is None:
        raise EvalError(f"{spec}: no video stream")
    return FrameInput(spec, "video", info.video.width, info.video.height, info.video.frame_count)


def load_images(spec: str | Path, limit: int | None = None) -> np.ndarray:
    """Frames of an input as one uint8 array (N, H, W, 3); at most ``limit`` of them."""
    src = open_input(spec)
    out = []
    frames = src.frames()
    try:
        for rgb in frames:
            out.append(rgb)
            if limit is not None and len(out) >= limit:
                break
    finally:
        frames.close()  # closes the video file now, not when the generator is collected
    if not out:
        raise EvalError(f"{spec}: no frames could be read")
    return np.stack(out)


# ---------------------------------------------------------------------------------------------
# frame-by-frame comparison


def psnr(mse: float) -> float:
    """PSNR of 8-bit frames from their mean squared error, as scikit-image computes it (``inf`` at 0)."""
    return math.inf if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's SSIM of two uint8 RGB frames (7x7 window, colour channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=255))


@dataclass
class FrameScore:
    """One frame pair's scores; ``index`` is 0-based in reading order."""

    index: int
    psnr: float
    ssim: float
    mse: float


@dataclass
class Comparison:
    """The result of ``compare``."""

    a: FrameInput
    b: FrameInput
    frames: list[FrameScore]
    temporal_a: float | None
    temporal_b: float | None
    warnings: list[str] = field(default_factory=list)

    @property
    def psnr_mean(self) -> float:
        return float(np.mean([f.psnr for f in self.frames]))

    @property
    def psnr_pooled(self) -> float:
        return psnr(float(np.mean([f.mse for f in self.frames])))

    @property
    def ssim_mean(self) -> float:
        return float(np.mean([f.ssim for f in self.frames]))

    @property
    def worst_psnr(self) -> FrameScore:
        return min(self.frames, key=lambda f: (f.psnr, f.index))

    @property
    def worst_ssim(self) -> FrameScore:
        return min(self.frames, key=lambda f: (f.ssim, f.index))

    def as_dict(self, per_frame: bool = True) -> dict:
        """JSON-ready: an infinite PSNR is the string ``"inf"`` (JSON has no Infinity)."""
        out = {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "frames": len(self.frames),
            "psnr": {
                "mean": json_float(self.psnr_mean),
                "pooled": json_float(self.psnr_pooled),
                "min": json_float(self.worst_psnr.psnr),
                "min_frame": self.worst_psnr.index,
            },
            "ssim": {"mean": self.ssim_mean, "min": self.worst_ssim.ssim, "min_frame": self.worst_ssim.index},
            "temporal_ssim": {"a": self.temporal_a, "b": self.temporal_b},
            "warnings": list(self.warnings),
        }
        if per_frame:
            out["per_frame"] = [{"index": f.index, "psnr": json_float(f.psnr), "ssim": f.ssim} for f in self.frames]
        return out


def json_float(x: float):
    """``inf`` as the string "inf" (and NaN as None) so the value survives any JSON parser."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if math.isnan(x):
        return None
    return x


ProgressFn = Callable[[str, int, int], None]


def compare(
    a: str | Path, b: str | Path, *, prefix: bool = False, temporal: bool = True, progress: ProgressFn | None = None
) -> Comparison:
    """PSNR and SSIM of each frame pair of ``a`` and ``b``, and each input's temporal consistency."""
    src_a, src_b = open_input(a), open_input(b)
    if (src_a.width, src_a.height) != (src_b.width, src_b.height):
        raise EvalError(
            f"frame sizes differ: {src_a.spec} is {src_a.width}x{src_a.height}, "
            f"{src_b.spec} is {src_b.width}x{src_b.height}"
        )
    if min(src_a.width, src_a.height) < 7:
        raise EvalError(f"frames of {src_a.width}x{src_a.height} are too small for SSIM (7x7 window)")
    warnings = []
    count = min(src_a.frame_count, src_b.frame_count)
    if src_a.frame_count != src_b.frame_count:
        msg = f"frame counts differ: {src_a.spec} has {src_a.frame_count}, {src_b.spec} has {src_b.frame_count}"
        if not prefix:
            raise EvalError(f"{msg} (--prefix compares the first {count})")
        warnings.append(f"{msg}; compared the first {count}")
    scores: list[FrameScore] = []
    temporal_sums = [0.0, 0.0]
    prev = None
    it_a, it_b = src_a.frames(), src_b.frames()
    try:
        for i in range(count):
            fa, fb = next(it_a, None), next(it_b, None)
            for src, f in ((src_a, fa), (src_b, fb)):
                if f is None:
                    raise EvalError(f"{src.spec}: ended after {i} frames, {src.frame_count} were expected")
            mse = float(np.mean((fa.astype(np.float64) - fb.astype(np.float64)) ** 2))
            scores.append(FrameScore(i, psnr(mse), ssim(fa, fb), mse))
            if temporal and prev is not None:
                temporal_sums[0] += ssim(prev[0], fa)
                temporal_sums[1] += ssim(prev[1], fb)
            prev = (fa, fb)
            if progress is not None:
                progress("eval", i + 1, count)
    finally:
        it_a.close()
        it_b.close()
    if not scores:
        raise EvalError("nothing to compare: an input has no frames")
    pairs = len(scores) - 1
    ta = temporal_sums[0] / pairs if temporal and pairs else None
    tb = temporal_sums[1] / pairs if temporal and pairs else None
    return Comparison(src_a, src_b, scores, ta, tb, warnings)


# ---------------------------------------------------------------------------------------------
# sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018)

_BINOMIAL = np.array([1, 4, 6, 4, 1], np.float64) / 16


def _blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur of (N, C, H, W) with reflected edges."""
    from scipy.ndimage import convolve1d

    x = convolve1d(x, _BINOMIAL, axis=2, mode="reflect")
    return convolve1d(x, _BINOMIAL, axis=3, mode="reflect")


def _pyr_down(x: np.ndarray) -> np.ndarray:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    up = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    up[:, :, ::2, ::2] = x * 4  # the zeros carry no energy: 2x per axis restores the mean
    return _blur(up)


def laplacian_pyramid(images: np.ndarray, min_size: int = 16) -> list[np.ndarray]:
    """Band-pass levels of (N, C, H, W) float images, finest first; the last is the low-pass residual
    at the first size below ``2 * min_size`` (64x64 gives 64, 32 and 16)."""
    levels = []
    cur = images
    while min(cur.shape[2:]) >= 2 * min_size and cur.shape[2] % 2 == 0 and cur.shape[3] % 2 == 0:
        down = _pyr_down(cur)
        levels.append(cur - _pyr_up(down))
        cur = down
    levels.append(cur)
    return levels


def _patches(level: np.ndarray, per_image: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``per_image`` random size x size patches of each image, flattened: (N * per_image, C*size*size)."""
    n, c, h, w = level.shape
    if h < size or w < size:
        raise EvalError(f"a pyramid level of {w}x{h} is smaller than the {size}x{size} patches")
    ys = rng.integers(0, h - size + 1, size=(n, per_image))
    xs = rng.integers(0, w - size + 1, size=(n, per_image))
    dy, dx = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    img = np.arange(n)[:, None, None, None]
    yy = ys[:, :, None, None] + dy  # (n, per, size, size)
    xx = xs[:, :, None, None] + dx
    out = level.transpose(0, 2, 3, 1)[img, yy, xx]  # (n, per, size, size, c)
    return out.transpose(0, 1, 4, 2, 3).reshape(n * per_image, c * size * size)


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, *, repeats: int = 4, directions: int = 128, rng: np.random.Generator
) -> float:
    """Sliced Wasserstein distance of two equally large point sets (rows): the mean over random
    unit directions of the 1-D Wasserstein-1 distance of the projections (sorted, compared)."""
    total = 0.0
    for _ in range(repeats):
        d = rng.standard_normal((directions, a.shape[1])).astype(np.float32)
        d /= np.sqrt((d**2).sum(1, keepdims=True))
        pa = np.sort(d @ a.T, axis=1)  # (directions, N): each row sorted in place, contiguous
        pb = np.sort(d @ b.T, axis=1)
        total += float(np.abs(pa - pb).mean())
    return total / repeats


@dataclass
class SWDResult:
    """SWD x 1000 per pyramid level (by its size, finest first) and their mean."""

    levels: dict[int, float]
    images: tuple[int, int]

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.levels.values())))

    def as_dict(self) -> dict:
        return {"mean": self.mean, "levels": {str(k): v for k, v in self.levels.items()}, "images": list(self.images)}


def swd(
    a: np.ndarray,
    b: np.ndarray,
    *,
    patches_per_image: int = 128,
    patch: int = 7,
    repeats: int = 4,
    directions: int = 128,
    min_size: int = 16,
    max_descriptors: int = 1 << 17,
    seed: int = 0,
) -> SWDResult:
    """Sliced Wasserstein distance between two sets of uint8 (N, H, W, 3) images, x 1000, per level.

    Following Karras et al. (2018): each image's Laplacian pyramid (5-tap binomial filter) from its
    full size down to 16x16; from every level ``patches_per_image`` random 7x7 patches, flattened
    into 147-D descriptors; per level and colour channel the descriptors are normalised to zero
    mean and unit variance; then the sliced Wasserstein distance with 4 x 128 random directions.
    One deliberate difference: the normalisation uses the statistics of both sets pooled (the
    original normalises each set by its own), so a global colour or brightness shift still counts.
    The two sets are sampled down to the same number of descriptors (at most ``max_descriptors``).
    Deterministic for a given ``seed``. Lower is closer; identical sets give 0 (up to sampling).
    """
    if a.ndim != 4 or b.ndim != 4 or a.shape[1:] != b.shape[1:]:
        raise EvalError(f"image sets must share one size: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b), max(1, max_descriptors // patches_per_image))
    sa = a[rng.choice(len(a), n, replace=False)] if len(a) > n else a
    sb = b[rng.choice(len(b), n, replace=False)] if len(b) > n else b
    pyr_a = laplacian_pyramid(sa.transpose(0, 3, 1, 2).astype(np.float32), min_size)
    pyr_b = laplacian_pyramid(sb.transpose(0, 3, 1, 2).astype(np.float32), min_size)
    levels = {}
    for la, lb in zip(pyr_a, pyr_b):
        da = _patches(la, patches_per_image, patch, rng)
        db = _patches(lb, patches_per_image, patch, rng)
        c = la.shape[1]
        both = np.concatenate([da, db]).reshape(-1, c, patch * patch)
        mean = both.mean(axis=(0, 2), keepdims=True)
        std = both.std(axis=(0, 2), keepdims=True) + 1e-8
        da = ((da.reshape(-1, c, patch * patch) - mean) / std).reshape(len(da), -1).astype(np.float32)
        db = ((db.reshape(-1, c, patch * patch) - mean) / std).reshape(len(db), -1).astype(np.float32)
        levels[la.shape[2]] = 1e3 * sliced_wasserstein(da, db, repeats=repeats, directions=directions, rng=rng)
    return SWDResult(levels, (len(a), len(b)))


def swd_paths(a: str | Path, b: str | Path, *, limit: int | None = None, seed: int = 0) -> SWDResult:
    """``swd`` of the frames of two inputs (videos, folders, patterns); at most ``limit`` of each."""
    return swd(load_images(a, limit), load_images(b, limit), seed=seed)
