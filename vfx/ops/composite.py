"""Compositing premultiplied linear RGBA: where a layer lands, and blending it into a region in place.

Layout: (N, 4, H, W) float32 tensors of premultiplied alpha in linear light, as in the graph.
A layer placed at ``(x, y)`` with size ``(w, h)`` touches only the rectangle it covers, clipped
to the canvas (``placement``); ``blend`` writes ``src`` into that region of the canvas in place
(``dst`` is a view of it: ``canvas[:, :, y0:y1, x0:x1]``), so the pixels outside it cost nothing.

``over`` on a CPU runs as one Numba pass over the region when ``vfx.ops.backend.allows("numba",
dst)`` (the torch path makes four passes and two temporaries of the layer's size); the torch
path runs on any device. Both compute ``dst = src * o + dst * (1 - src_alpha * o)`` in float32
and agree to within 1e-6 (the kernel may contract to FMA).

``mix`` is the dissolve of two frames (``torch.lerp``) into a channels-last frame, in place when
asked, reading a frame that repeats one row (a colour) as that row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from . import backend

if TYPE_CHECKING:
    from torch import Tensor

#: blend modes of ``blend``
BLENDS = ("over", "add", "multiply", "screen")


class Placement(NamedTuple):
    """The part of a layer that lands on the canvas: canvas rectangle [x0, x1) x [y0, y1) and the
    layer pixel (sx, sy) that lands on its top-left corner."""

    x0: int
    y0: int
    x1: int
    y1: int
    sx: int
    sy: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def placement(x: int, y: int, width: int, height: int, canvas_width: int, canvas_height: int) -> Placement | None:
    """Where a ``width`` x ``height`` layer with its top-left corner at integer (x, y) lands on a
    canvas, clipped to it; None when no pixel of it does."""
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(canvas_width, x + width), min(canvas_height, y + height)
    if x0 >= x1 or y0 >= y1:
        return None
    return Placement(x0, y0, x1, y1, x0 - x, y0 - y)


def over(dst: Tensor, src: Tensor, opacity: float = 1.0) -> Tensor:
    """Porter-Duff ``src`` over ``dst``, in place: ``dst = src * opacity + dst * (1 - src_a * opacity)``.

    ``dst``, ``src``: (N, 4, h, w) premultiplied RGBA of the same shape; ``dst`` may be a view
    of a region of a larger canvas (it is written through the view), ``src`` any strides.
    Returns ``dst``.
    """
    if dst.shape != src.shape:
        raise ValueError(f"over: dst is {tuple(dst.shape)} but src is {tuple(src.shape)}")
    if dst.numel() == 0:
        return dst
    if backend.allows("numba", dst) and _channels_last_rows(dst):
        from ._composite_kernel import over_frames

        over_frames(dst, src, float(opacity))
        return dst
    if opacity < 1.0:
        src = src * opacity
    sa = src[:, 3:4]
    dst.mul_(1 - sa).add_(src)
    return dst


def blend(dst: Tensor, src: Tensor, mode: str = "over", opacity: float = 1.0) -> Tensor:
    """Blend premultiplied ``src`` into ``dst`` in place (same shapes; ``dst`` may be a view of a
    canvas region): ``over`` (see ``over``), ``add``, ``multiply`` or ``screen``, ``src`` scaled by
    ``opacity`` first. The resulting alpha is ``sa + da * (1 - sa)`` (``sa + da - sa * da``)."""
    if mode == "over":
        return over(dst, src, opacity)
    if mode not in BLENDS:
        raise ValueError(f"unknown blend {mode!r}; blends are {', '.join(BLENDS)}")
    if opacity < 1.0:
        src = src * opacity
    sa = src[:, 3:4]
    if mode == "add":
        da = dst[:, 3:4].clone()
        dst[:, :3].add_(src[:, :3])
        dst[:, 3:4] = sa + da * (1 - sa)
    elif mode == "screen":
        rgb = src[:, :3] + dst[:, :3] - src[:, :3] * dst[:, :3]
        dst[:, 3:4] = sa + dst[:, 3:4] * (1 - sa)
        dst[:, :3] = rgb
    else:  # multiply
        da = dst[:, 3:4]
        rgb = src[:, :3] * dst[:, :3] + src[:, :3] * (1 - da) + dst[:, :3] * (1 - sa)
        dst[:, 3:4] = sa + da - sa * da
        dst[:, :3] = rgb
    return dst


def _channels_last_rows(x: Tensor) -> bool:
    """Whether each row of each frame of (N, 4, h, w) ``x`` is w interleaved RGBA pixels in a row
    (a region of a channels-last canvas), which the kernel reads by row offsets."""
    return x.stride(1) == 1 and x.stride(3) == 4 and x.shape[1] == 4


def mix(a: Tensor, b: Tensor, weight: float, out: Tensor) -> Tensor:
    """``torch.lerp(a, b, weight)`` of two (4, H, W) frames, written into ``out`` and returned.

    ``out`` is a channels-last (4, H, W) frame and may be ``a`` or ``b`` itself (a dissolve in
    place). The frames are read as rows of interleaved RGBA; one that repeats a row down the
    picture (a colour: a stride-0 view) is read as that row, not made whole first.
    """
    import torch

    torch.lerp(_rows(a), _rows(b), float(weight), out=_rows(out, writable=True))
    return out


def _rows(frame: Tensor, writable: bool = False) -> Tensor:
    """A (4, H, W) frame as (H, W * 4) rows of interleaved RGBA: a view of it, its first row
    expanded down (a frame whose rows are all one), or (read-only) a channels-last copy."""
    c, h, w = frame.shape
    if not writable and frame.stride(1) == 0:
        return frame[:, :1].permute(1, 2, 0).reshape(1, w * c).expand(h, w * c)
    hwc = frame.permute(1, 2, 0)
    if not hwc.is_contiguous():
        if writable:
            raise ValueError("mix: out must be a channels-last frame")
        hwc = hwc.contiguous()
    return hwc.view(h, w * c)
