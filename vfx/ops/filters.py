"""Filters: the Gaussian blur, the box blur and morphology (erode / dilate), each written once.

Layout: every op takes a float32 tensor (N, C, H, W) on any device (``blur_planes`` takes the
(N, H, W, C) planes that glows and particle buffers use) and returns a new tensor; the input is
never written. On a CPU the op runs in OpenCV when ``vfx.ops.backend.allows("opencv", x)``,
otherwise in torch (the same numbers within float rounding; ``tests/test_ops.py`` checks it).

Borders (``border=``):

- ``"replicate"``: the edge pixels repeat outwards (a picture's edge does not darken);
- ``"constant"``: zero outside the frame (light buffers, mattes of things that end at the edge).

Cost is bounded by the frame, whatever the sigma: a kernel reaching further than the frame is
cut to the frame's extent, which is exact (with ``"replicate"`` every tap past the far edge reads
the edge pixel, so their weights are added to the outermost tap; with ``"constant"`` they read 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from . import backend

if TYPE_CHECKING:
    from torch import Tensor

BORDERS = ("replicate", "constant")
#: the Gaussian kernel is cut at this many sigmas by default (as in scipy, scikit-image, OpenCV for floats)
TRUNCATE = 4.0
#: above this sigma (pixels) ``gaussian_blur`` with a replicate border works on a box-downsampled copy
MAX_DIRECT = 8.0


def _channels_last(t: Tensor) -> Tensor:
    import torch

    return t.contiguous(memory_format=torch.channels_last)


def _check_border(border: str) -> None:
    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}; borders are {', '.join(BORDERS)}")


def gaussian_kernel(
    sigma: float, truncate: float = TRUNCATE, extent: int | None = None, border: str = "replicate"
) -> np.ndarray:
    """The normalised 1-D Gaussian of ``sigma`` pixels cut at ``truncate`` sigmas (float32, odd length).

    The radius is ``max(1, ceil(truncate * sigma))``. With ``extent`` (the frame's length along
    the axis) the radius is at most ``extent - 1``: the weights beyond are added to the end taps
    (``border="replicate"``) or dropped (``"constant"``), which for a blur of a frame of that
    length changes nothing.
    """
    _check_border(border)
    r = max(1, int(math.ceil(truncate * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1, dtype=np.float64) / sigma) ** 2)
    k /= k.sum()
    if extent is not None:
        k = _fold(k, extent, border)
    return k.astype(np.float32)


def _per_frame_cv(x: Tensor, height: int, width: int, fn: Callable[[np.ndarray, np.ndarray], Any]) -> Tensor:
    """Run ``fn(src, dst)`` (OpenCV, HWC float32 arrays) on every frame of a CPU (N, C, H, W) tensor."""
    import torch

    n, c = x.shape[:2]
    out = torch.empty((n, height, width, c), dtype=torch.float32)
    src = x.permute(0, 2, 3, 1)
    for i in range(n):
        frame = src[i]
        if not frame.is_contiguous():
            frame = frame.contiguous()
        a, d = frame.numpy(), out[i].numpy()
        if c == 1:
            a, d = a.reshape(a.shape[:2]), d.reshape(d.shape[:2])
        fn(a, d)
    return out.permute(0, 3, 1, 2)


def separable(x: Tensor, kx: np.ndarray, ky: np.ndarray, border: str = "replicate") -> Tensor:
    """(N, C, H, W) ``x`` convolved with the odd-length 1-D kernels ``kx`` along rows and ``ky``
    along columns (correlation: a symmetric kernel is not flipped). A new channels-last tensor."""
    import torch

    _check_border(border)
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2

        cv_border = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
        if c > 4:  # OpenCV filters at most 4 interleaved channels
            return _channels_last(torch.cat([separable(x[:, i : i + 4], kx, ky, border) for i in range(0, c, 4)], 1))
        return _per_frame_cv(x, h, w, lambda a, d: cv2.sepFilter2D(a, -1, kx, ky, dst=d, borderType=cv_border))
    F = torch.nn.functional
    mode = "replicate" if border == "replicate" else "constant"
    rx, ry = (len(kx) - 1) // 2, (len(ky) - 1) // 2
    tx = torch.as_tensor(kx, device=x.device, dtype=x.dtype).view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    ty = torch.as_tensor(ky, device=x.device, dtype=x.dtype).view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    y = F.conv2d(F.pad(x, (rx, rx, 0, 0), mode=mode), tx, groups=c) if rx else x
    y = F.conv2d(F.pad(y, (0, 0, ry, ry), mode=mode), ty, groups=c) if ry else y
    return _channels_last(y)


def _blur_direct(x: Tensor, sigma: float, truncate: float, border: str) -> Tensor:
    """Two exact 1-D convolutions, each kernel cut to the frame's extent (see the module)."""
    h, w = x.shape[2:]
    return separable(
        x, gaussian_kernel(sigma, truncate, w, border), gaussian_kernel(sigma, truncate, h, border), border
    )


