"""The conversion boundary between 8/16-bit media pixels and the graph's linear float RGBA.

Sources call ``to_linear``; encoders call ``from_linear``. Video is decoded to RGB with the
BT.709 matrix (see ``vfx.media``); the transfer function is the sRGB curve, exact to 16 bits.
On the CPU the curves are table lookups (OpenCV's SIMD ``LUT`` in, a 16-bit table out).
"""
from __future__ import annotations

import functools

import numpy as np

_OUT_BITS = 65535


@functools.cache
def _decode_lut() -> np.ndarray:
    x = np.arange(256, dtype=np.float64) / 255
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


@functools.cache
def _encode_lut(levels: int = 256) -> np.ndarray:
    y = np.arange(_OUT_BITS + 1, dtype=np.float64) / _OUT_BITS
    s = np.where(y <= 0.0031308, y * 12.92, 1.055 * np.power(y, 1 / 2.4) - 0.055)
    dtype = np.uint8 if levels == 256 else np.uint16
    return np.clip(np.floor(s * (levels - 1) + 0.5), 0, levels - 1).astype(dtype)


@functools.cache
def _decode_lut_rgba() -> np.ndarray:
    alpha = np.arange(256, dtype=np.float32) / 255
    return np.stack([_decode_lut()] * 3 + [alpha], axis=1).reshape(256, 1, 4)


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Exact sRGB decode of floats in 0..1 (for colours given in options)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_rgba(color: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """A straight sRGB colour option as premultiplied linear RGBA."""
    r, g, b = srgb_to_linear(color[:3]).tolist()
    a = float(color[3])
    return (r * a, g * a, b * a, a)


def to_linear(rgba8: np.ndarray, device="cpu", premultiply: bool = True):
    """uint8 (N, H, W, 4) straight sRGB + alpha to a (N, 4, H, W) premultiplied linear tensor.

    ``premultiply=False`` skips the multiply when every alpha is known to be 255.
    """
    import cv2
    import torch

    from .frames import empty_pixels
    n, h, w, c = rgba8.shape
    if c != 4:
        raise ValueError(f"to_linear expects RGBA, got {c} channels")
    if str(device) != "cpu":
        src = torch.from_numpy(rgba8).to(device, non_blocking=True)
        lut = torch.from_numpy(_decode_lut()).to(device)
        rgb = lut[src[..., :3].long()]
        alpha = src[..., 3:4].float() / 255
        return torch.cat([rgb * alpha, alpha], dim=-1).permute(0, 3, 1, 2)
    pixels = empty_pixels(n, h, w)
    nhwc = pixels.permute(0, 2, 3, 1).numpy()
    lut = _decode_lut_rgba()
    for i in range(n):
        cv2.LUT(rgba8[i], lut, dst=nhwc[i])
        if premultiply:
            np.multiply(nhwc[i, ..., :3], nhwc[i, ..., 3:4], out=nhwc[i, ..., :3])
    return pixels


def from_linear(pixels, alpha: bool, bits: int = 8) -> np.ndarray:
    """A (N, 4, H, W) premultiplied linear tensor to (N, H, W, 3|4) straight sRGB integers.

    Without ``alpha`` the frame is composited over black, which for premultiplied pixels is
    just dropping the alpha channel.
    """
    import torch
    levels = 256 if bits == 8 else 65536
    nhwc = pixels.permute(0, 2, 3, 1)
    if alpha:
        a = nhwc[..., 3:4]
        rgb = torch.where(a > 1e-6, nhwc[..., :3] / a.clamp_min(1e-6), torch.zeros_like(a))
        nhwc = torch.cat([rgb, a], dim=-1)
    else:
        nhwc = nhwc[..., :3]
    if nhwc.device.type != "cpu":
        x = nhwc.clamp(0, 1)
        s = torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.pow(1 / 2.4) - 0.055)
        if alpha:
            s[..., 3] = x[..., 3]
        out = (s * (levels - 1) + 0.5).floor().clamp_(0, levels - 1)
        return out.to(torch.uint8 if bits == 8 else torch.int32).cpu().numpy().astype(
            np.uint8 if bits == 8 else np.uint16)
    scaled = np.multiply(nhwc.numpy(), float(_OUT_BITS))
    np.add(scaled, 0.5, out=scaled)
    np.clip(scaled, 0, _OUT_BITS, out=scaled)
    idx = scaled.astype(np.uint16)
    out = np.take(_encode_lut(levels), idx)
    if alpha:
        a = idx[..., 3]
        out[..., 3] = (a.astype(np.uint32) * (levels - 1) + _OUT_BITS // 2) // _OUT_BITS
    return out
