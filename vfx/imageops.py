"""Pixel operations shared by nodes: resizing and constant frames, on CPU or GPU tensors.

On the CPU, resizing goes through OpenCV (SIMD, one pass per frame); on a GPU it stays on the
device with ``torch.nn.functional.interpolate``.
"""
from __future__ import annotations

FILTERS = ("nearest", "bilinear", "bicubic", "area", "lanczos")


def resize(pixels, width: int, height: int, filter: str = "bilinear"):
    """Resize a (N, 4, H, W) premultiplied tensor to (N, 4, height, width)."""
    import torch
    n, _, h, w = pixels.shape
    if (h, w) == (height, width):
        return pixels
    if pixels.device.type == "cpu":
        import cv2
        from .frames import empty_pixels
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
    kwargs = {"align_corners": False, "antialias": True} if mode in ("bilinear", "bicubic") else {}
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
    from .frames import FrameBatch
    if (batch.width, batch.height) == (width, height):
        return batch.pixels
    if before_linear and batch.native is not None:
        scaled = [f.reformat(width=width, height=height, interpolation=_SWS[filter]) for f in batch.native]
        return FrameBatch(batch.indices, native=scaled, convert=batch._convert, size=(width, height)).pixels
    return resize(batch.pixels, width, height, filter)


def constant(n: int, width: int, height: int, rgba: tuple[float, float, float, float], device="cpu"):
    """N frames of one premultiplied colour, as a stride-0 view (nodes never write their inputs)."""
    import torch
    pixel = torch.tensor(rgba, dtype=torch.float32, device=device).view(1, 4, 1, 1)
    return pixel.expand(n, 4, height, width)
