"""Curves of one variable: smoothstep, easing (cubic Bézier, the CSS curves) and a signal's rising edges.

Every curve (annotated ``Any``: the kind in is the kind out) takes torch tensors (any device, the tensor's dtype) or NumPy arrays and numbers
(computed in float64) and gives the same kind back, elementwise; both paths run the same
arithmetic in the same order (the test suite compares them). Keyframe easing (``vfx.params``)
and every node's easing and smoothstep are these.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

#: the named easings ``ease`` takes (besides a cubic Bézier's four numbers)
EASINGS = ("linear", "hold", "smooth", "ease_in", "ease_out", "ease_in_out")
#: the CSS named curves as cubic-bezier(x1, y1, x2, y2)
BEZIER = {"ease_in": (0.42, 0.0, 1.0, 1.0), "ease_out": (0.0, 0.0, 0.58, 1.0), "ease_in_out": (0.42, 0.0, 0.58, 1.0)}


def _torch(*xs: Any) -> ModuleType | None:
    """torch, when any of ``xs`` is a tensor (torch is not imported here otherwise)."""
    torch = sys.modules.get("torch")
    if torch is not None and any(isinstance(x, torch.Tensor) for x in xs):
        return torch
    return None


def smooth(u: Any) -> Any:
    """The smoothstep cubic ``3u^2 - 2u^3`` of ``u`` clamped to 0..1: 0 at 0, 1 at 1, flat at both."""
    u = u.clamp(0.0, 1.0) if _torch(u) else np.clip(np.asarray(u, np.float64), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def smoothstep(e0: Any, e1: Any, x: Any) -> Any:
    """0 at and below ``e0``, 1 at and above ``e1``, ``smooth`` between (``e0 > e1`` runs downhill).

    Edges and ``x`` broadcast (numbers, arrays or tensors); ``e0 == e1`` divides by zero.
    """
    if not _torch(e0, e1, x):
        x = np.asarray(x, np.float64)
    return smooth((x - e0) / (e1 - e0))


def cubic_bezier(x: Any, x1: float, y1: float, x2: float, y2: float) -> Any:
    """CSS ``cubic-bezier(x1, y1, x2, y2)`` at ``x`` (0..1): the curve from (0, 0) to (1, 1) with those
    control points, read as y of x (x(s) = x solved by 40 bisection steps; x1, x2 in 0..1)."""
    torch = _torch(x)
    if torch:
        lo, hi, where = torch.zeros_like(x), torch.ones_like(x), torch.where
    else:
        x = np.asarray(x, np.float64)
        lo, hi, where = np.zeros_like(x), np.ones_like(x), np.where

    def bez(s: Any, p1: float, p2: float) -> Any:
        return 3 * (1 - s) ** 2 * s * p1 + 3 * (1 - s) * s**2 * p2 + s**3

    for _ in range(40):
        mid = (lo + hi) / 2
        below = bez(mid, x1, x2) < x
        lo, hi = where(below, mid, lo), where(below, hi, mid)
    return bez((lo + hi) / 2, y1, y2)


def ease(u: Any, easing: str | Sequence[float]) -> Any:
    """Progress ``u`` (0..1) through a segment to eased progress.

    ``easing``: "linear"; "hold" (0 until the segment ends); "smooth" (``smooth``); the CSS curves
    "ease_in", "ease_out", "ease_in_out"; or a cubic Bézier's ``(x1, y1, x2, y2)``.
    """
    if easing == "linear":
        return u
    if easing == "hold":
        return u.new_zeros(u.shape) if _torch(u) else np.zeros_like(np.asarray(u, np.float64))
    if easing == "smooth":
        return smooth(u)
    return cubic_bezier(u, *(BEZIER[easing] if isinstance(easing, str) else easing))


def rising_frames(frames: npt.ArrayLike, values: npt.ArrayLike, level: float = 0.5) -> list[int]:
    """The frames where a signal crosses ``level`` upwards: at or above it there, below it on the
    frame before. ``frames``: sorted whole frames (gaps allowed), ``values`` one per frame; a frame
    whose predecessor is not among ``frames`` (frame 0's, say) reads it as 0."""
    f = np.asarray(frames, np.int64)
    v = np.asarray(values, np.float64)
    prev = np.zeros_like(v)
    if len(f):
        k = np.minimum(np.searchsorted(f, f - 1), len(f) - 1)
        known = f[k] == f - 1
        prev[known] = v[k[known]]
    return f[(v >= level) & (prev < level)].tolist()
