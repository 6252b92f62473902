"""Colour: the sRGB curve, premultiplied alpha, Rec.709 luma and the BT.709 Y'CbCr matrix, each
written once; and the conversion boundary between 8/16-bit media pixels and the graph's linear float RGBA.

Inside the graph pixels are (N, 4, H, W) float32 RGBA, linear light, premultiplied alpha.

- ``srgb_encode`` / ``srgb_decode``: the IEC 61966-2-1 curve on tensors of any shape and device
  (values outside 0..1 follow the curve's pieces: negatives the linear one, above 1 the power);
  ``linear_to_srgb`` / ``srgb_to_linear``: the same in float64 numpy (option colours, tables).
- ``unpremultiply`` / ``premultiply``: straight colour of (N, 4, H, W) pixels (0 where alpha is
  at most 1e-6) and back.
- ``LUMA`` and ``luma``: Rec.709 / sRGB weights (0.2126, 0.7152, 0.0722), applied to linear RGB
  (luminance) or to encoded R'G'B' (luma Y'); ``BT709_CB`` / ``BT709_CR``: the Y'CbCr rows.
- ``hex_to_rgb`` / ``rgb_to_hex``: ``"#rrggbb"`` and (r, g, b) floats in 0..1.

Sources call ``to_linear``; encoders call ``from_linear``. Video is decoded to RGB with its own
matrix and range (see ``vfx.media.colorspace``); the transfer function is the sRGB curve, exact
to 16 bits. On the CPU the curves are table lookups (OpenCV's SIMD ``LUT`` for 8-bit input, a
65536-entry table for 16-bit input, a 16-bit table out), tables made once from ``srgb_to_linear``
and ``linear_to_srgb``. On a CPU the tensor curves run in OpenCV when
``vfx.ops.backend.allows("opencv", x)``; the Numba kernels' scalar versions are in ``vfx.ops.jit``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import backend

if TYPE_CHECKING:
    import torch
    from torch import Tensor

_OUT_BITS = 65535

#: Rec.709 / sRGB weights of R, G, B in luminance (linear RGB) and in luma Y' (encoded R'G'B')
LUMA = (0.2126, 0.7152, 0.0722)
_KR, _KG, _KB = LUMA
#: BT.709 Y'CbCr: Cb = (B' - Y') / 1.8556, Cr = (R' - Y') / 1.5748 as weights of R', G', B'
BT709_CB = (-_KR / (2 * (1 - _KB)), -_KG / (2 * (1 - _KB)), 0.5)
BT709_CR = (0.5, -_KG / (2 * (1 - _KR)), -_KB / (2 * (1 - _KR)))
#: rows Y', Cb, Cr: R'G'B' (0..1) to Y'CbCr (Y' 0..1, Cb and Cr -0.5..0.5); the inverse is ``BT709_INVERSE``
BT709 = np.array([LUMA, BT709_CB, BT709_CR])
BT709_INVERSE = np.linalg.inv(BT709)


def srgb_to_linear(values: npt.ArrayLike) -> np.ndarray:
    """Exact sRGB decode of floats (float64 numpy; for colours given in options, and the tables)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: npt.ArrayLike) -> np.ndarray:
    """Exact sRGB encode of linear floats (float64 numpy); the inverse of ``srgb_to_linear``."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(np.maximum(v, 0.0031308), 1 / 2.4) - 0.055)


@functools.cache
def _decode_lut() -> np.ndarray:
    return srgb_to_linear(np.arange(256, dtype=np.float64) / 255).astype(np.float32)


@functools.cache
def _encode_lut(levels: int = 256) -> np.ndarray:
    s = linear_to_srgb(np.arange(_OUT_BITS + 1, dtype=np.float64) / _OUT_BITS)
    dtype = np.uint8 if levels == 256 else np.uint16
    return np.clip(np.floor(s * (levels - 1) + 0.5), 0, levels - 1).astype(dtype)


@functools.cache
def _decode_lut16() -> np.ndarray:
    return srgb_to_linear(np.arange(_OUT_BITS + 1, dtype=np.float64) / _OUT_BITS).astype(np.float32)


@functools.cache
def _decode_lut_rgba() -> np.ndarray:
    alpha = np.arange(256, dtype=np.float32) / 255
    return np.stack([_decode_lut()] * 3 + [alpha], axis=1).reshape(256, 1, 4)


_SQRT_BUCKETS = 256


@functools.cache
def _encode8_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables for the exact 8-bit sRGB encode in the square-root domain.

    With s = sqrt(linear), 256 equal buckets of s each hold at most two code boundaries, so
    ``code = base[b] + (s >= t1[b]) + (s >= t2[b])`` with ``b = floor(256 s)``: three 8-bit
    lookups and two compares, all SIMD in OpenCV, instead of a 16-bit gather.
    """
    k = np.arange(1, 256)
    v = (k - 0.5) / 255
    starts = np.sqrt(srgb_to_linear(v))
    base = np.zeros(_SQRT_BUCKETS, np.uint8)
    t1 = np.full(_SQRT_BUCKETS, np.nan, np.float32)  # no boundary: s >= NaN is never true
    t2 = np.full(_SQRT_BUCKETS, np.nan, np.float32)
    for b in range(_SQRT_BUCKETS):
        lo, hi = b / _SQRT_BUCKETS, (b + 1) / _SQRT_BUCKETS
        base[b] = np.count_nonzero(starts < lo)
        inside = starts[(starts >= lo) & (starts <= hi)]
        assert len(inside) <= 2
        t1[b : b + 1] = inside[:1] if len(inside) else np.nan
        t2[b : b + 1] = inside[1:2] if len(inside) > 1 else np.nan
    return base, t1, t2


