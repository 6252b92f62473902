"""Helpers shared by the built-in effects: straight/premultiplied conversion, sRGB curves and the
Gaussian blur (``gaussian_blur`` is public: glows, explosions and lightning use the same one)."""
from __future__ import annotations

import math

import numpy as np

from vfx.ops import backend


#: Rec.709 / sRGB luma weights for linear RGB
LUMA = (0.2126, 0.7152, 0.0722)
#: the Gaussian kernel is cut at this many sigmas (as in scipy and scikit-image)
BLUR_TRUNCATE = 4.0
#: above this sigma (pixels) ``gaussian_blur`` works on a box-downsampled copy
BLUR_MAX_DIRECT = 8.0
# --- small tensor helpers ------------------------------------------------------------------------

def _channels_last(t):
    import torch
    return t.contiguous(memory_format=torch.channels_last)


def _col(values, like):
    """Per-frame values (N,) or (N, k) as a float32 (N, k, 1, 1) tensor on ``like``'s device."""
    import torch
    v = torch.as_tensor(np.ascontiguousarray(values, dtype=np.float32), device=like.device)
    if v.ndim == 1:
        v = v[:, None]
    return v[:, :, None, None]


def _straight(px, has_alpha: bool = True):
    """(rgb, alpha) of premultiplied pixels: colour divided by alpha, 0 where alpha is 0."""
    import torch
    a = px[:, 3:4]
    if not has_alpha:
        return px[:, :3], a
    inv = torch.where(a > 1e-6, 1.0 / a.clamp_min(1e-6), torch.zeros((), device=px.device))
    return px[:, :3] * inv, a


def _assemble(rgb, alpha, *, premultiply: bool, out):
    """Colour and alpha (colour times alpha where ``premultiply``) written into ``out``, a
    channels-last (N, 4, H, W) tensor."""
    if premultiply:
        import torch
        torch.mul(rgb, alpha, out=out[:, :3])
    else:
        out[:, :3] = rgb
    out[:, 3:4] = alpha
    return out


def _luma(rgb):
    return rgb[:, 0:1] * LUMA[0] + rgb[:, 1:2] * LUMA[1] + rgb[:, 2:3] * LUMA[2]


def srgb_encode(x):
    """Linear to sRGB-encoded values: a new tensor; negatives stay on the linear segment.

    Written as pow(max(x, c)) + 12.92 (min(x, c) - c), which is the two-piece curve exactly
    (the pieces meet at c) without a per-pixel select; on a CPU in three OpenCV passes.
    """
    c = 0.0031308
    if backend.allows("opencv", x):
        import cv2
        import torch
        a = x.contiguous().numpy().reshape(-1, x.shape[-1])
        high = cv2.pow(cv2.max(a, c), 1 / 2.4)
        cv2.addWeighted(high, 1.055, cv2.min(a, c), 12.92, -(0.055 + 12.92 * c), dst=high)
        return torch.from_numpy(high).view(x.shape)
    return x.clamp_min(c).pow_(1 / 2.4).mul_(1.055).sub_(0.055 + 12.92 * c).add_(x.clamp_max(c).mul_(12.92))


def srgb_decode(x):
    """sRGB-encoded to linear values (torch); values above 1 follow the power curve."""
    d = 0.04045
    return _pow_(x.clamp_min(d).add_(0.055).div_(1.055), 2.4).sub_(d / 12.92).add_(x.clamp_max(d).div_(12.92))


def _pow_(x, exponent):
    """``x ** exponent`` in place, for x >= 0; ``exponent`` a number or one per frame (and channel).

    On a CPU OpenCV's ``pow`` runs it (about three times faster than torch's), frame by frame.
    """
    import torch
    if not (backend.allows("opencv", x) and x.is_contiguous()):
        return x.pow_(exponent)
    import cv2
    e = np.asarray(exponent.cpu() if torch.is_tensor(exponent) else exponent, np.float64)
    e = np.broadcast_to(e.reshape(e.shape[0], -1) if e.ndim else e, x.shape[:2])     # (frames, channels)
    def power(a, e: float):
        if e == 0.0:
            a.fill(1.0)                      # OpenCV's pow refuses an exponent of 0 in place
        else:
            cv2.pow(a, e, dst=a)

    for k in range(x.shape[0]):
        if np.all(e[k] == e[k, 0]):
            power(x[k].numpy(), float(e[k, 0]))
        else:
            for c in range(x.shape[1]):
                power(x[k, c].numpy(), float(e[k, c]))
    return x


def _linear_rgb(colors):
    """(N, 4) straight sRGB option values to (N, 3) linear RGB (float64 numpy)."""
    from vfx.ops.color import srgb_to_linear
    return srgb_to_linear(np.asarray(colors)[:, :3])


def _groups(values):
    """Frame positions grouped by equal value: [(value, [positions])]."""
    values = np.asarray(values)
    return [(float(v), np.flatnonzero(values == v).tolist()) for v in np.unique(values)]


