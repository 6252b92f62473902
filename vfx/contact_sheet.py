"""Contact sheets: which frames a sheet shows and how its thumbnails are tiled
(``vfx preview --sheet`` and the studio's sheet)."""

from __future__ import annotations

import math

import numpy as np

#: pixels between thumbnails and around the sheet, and the background's grey level
GAP, BACKGROUND = 4, 24


def sheet_indices(count: int, start: int, stop: int) -> list[int]:
    """``count`` evenly spaced frames of ``[start, stop)`` (fewer when the span is shorter)."""
    span = stop - start
    return sorted({start + min(span - 1, int(i * span / count)) for i in range(count)})


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """(N, H, W, C) uint8 thumbnails laid out left to right, top to bottom, on a dark canvas;
    ``columns`` by default makes the sheet about 16:9."""
    n, h, w, c = images.shape
    cols = columns or math.ceil(math.sqrt(n * 16 / 9 * h / w))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * (h + GAP) + GAP, cols * (w + GAP) + GAP, c), BACKGROUND, np.uint8)
    for k, img in enumerate(images):
        r, q = divmod(k, cols)
        y, x = GAP + r * (h + GAP), GAP + q * (w + GAP)
        canvas[y : y + h, x : x + w] = img
    return canvas
