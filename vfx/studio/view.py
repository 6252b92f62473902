"""Pictures for the viewer: a node's frames rendered as ``vfx preview`` renders them, scaled and encoded."""

from __future__ import annotations

from typing import Any

import numpy as np

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
SCALES = (1, 2, 4)


def default_node(graph):
    """What ``vfx preview`` shows without ``--node``: the first encoder's input, else the last node with video."""
    if graph.encoders:
        return graph.encoders[0].input("input")
    return next(graph.nodes[n] for n in reversed(graph.order) if graph.nodes[n].video is not None)


def check_frame(node, frame: int) -> None:
    total = node.video.frame_count
    if not 0 <= frame < total:
        raise IndexError(f"frame {frame} is outside '{node.id}' (0-{total - 1})")


def render(studio: Any, node, indices: list[int]):
    """The (N, 4, H, W) linear premultiplied pixels of ``node`` at ``indices``, on the CPU."""
    from ..engine import render_frames

    batch = render_frames(studio.graph, node, indices, device=studio.device, cache=studio.cache)
    return batch.pixels.cpu()


def scaled(pixels, scale: int):
    """Straight-alpha sRGB RGBA8 frames, 1/``scale`` of the size (area filter), as ``vfx preview`` makes them."""
    from ..ops import color, resample

    if scale != 1:
        h, w = pixels.shape[2], pixels.shape[3]
        pixels = resample.resize(pixels, max(1, round(w / scale)), max(1, round(h / scale)), "area")
    return color.from_linear(pixels.cpu().contiguous(), alpha=True)


def encode(rgba: np.ndarray, fmt: str = "png", quality: int = 90) -> bytes:
    """One RGBA8 image as PNG (lossless, fast compression) or JPEG (over black)."""
    import cv2

    if fmt == "png":
        ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    elif fmt == "jpeg":
        ok, data = cv2.imencode(
            ".jpg", cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
    else:
        raise ValueError(f"unknown image format {fmt!r}: use png or jpeg")
    if not ok:
        raise RuntimeError(f"could not encode a {fmt} image")
    return data.tobytes()


def pixel(pixels, x: int, y: int) -> dict:
    """Pixel (x, y) of the first frame: linear premultiplied RGBA floats and the 8-bit display value."""
    h, w = int(pixels.shape[2]), int(pixels.shape[3])
    if not (0 <= x < w and 0 <= y < h):
        raise IndexError(f"pixel ({x}, {y}) is outside the {w}x{h} frame")
    from ..ops import color

    linear = [float(v) for v in pixels[0, :, y, x]]
    display = color.from_linear(pixels[:1, :, y : y + 1, x : x + 1].contiguous(), alpha=True)[0, 0, 0]
    return {"x": x, "y": y, "linear": linear, "display": [int(v) for v in display]}


def sheet(studio: Any, node, count: int, start: int, stop: int, columns: int | None, thumb_width: int) -> bytes:
    """A contact sheet laid out as ``vfx preview --sheet`` lays it out, as PNG bytes."""
    from ..contact_sheet import sheet_indices, tile
    from ..ops import color, resample

    total = node.video.frame_count
    start, stop = max(0, start), min(total, stop)
    if stop <= start:
        raise IndexError(f"no frames in {start}-{stop} of '{node.id}'")
    indices = sheet_indices(count, start, stop)
    thumbs = []
    for i in range(0, len(indices), 8):
        p = render(studio, node, indices[i : i + 8])
        th = max(1, round(thumb_width * p.shape[2] / p.shape[3]))
        thumbs.append(color.from_linear(resample.resize(p, thumb_width, th, "area").contiguous(), alpha=False))
    canvas = tile(np.concatenate(thumbs), columns)
    rgba = np.concatenate([canvas, np.full(canvas.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return encode(rgba, "png")
