"""Which path a pixel operation takes: the one switch for every op and node.

An op has a torch path, which runs on any device, and may have CPU fast paths: ``"numba"`` (a
compiled kernel, see ``vfx.ops.jit``) and ``"opencv"`` (OpenCV's SIMD routines). It asks
``allows(path, x)`` before taking a fast path; the answer is yes for a CPU tensor when the
library is installed and the path is not switched off. The switch is process-wide (render
threads follow it). Tests compare paths by forcing them::

    with backend.only("torch"):            # every op takes its torch path
        ...
    with backend.only("torch", "opencv"):  # no Numba kernels, OpenCV allowed
        ...
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Iterator
from typing import Any

FAST_PATHS = ("numba", "opencv")

_enabled: frozenset[str] = frozenset(FAST_PATHS)


@functools.cache
def installed(path: str) -> bool:
    """Whether the library behind a fast path is installed (checked without importing it)."""
    module = {"numba": "numba", "opencv": "cv2"}[path]
    return importlib.util.find_spec(module) is not None


def allows(path: str, x: Any = None) -> bool:
    """Whether an op may take fast path ``path`` ("numba" or "opencv") for ``x``.

    ``x``: a tensor, a ``torch.device`` or a device name; None asks about the CPU.
    """
    if path not in FAST_PATHS:
        raise ValueError(f"unknown path {path!r}; fast paths are {', '.join(FAST_PATHS)}")
    if path not in _enabled or not installed(path):
        return False
    if x is None:
        return True
    device = getattr(x, "device", x)
    return getattr(device, "type", str(device)) == "cpu"


@contextlib.contextmanager
def only(*paths: str) -> Iterator[None]:
    """Within the block allow just the fast paths named (``"torch"``, always allowed, may be named)."""
    unknown = set(paths) - set(FAST_PATHS) - {"torch"}
    if unknown:
        raise ValueError(f"unknown path(s) {sorted(unknown)}; paths are torch, {', '.join(FAST_PATHS)}")
    global _enabled
    before = _enabled
    _enabled = frozenset(p for p in paths if p in FAST_PATHS)
    try:
        yield
    finally:
        _enabled = before