_scratch = threading.local()


def _buffer(name: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
    """A per-thread scratch array reused frame after frame (no allocator churn, no page faults)."""
    cache = _scratch.__dict__.setdefault("buffers", {})
    key = (name, shape, np.dtype(dtype).str)
    buf = cache.get(key)
    if buf is None:
        if len(cache) > 32:
            cache.clear()
        buf = cache[key] = np.empty(shape, dtype)
    return buf


def encode_srgb8(linear: np.ndarray, out: np.ndarray) -> np.ndarray:
    """float32 linear values (H, W, C<=4) to uint8 sRGB codes written into ``out``."""
    import cv2

    if not out.flags.c_contiguous:  # OpenCV would silently write into a new array instead
        np.copyto(out, encode_srgb8(linear, _buffer("out", out.shape, np.uint8)))
        return out
    base, t1, t2 = _encode8_tables()
    shape = linear.shape
    s = _buffer("s", shape, np.float32)
    bucket = _buffer("bucket", shape, np.uint8)
    edge = _buffer("edge", shape, np.float32)
    up = _buffer("up", shape, np.uint8)
    np.clip(linear, 0.0, 1.0, out=s)
    cv2.sqrt(s, dst=s)
    cv2.convertScaleAbs(s, dst=bucket, alpha=_SQRT_BUCKETS, beta=-0.5)
    cv2.LUT(bucket, base, dst=out)
    for table in (t1, t2):
        cv2.LUT(bucket, table, dst=edge)
        cv2.compare(s, edge, cv2.CMP_GE, dst=up)
        np.bitwise_and(up, 1, out=up)
        np.add(out, up, out=out)
    return out


def linear_to_srgba8(frame: np.ndarray, alpha: bool, out: np.ndarray) -> np.ndarray:
    """One (H, W, 4) premultiplied linear frame into ``out``, (H, W, 4) uint8 straight sRGB.

    Without ``alpha`` the alpha channel of ``out`` is meaningless (the frame is over black).
    """
    if alpha:
        frame = _unpremultiplied(frame)
    elif not frame.flags.c_contiguous:
        frame = np.ascontiguousarray(frame)
    encode_srgb8(frame, out)
    if alpha:
        np.multiply(frame[..., 3], 255, out=_buffer("a", frame.shape[:2], np.float32))
        out[..., 3] = np.clip(_buffer("a", frame.shape[:2], np.float32) + 0.5, 0, 255)
    return out


def linear_rgba(color: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A straight sRGB colour option as premultiplied linear RGBA."""
    r, g, b = srgb_to_linear(color[:3]).tolist()
    a = float(color[3])
    return (r * a, g * a, b * a, a)


def to_linear(rgba8: np.ndarray, device: str | torch.device = "cpu", premultiply: bool = True) -> Tensor:
    """uint8 or uint16 (N, H, W, 4) straight sRGB + alpha to a (N, 4, H, W) premultiplied linear tensor.

    ``premultiply=False`` skips the multiply when every alpha is known to be opaque.
    """
    import cv2
    import torch

    from ..frames import empty_pixels

    n, h, w, c = rgba8.shape
    if c != 4:
        raise ValueError(f"to_linear expects RGBA, got {c} channels")
    if rgba8.dtype == np.uint16:
        return _to_linear16(rgba8, device, premultiply)
    if str(device) != "cpu":
        src = torch.from_numpy(rgba8).pin_memory().to(device, non_blocking=True)
        lut = torch.from_numpy(_decode_lut()).to(device)
        rgb = lut[src[..., :3].long()]
        alpha = src[..., 3:4].float() / 255
        return torch.cat([rgb * alpha, alpha], dim=-1).permute(0, 3, 1, 2)
    pixels = empty_pixels(n, h, w)
    nhwc = pixels.permute(0, 2, 3, 1).numpy()
    table = _decode_lut_rgba()
    for i in range(n):
        cv2.LUT(rgba8[i], table, dst=nhwc[i])
        if premultiply:
            np.multiply(nhwc[i, ..., :3], nhwc[i, ..., 3:4], out=nhwc[i, ..., :3])
    return pixels


def _to_linear16(rgba16: np.ndarray, device: str | torch.device, premultiply: bool) -> Tensor:
    """``to_linear`` for 16-bit input: one 65536-entry table, no 8-bit step."""
    import torch

    from ..frames import empty_pixels

    n, h, w, _ = rgba16.shape
    if str(device) != "cpu":
        src = torch.from_numpy(np.ascontiguousarray(rgba16).view(np.int16)).pin_memory().to(device, non_blocking=True)
        src = src.long() & 0xFFFF
        lut = torch.from_numpy(_decode_lut16()).to(device)
        rgb = lut[src[..., :3]]
        alpha = src[..., 3:4].float() / _OUT_BITS
        return torch.cat([rgb * alpha if premultiply else rgb, alpha], dim=-1).permute(0, 3, 1, 2)
    pixels = empty_pixels(n, h, w)
    nhwc = pixels.permute(0, 2, 3, 1).numpy()
    table = _decode_lut16()
    for i in range(n):
        nhwc[i, ..., :3] = table[rgba16[i, ..., :3]]
        np.multiply(rgba16[i, ..., 3], np.float32(1 / _OUT_BITS), out=nhwc[i, ..., 3], casting="unsafe")
        if premultiply:
            np.multiply(nhwc[i, ..., :3], nhwc[i, ..., 3:4], out=nhwc[i, ..., :3])
    return pixels


def from_linear(pixels: Tensor, alpha: bool, bits: int = 8, channels: int | None = None) -> np.ndarray:
    """A (N, 4, H, W) premultiplied linear tensor to (N, H, W, C) straight sRGB integers.

    Without ``alpha`` the frame is composited over black, which for premultiplied pixels is
    just dropping the alpha channel. ``C`` is 4 with ``alpha``, else 3; ``channels=4`` asks for
    RGBA even when opaque (cheaper to hand to swscale than packed RGB on the CPU path).
    """
    channels = channels or (4 if alpha else 3)
    if pixels.device.type != "cpu":
        return _from_linear_torch(pixels, alpha, bits, channels)
    nhwc = pixels.permute(0, 2, 3, 1).numpy()
    n, h, w, _ = nhwc.shape
    if bits == 8:
        out = np.empty((n, h, w, 4), np.uint8)
        for i in range(n):
            linear_to_srgba8(nhwc[i], alpha, out[i])
        return out if channels == 4 else out[..., :3]
    levels = 65536
    frames = np.stack([_unpremultiplied(f) for f in nhwc]) if alpha else nhwc[..., :channels]
    scaled = np.multiply(frames, float(_OUT_BITS))
    np.add(scaled, 0.5, out=scaled)
    np.clip(scaled, 0, _OUT_BITS, out=scaled)
    idx = scaled.astype(np.uint16)
    out = np.take(_encode_lut(levels), idx)
    if alpha:
        out[..., 3] = idx[..., 3]
    return out[..., :channels]


def _unpremultiplied(frame: np.ndarray) -> np.ndarray:
    straight = np.zeros(frame.shape, np.float32)
    a = frame[..., 3:4]
    np.divide(frame[..., :3], a, out=straight[..., :3], where=a > 1e-6)
    straight[..., 3:4] = a
    return straight


def _from_linear_torch(pixels: Tensor, alpha: bool, bits: int, channels: int) -> np.ndarray:
    import torch

    levels = 256 if bits == 8 else 65536
    nhwc = pixels.permute(0, 2, 3, 1).clamp(0, 1)
    a = nhwc[..., 3:4]
    rgb = nhwc[..., :3]
    if alpha:
        rgb = torch.where(a > 1e-6, rgb / a.clamp_min(1e-6), torch.zeros_like(rgb))
    s = srgb_encode(rgb)
    s = torch.cat([s, a], dim=-1) if channels == 4 else s
    out = (s * (levels - 1) + 0.5).floor_().clamp_(0, levels - 1)
    if bits == 8:
        return out.to(torch.uint8).cpu().numpy()
    return out.to(torch.int32).cpu().numpy().astype(np.uint16)


# --- tensor ops (any device) ---------------------------------------------------------------------


def srgb_encode(x: Tensor) -> Tensor:
    """Linear to sRGB-encoded values of a float tensor of any shape: a new tensor.

    Negatives stay on the linear segment. Written as pow(max(x, c)) + 12.92 (min(x, c) - c),
    which is the two-piece curve exactly (the pieces meet at c) without a per-pixel select; on a
    CPU in three OpenCV passes.
    """
    c = 0.0031308
    if backend.allows("opencv", x) and x.dtype.is_floating_point and x.element_size() == 4:
        import cv2
        import torch

        a = x.contiguous().numpy().reshape(-1, x.shape[-1] if x.ndim else 1)
        high = cv2.pow(cv2.max(a, c), 1 / 2.4)
        cv2.addWeighted(high, 1.055, cv2.min(a, c), 12.92, -(0.055 + 12.92 * c), dst=high)
        return torch.from_numpy(high).view(x.shape)
    return x.clamp_min(c).pow_(1 / 2.4).mul_(1.055).sub_(0.055 + 12.92 * c).add_(x.clamp_max(c).mul_(12.92))


def srgb_decode(x: Tensor) -> Tensor:
    """sRGB-encoded to linear values of a float tensor of any shape: a new tensor (above 1 the power curve)."""
    d = 0.04045
    return pow_(x.clamp_min(d).add_(0.055).div_(1.055), 2.4).sub_(d / 12.92).add_(x.clamp_max(d).div_(12.92))


def pow_(x: Tensor, exponent: float | Tensor) -> Tensor:
    """``x ** exponent`` in place for a (N, C, ...) tensor x >= 0; ``exponent`` a number or one
    per frame (and channel). On a CPU OpenCV's ``pow`` runs it (about three times faster than
    torch's), frame by frame."""
    import torch

    if not (backend.allows("opencv", x) and x.is_contiguous() and x.dtype == torch.float32 and x.ndim >= 2):
        return x.pow_(exponent)
    import cv2

    e = np.asarray(exponent.cpu() if torch.is_tensor(exponent) else exponent, np.float64)
    e = np.broadcast_to(e.reshape(e.shape[0], -1) if e.ndim else e, x.shape[:2])  # (frames, channels)

    def power(a: np.ndarray, e: float) -> None:
        a = a.reshape(1, -1)  # one channel for OpenCV (a view: written in place)
        if e == 0.0:
            a.fill(1.0)  # OpenCV's pow refuses an exponent of 0 in place
        else:
            cv2.pow(a, e, dst=a)

    for k in range(x.shape[0]):
        if np.all(e[k] == e[k, 0]):
            power(x[k].numpy(), float(e[k, 0]))
        else:
            for c in range(x.shape[1]):
                power(x[k, c].numpy(), float(e[k, c]))
    return x


#: alpha at or below this counts as 0 when colour is divided by it
ALPHA_EPSILON = 1e-6


def unpremultiply(pixels: Tensor, has_alpha: bool = True) -> tuple[Tensor, Tensor]:
    """(rgb, alpha) of (N, 4, H, W) premultiplied pixels: rgb (N, 3, H, W) divided by alpha (a new
    tensor; 0 where alpha <= 1e-6), alpha the (N, 1, H, W) view. Without ``has_alpha`` (opaque
    input) rgb is the view, undivided."""
    import torch

    a = pixels[:, 3:4]
    if not has_alpha:
        return pixels[:, :3], a
    inv = torch.where(a > ALPHA_EPSILON, 1.0 / a.clamp_min(ALPHA_EPSILON), torch.zeros((), device=pixels.device))
    return pixels[:, :3] * inv, a


def premultiply(rgb: Tensor, alpha: Tensor, *, out: Tensor | None = None) -> Tensor:
    """(N, 4, H, W) premultiplied pixels from straight (N, 3, H, W) ``rgb`` and (N, 1, H, W) ``alpha``
    (written into ``out`` when given, else a new tensor)."""
    import torch

    if out is None:
        out = torch.empty((rgb.shape[0], 4, *rgb.shape[2:]), dtype=rgb.dtype, device=rgb.device)
    torch.mul(rgb, alpha, out=out[:, :3])
    out[:, 3:4] = alpha
    return out


def luma(rgb: Tensor, weights: Sequence[float] = LUMA) -> Tensor:
    """The (N, 1, H, W) weighted sum of the channels of (N, 3, H, W) ``rgb`` (Rec.709 unless told)."""
    return rgb[:, 0:1] * weights[0] + rgb[:, 1:2] * weights[1] + rgb[:, 2:3] * weights[2]


def hex_to_rgb(text: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` (the ``#`` optional) as (r, g, b) floats in 0..1."""
    c = text.lstrip("#")
    r, g, b = (int(c[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b)


def rgb_to_hex(color: Sequence[float]) -> str:
    """(r, g, b, ...) floats in 0..1 as ``"#rrggbb"`` (the nearest 8-bit codes)."""
    return "#" + "".join(f"{round(c * 255):02x}" for c in color[:3])