def gaussian_blur(
    x: Tensor, sigma: float, *, border: str = "replicate", truncate: float = TRUNCATE, max_direct: float = MAX_DIRECT
) -> Tensor:
    """A (N, C, H, W) float32 tensor blurred by a Gaussian of ``sigma`` pixels: a new channels-last tensor.

    ``border``: ``"replicate"`` or ``"constant"`` (zero), see the module. ``truncate``: the
    kernel is cut at that many sigmas (4, as in scipy and scikit-image, unless told).

    With ``"constant"``, or up to ``max_direct``, it is two exact 1-D convolutions. Above, with
    ``"replicate"``, the frame is box-downsampled by a power of two f (so that sigma / f is
    between max_direct / 2 and max_direct, while the frame stays 16 f or more), blurred there with
    sqrt(sigma^2 - (f^2 - 1)/12 - f^2/6) / f (the variance of the box and of the bilinear
    upsampling taken out), and upsampled bilinearly: close to the true Gaussian (against
    scikit-image on 0..1 pictures, mean error about 1e-4, largest about 1e-3), at a cost that
    hardly grows with sigma. The replicate border is reproduced at the coarse scale from the
    full-resolution edge rows and columns, so edges match a full-size replicate blur too. Either
    way the kernel is cut to the frame's extent (exact), so a huge sigma on a tiny frame is cheap.
    """
    import torch

    _check_border(border)
    sigma = float(sigma)
    n, c, h, w = x.shape
    if sigma <= 1e-3:
        return x.clone(memory_format=torch.channels_last)
    if border == "constant":
        return _blur_direct(x, sigma, truncate, border)
    max_direct = max(2.0, float(max_direct))
    f = 1
    while sigma / f > max_direct and min(h, w) >= 16 * f:
        f *= 2
    if f == 1:
        return _blur_direct(x, sigma, truncate, border)
    if backend.allows("opencv", x) and f <= _CV_COARSE_MAX and c in (3, 4):
        return _blur_coarse_cv(x, sigma, f, truncate)
    from .resample import downsample_box, upsample_bilinear

    F = torch.nn.functional
    ph, pw = (-h) % f, (-w) % f
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    small = downsample_box(xp, f)
    hc, wc = small.shape[2:]
    ss = _coarse_sigma(sigma, f)
    # The margin a replicate full-size blur would see: edge rows/columns repeated, then block-averaged.
    # It is constant outwards, so the replicate border of the padded frame continues it: any width
    # of at least 2 gives the same result (the kernel is cut to the padded frame's extent).
    m = min(int(math.ceil(truncate * ss)) + 1, max(hc, wc) + 2)
    top = F.avg_pool2d(xp[:, :, :1, :], (1, f)).expand(-1, -1, m, -1)
    bottom = F.avg_pool2d(xp[:, :, -1:, :], (1, f)).expand(-1, -1, m, -1)
    left = F.avg_pool2d(xp[:, :, :, :1], (f, 1)).expand(-1, -1, -1, m)
    right = F.avg_pool2d(xp[:, :, :, -1:], (f, 1)).expand(-1, -1, -1, m)

    def corner(yy: int, xx: int) -> Tensor:
        return xp[:, :, yy, xx].reshape(n, c, 1, 1).expand(-1, -1, m, m)

    big = torch.cat(
        [
            torch.cat([corner(0, 0), top, corner(0, -1)], 3),
            torch.cat([left, small, right], 3),
            torch.cat([corner(-1, 0), bottom, corner(-1, -1)], 3),
        ],
        2,
    )
    big = _blur_direct(_channels_last(big), ss, truncate, border)
    up = upsample_bilinear(_channels_last(big[:, :, m - 1 : m + hc + 1, m - 1 : m + wc + 1]), f)
    return _channels_last(up[:, :, f : f + h, f : f + w])