# --- Gaussian blur ---------------------------------------------------------------------------------

def gaussian_kernel(sigma: float, truncate: float = BLUR_TRUNCATE) -> np.ndarray:
    """The normalised 1-D Gaussian, cut at ``truncate`` sigmas (float32, odd length)."""
    r = max(1, int(math.ceil(truncate * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _per_frame_cv(x, height: int, width: int, fn):
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


def _blur_direct(x, sigma: float):
    """Two 1-D convolutions with clamped edges (OpenCV on the CPU, torch conv2d on a GPU)."""
    import torch
    k = gaussian_kernel(sigma)
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2
        return _per_frame_cv(x, h, w, lambda a, d: cv2.sepFilter2D(
            a, -1, k, k, dst=d, borderType=cv2.BORDER_REPLICATE))
    F = torch.nn.functional
    r = (len(k) - 1) // 2
    kt = torch.as_tensor(k, device=x.device)
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kt.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kt.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return _channels_last(y)


def _downsample(x, f: int):
    """Mean of every f x f block (dimensions must be multiples of f)."""
    import torch
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2
        return _per_frame_cv(x, h // f, w // f, lambda a, d: cv2.resize(
            a, (w // f, h // f), dst=d, interpolation=cv2.INTER_AREA))
    return torch.nn.functional.avg_pool2d(x, f)


def _upsample(x, f: int):
    """Bilinear upsampling by an integer factor (pixel centres aligned, as align_corners=False)."""
    import torch
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2
        return _per_frame_cv(x, h * f, w * f, lambda a, d: cv2.resize(
            a, (w * f, h * f), dst=d, interpolation=cv2.INTER_LINEAR))
    return torch.nn.functional.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)


def gaussian_blur(x, sigma: float, *, max_direct: float = BLUR_MAX_DIRECT):
    """A (N, C, H, W) float32 tensor blurred by a Gaussian of ``sigma`` pixels; edges clamped.

    Returns a new tensor (the input is not modified). Up to ``max_direct`` it is two exact 1-D
    convolutions (kernel cut at 4 sigma). Above, the frame is box-downsampled by a power of two
    f (so that sigma / f is between max_direct / 2 and max_direct), blurred there with
    sqrt(sigma^2 - (f^2 - 1)/12 - f^2/6) / f (the variance of the box and of the bilinear
    upsampling taken out), and upsampled bilinearly. The clamped border is reproduced at the
    coarse scale from the full-resolution edge rows and columns, so edges match a clamped
    full-size Gaussian too.
    """
    import torch
    sigma = float(sigma)
    n, c, h, w = x.shape
    if sigma <= 1e-3:
        return x.clone(memory_format=torch.channels_last)
    max_direct = max(2.0, float(max_direct))
    f = 1
    while sigma / f > max_direct and min(h, w) >= 16 * f:
        f *= 2
    if f == 1:
        return _blur_direct(x, sigma)
    F = torch.nn.functional
    ph, pw = (-h) % f, (-w) % f
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    small = _downsample(xp, f)
    hc, wc = small.shape[2:]
    ss = math.sqrt(max(sigma * sigma - (f * f - 1) / 12 - f * f / 6, (0.5 * f) ** 2)) / f
    m = int(math.ceil(BLUR_TRUNCATE * ss)) + 1
    # The margin a clamped full-size blur would see: edge rows/columns repeated, then block-averaged.
    top = F.avg_pool2d(xp[:, :, :1, :], (1, f)).expand(-1, -1, m, -1)
    bottom = F.avg_pool2d(xp[:, :, -1:, :], (1, f)).expand(-1, -1, m, -1)
    left = F.avg_pool2d(xp[:, :, :, :1], (f, 1)).expand(-1, -1, -1, m)
    right = F.avg_pool2d(xp[:, :, :, -1:], (f, 1)).expand(-1, -1, -1, m)

    def corner(yy, xx):
        return xp[:, :, yy, xx].reshape(n, c, 1, 1).expand(-1, -1, m, m)

    big = torch.cat([
        torch.cat([corner(0, 0), top, corner(0, -1)], 3),
        torch.cat([left, small, right], 3),
        torch.cat([corner(-1, 0), bottom, corner(-1, -1)], 3)], 2)
    big = _blur_direct(_channels_last(big), ss)
    up = _upsample(_channels_last(big[:, :, m - 1:m + hc + 1, m - 1:m + wc + 1]), f)
    return _channels_last(up[:, :, f:f + h, f:f + w])


def _blur_per_frame(x, sigmas, max_direct: float = BLUR_MAX_DIRECT):
    """``gaussian_blur`` with one sigma per frame (frames with equal sigma blurred together)."""
    groups = _groups(sigmas)
    if len(groups) == 1:
        return gaussian_blur(x, groups[0][0], max_direct=max_direct)
    import torch
    out = torch.empty_like(x, memory_format=torch.channels_last)
    for sigma, rows in groups:
        out[rows] = gaussian_blur(x[rows], sigma, max_direct=max_direct)
    return out
