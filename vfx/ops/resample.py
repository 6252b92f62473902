"""Resampling: resizing, integer-factor box down / bilinear up, and affine warps (remap).

Layout: (N, C, H, W) float32 tensors (``resize`` and the warps: premultiplied RGBA), or the
(N, H, W, C) planes of ``resize_planes``. On a CPU the op runs in OpenCV (SIMD, one pass per
frame) when ``vfx.ops.backend.allows("opencv", x)``; otherwise, and on a GPU, it stays on the
device with ``torch.nn.functional.interpolate`` / ``grid_sample``. Pixel centres are at
half-integers (``align_corners=False``) on both paths.
"""
from __future__ import annotations

from ..frames import empty_planes
from . import backend

FILTERS = ("nearest", "bilinear", "bicubic", "area", "lanczos")


def resize(pixels, width: int, height: int, filter: str = "bilinear"):
    """Resize a (N, 4, H, W) premultiplied tensor to (N, 4, height, width)."""
    import torch
    n, _, h, w = pixels.shape
    if (h, w) == (height, width):
        return pixels
    if backend.allows("opencv", pixels):
        import cv2
        from ..frames import empty_pixels
        interp = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                  "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}[filter]
        if filter == "bilinear" and (width < w / 2 or height < h / 2):
            interp = cv2.INTER_AREA       # bilinear aliases badly when shrinking more than 2x
        out = empty_pixels(n, height, width)
        src = pixels.permute(0, 2, 3, 1)
        dst = out.permute(0, 2, 3, 1).numpy()
        for i in range(n):
            frame = src[i]
            if not frame.is_contiguous():
                frame = frame.contiguous()
            cv2.resize(frame.numpy(), (width, height), dst=dst[i], interpolation=interp)
        if filter in ("bicubic", "lanczos"):
            out.clamp_(min=0)
        return out
    mode = {"nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic", "area": "area",
            "lanczos": "bicubic"}[filter]
    # antialiasing only when shrinking: torch's antialiased bicubic is a different kernel (a = -0.5)
    # from the plain one (a = -0.75, OpenCV's), which enlarging on the GPU must match
    shrinking = height < h or width < w
    kwargs = {"align_corners": False, "antialias": shrinking} if mode in ("bilinear", "bicubic") else {}
    out = torch.nn.functional.interpolate(pixels, size=(height, width), mode=mode, **kwargs)
    return out.clamp_(min=0).contiguous(memory_format=torch.channels_last)


_SWS = {"nearest": "POINT", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "area": "AREA", "lanczos": "LANCZOS"}


def resize_batch(batch, width: int, height: int, filter: str = "bilinear", *, before_linear: bool = True):
    """A batch's pixels at another size.

    Frames still in their decoded form (``batch.native``) are scaled by swscale in their own YUV
    before they enter linear light when ``before_linear`` is true: a fraction of the work of
    converting at full size and resampling float RGBA, and what ffmpeg's scale filter does.
    Otherwise, and for frames already in the graph, the float RGBA is resampled in linear light.
    """
    from ..frames import FrameBatch
    if (batch.width, batch.height) == (width, height):
        return batch.pixels
    if before_linear and batch.native is not None:
        scaled = [f.reformat(width=width, height=height, interpolation=_SWS[filter]) for f in batch.native]
        return FrameBatch(batch.indices, native=scaled, convert=batch._convert, size=(width, height)).pixels
    return resize(batch.pixels, width, height, filter)


# --- (N, H, W, C) planes (glows, mattes, particle buffers) and integer factors ------------------

def resize_planes(img, height: int, width: int, *, area: bool = False):
    """Bilinear (or, shrinking with ``area``, box-filtered) resize of an (N, H, W, C) tensor."""
    import torch
    n, h, w, c = img.shape
    if (h, w) == (height, width):
        return img
    if backend.allows("opencv", img):
        import cv2
        out = empty_planes((n, height, width, c))
        interp = cv2.INTER_AREA if area else cv2.INTER_LINEAR
        for i in range(n):
            frame = img[i].contiguous().numpy()
            cv2.resize(frame, (width, height), dst=out[i].numpy() if c > 1 else out[i, ..., 0].numpy(),
                       interpolation=interp)
        return out
    mode = "area" if area else "bilinear"
    kw = {} if area else {"align_corners": False}
    t = torch.nn.functional.interpolate(img.permute(0, 3, 1, 2), size=(height, width), mode=mode, **kw)
    return t.permute(0, 2, 3, 1).contiguous()


def downsample_box(x, f: int):
    """The mean of every f x f block of (N, C, H, W) ``x`` (H and W multiples of f)."""
    import torch
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2
        from .filters import _per_frame_cv
        return _per_frame_cv(x, h // f, w // f, lambda a, d: cv2.resize(
            a, (w // f, h // f), dst=d, interpolation=cv2.INTER_AREA))
    return torch.nn.functional.avg_pool2d(x, f)


def upsample_bilinear(x, f: int):
    """(N, C, H, W) ``x`` enlarged bilinearly by an integer factor (pixel centres aligned, as
    align_corners=False; the edge pixels repeat outwards)."""
    import torch
    n, c, h, w = x.shape
    if backend.allows("opencv", x):
        import cv2
        from .filters import _per_frame_cv
        return _per_frame_cv(x, h * f, w * f, lambda a, d: cv2.resize(
            a, (w * f, h * f), dst=d, interpolation=cv2.INTER_LINEAR))
    return torch.nn.functional.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)
