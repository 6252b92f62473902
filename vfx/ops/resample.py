"""Pixel operations shared by nodes: resizing and constant frames, on CPU or GPU tensors.

On the CPU, resizing goes through OpenCV (SIMD, one pass per frame); on a GPU it stays on the
device with ``torch.nn.functional.interpolate``.
"""
from __future__ import annotations

from .frames import empty_planes

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


#: rows per strip of a per-pixel effect on a CPU (see ``row_strips``)
STRIP_ROWS = 48


def row_strips(pixels) -> list[tuple[int, int]]:
    """Row ranges to run a per-pixel computation over, for (N, C, H, W) ``pixels``.

    On a CPU, strips of ``STRIP_ROWS`` rows: their intermediate planes stay in the processor's
    cache, where whole 1080p planes go out to memory at every step (a chain of a dozen steps
    runs about a fifth faster in strips). Elsewhere (a GPU) the whole frame, in one launch a step.
    """
    h = pixels.shape[2]
    step = STRIP_ROWS if pixels.device.type == "cpu" else h
    return [(y, min(h, y + step)) for y in range(0, h, step)]


# --- helpers for effects that work on (N, H, W, C) planes (glows, mattes, particle buffers) ------

def blur_planes(img, sigma: float, *, opencv: bool):
    """Gaussian blur of each frame of an (N, H, W, C) tensor, zero outside the frame.

    ``opencv`` runs OpenCV frame by frame (the fast CPU path); otherwise a separable torch
    convolution that stays on the tensor's device (kernel cut at 3.5 sigma).
    """
    import math
    import torch
    if sigma <= 0:
        return img
    n, h, w, c = img.shape
    if opencv:
        import cv2
        out = empty_planes((n, h, w, c))
        for i in range(n):
            cv2.GaussianBlur(img[i].contiguous().numpy(), (0, 0), sigma, dst=out[i].numpy(),
                             borderType=cv2.BORDER_CONSTANT)
        return out
    r = max(1, int(math.ceil(3.5 * sigma)))
    x = torch.arange(-r, r + 1, device=img.device, dtype=img.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    t = img.permute(0, 3, 1, 2).reshape(n * c, 1, h, w)
    t = torch.nn.functional.conv2d(t, k.view(1, 1, 1, -1), padding=(0, r))
    t = torch.nn.functional.conv2d(t, k.view(1, 1, -1, 1), padding=(r, 0))
    return t.reshape(n, c, h, w).permute(0, 2, 3, 1).contiguous()


def resize_planes(img, height: int, width: int, *, area: bool = False, opencv: bool):
    """Bilinear (or, shrinking with ``area``, box-filtered) resize of an (N, H, W, C) tensor."""
    import torch
    n, h, w, c = img.shape
    if (h, w) == (height, width):
        return img
    if opencv:
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