#: the largest downsampling factor ``_blur_coarse_cv`` takes: its bilinear enlargement reads
#: positions in steps of 1 / (2 f), which OpenCV's warp (1/32 pixel steps) then holds exactly
_CV_COARSE_MAX = 16


def _coarse_sigma(sigma: float, f: int) -> float:
    """The sigma at 1 / f scale that gives ``sigma`` after the f x f box and the bilinear enlargement."""
    return math.sqrt(max(sigma * sigma - (f * f - 1) / 12 - f * f / 6, (0.5 * f) ** 2)) / f


def _blur_coarse_cv(x: Tensor, sigma: float, f: int, truncate: float) -> Tensor:
    """``gaussian_blur``'s downsampled path frame by frame in OpenCV, with no full-size temporary:
    the box-downsampled frame is written inside its margin, blurred, and enlarged straight into
    the output by one warp (the crop and the enlargement in one pass). The same numbers as the
    torch steps (``tests/test_ops.py``)."""
    import cv2

    from ..frames import empty_planes

    n, c, h, w = x.shape
    ph, pw = (-h) % f, (-w) % f
    hc, wc = (h + ph) // f, (w + pw) // f
    ss = _coarse_sigma(sigma, f)
    m = min(int(math.ceil(truncate * ss)) + 1, max(hc, wc) + 2)
    kx = gaussian_kernel(ss, truncate, wc + 2 * m, "replicate")
    ky = gaussian_kernel(ss, truncate, hc + 2 * m, "replicate")
    # output pixel x reads coarse position (x + 0.5) / f - 0.5 of the inner frame, which starts at m
    shift = m + 0.5 / f - 0.5
    warp = np.array([[1 / f, 0, shift], [0, 1 / f, shift]], np.float64)
    out = empty_planes((n, h, w, c))
    src, dst = x.permute(0, 2, 3, 1), out.numpy()
    big = np.empty((hc + 2 * m, wc + 2 * m, c), np.float32)
    for i in range(n):
        frame = src[i] if src[i].is_contiguous() else src[i].contiguous()
        a = frame.numpy()
        if ph or pw:
            a = cv2.copyMakeBorder(a, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        cv2.resize(a, (wc, hc), dst=big[m : m + hc, m : m + wc], interpolation=cv2.INTER_AREA)
        # the margin a full-size replicate blur sees: edge rows and columns block-averaged, corners
        big[:m, m : m + wc] = a[0].reshape(wc, f, c).mean(1)
        big[m + hc :, m : m + wc] = a[-1].reshape(wc, f, c).mean(1)
        big[m : m + hc, :m] = a[:, 0].reshape(hc, f, c).mean(1)[:, None]
        big[m : m + hc, m + wc :] = a[:, -1].reshape(hc, f, c).mean(1)[:, None]
        big[:m, :m], big[:m, m + wc :] = a[0, 0], a[0, -1]
        big[m + hc :, :m], big[m + hc :, m + wc :] = a[-1, 0], a[-1, -1]
        blurred = cv2.sepFilter2D(big, -1, kx, ky, borderType=cv2.BORDER_REPLICATE)
        cv2.warpAffine(
            blurred,
            warp,
            (w, h),
            dst=dst[i],
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    return out.permute(0, 3, 1, 2)


def gaussian_blur_frames(x: Tensor, sigmas: npt.ArrayLike, **kwargs: Any) -> Tensor:
    """``gaussian_blur`` with one sigma per frame of ``x`` (frames with equal sigma blurred together)."""
    import torch

    per_frame = np.broadcast_to(np.asarray(sigmas, np.float64), (x.shape[0],))
    values = np.unique(per_frame)
    if len(values) == 1:
        return gaussian_blur(x, float(values[0]), **kwargs)
    out = torch.empty_like(x, memory_format=torch.channels_last)
    for sigma in values:
        rows = np.flatnonzero(per_frame == sigma).tolist()
        out[rows] = gaussian_blur(x[rows], float(sigma), **kwargs)
    return out


def blur_planes(img: Tensor, sigma: float, *, border: str = "constant", truncate: float = TRUNCATE) -> Tensor:
    """``gaussian_blur`` of (N, H, W, C) planes (exact, no downsampling): a new contiguous (N, H, W, C) tensor."""
    if sigma <= 0:
        return img
    out = _blur_direct(img.permute(0, 3, 1, 2), float(sigma), truncate, border)
    return out.permute(0, 2, 3, 1).contiguous()


def box_blur(x: Tensor, radius: int, *, border: str = "replicate") -> Tensor:
    """The mean over a (2 radius + 1)-pixel square around each pixel of (N, C, H, W) ``x``.

    ``"constant"`` counts the zeros outside the frame (the sum divided by the full window).
    """
    radius = int(radius)
    if radius <= 0:
        return x.clone()
    size = 2 * radius + 1
    h, w = x.shape[2:]
    kx = np.full(size, 1 / size, np.float32)
    # a window wider than the frame: the taps beyond it fold onto the edge (exact, as for the Gaussian)
    return separable(x, _fold(kx, w, border), _fold(kx, h, border), border)


def _fold(k: np.ndarray, extent: int, border: str) -> np.ndarray:
    r = (len(k) - 1) // 2
    c = max(extent - 1, 0)
    if r <= c:
        return k
    inner = k[r - c : r + c + 1].copy()
    if border == "replicate":
        inner[0] += k[: r - c].sum()
        inner[-1] += k[r + c + 1 :].sum()
    return inner


def _morph(x: Tensor, size: int, dilate: bool) -> Tensor:
    import torch

    size = int(size)
    if size <= 0:
        return x.clone()
    if backend.allows("opencv", x) and x.shape[1] <= 4:
        import cv2

        n, c, h, w = x.shape
        kernel = np.ones((2 * size + 1, 2 * size + 1), np.uint8)
        op = cv2.dilate if dilate else cv2.erode
        return _per_frame_cv(x, h, w, lambda a, d: np.copyto(d, op(a, kernel).reshape(d.shape)))
    pool = torch.nn.functional.max_pool2d
    k = min(size, max(x.shape[2:]))  # a window past the frame takes nothing more in
    y = x if dilate else -x
    y = pool(y, (1, 2 * k + 1), stride=1, padding=(0, k))
    y = pool(y, (2 * k + 1, 1), stride=1, padding=(k, 0))
    return y if dilate else -y


def erode(x: Tensor, size: int) -> Tensor:
    """(N, C, H, W) ``x``: the minimum over a (2 size + 1)-pixel square; outside the frame counts
    as nothing (the frame's edge neither erodes nor grows). A new tensor."""
    return _morph(x, size, dilate=False)


def dilate(x: Tensor, size: int) -> Tensor:
    """(N, C, H, W) ``x``: the maximum over a (2 size + 1)-pixel square; the border as ``erode``."""
    return _morph(x, size, dilate=True)
