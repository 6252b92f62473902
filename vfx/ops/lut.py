"""3-D LUT application: trilinear lookup of RGB values in a cube table, on any device.

``lut`` is any object with ``size`` (points per axis), ``table`` ((B, G, R, 3) float32, red
varying fastest, as a ``.cube`` file lists it), ``domain_min`` and ``domain_max`` (three floats
each): a ``vfx.media.lut.CubeLUT``. Values outside the domain are clamped to it (the cube's
faces extend). ``lut_volume`` lays the table out once for a device; ``apply_lut`` then takes
(N, 3, H, W) float32 values and returns new (N, 3, H, W) results. On a CPU with OpenCV allowed
(``vfx.ops.backend``) the lookup is two bilinear ``remap`` reads of a slice atlas and a blend;
otherwise a 3-D ``grid_sample`` (align_corners=True, border padding): the same trilinear
interpolation to float rounding (``tests/test_ops.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import backend

if TYPE_CHECKING:
    import torch
    from torch import Tensor


class Cube(Protocol):
    """What the lookups read of a LUT (``vfx.media.lut.CubeLUT`` is one)."""

    @property
    def size(self) -> int: ...
    @property
    def table(self) -> np.ndarray: ...
    @property
    def domain_min(self) -> Sequence[float]: ...
    @property
    def domain_max(self) -> Sequence[float]: ...


def apply_lut(rgb: Tensor, lut: Cube, volume: list[np.ndarray] | Tensor) -> Tensor:
    """Trilinear lookup of (N, 3, H, W) values in a LUT, whole batch at once.

    ``volume`` is what ``lut_volume`` made for the device: on a CPU an atlas of blue slices that
    OpenCV's bilinear ``remap`` reads twice (two neighbouring slices, then a linear blend in
    blue: trilinear interpolation, three times faster than a 3-D ``grid_sample``); elsewhere a
    (1, 3, B, G, R) tensor for ``grid_sample``.
    """
    import torch

    if isinstance(volume, list):
        return _apply_lut_atlas(rgb, lut, volume)
    lo = torch.tensor(lut.domain_min, dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    hi = torch.tensor(lut.domain_max, dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    grid = ((rgb - lo) * (2.0 / (hi - lo)) - 1.0).permute(0, 2, 3, 1).unsqueeze(0)  # (1, N, H, W, 3): x=r
    out = torch.nn.functional.grid_sample(
        volume, grid, mode="bilinear", padding_mode="border", align_corners=True
    )  # (1, 3, N, H, W)
    return out[0].transpose(0, 1)


def lut_volume(lut: Cube, device: str | torch.device) -> list[np.ndarray] | Tensor:
    """The LUT laid out for ``apply_lut`` on ``device``."""
    import torch

    if backend.allows("opencv", torch.device(device)):
        # Slice b (an (r, g) image, with its last row and column repeated so that bilinear reads at
        # the far edge never touch the next slice) is tile (b % cols, b // cols) of a square-ish
        # grid, which keeps atlas coordinates small and so precise in float32; one plane per
        # output channel, so the lookups come back planar.
        size, cols = lut.size, _atlas_columns(lut.size)
        stride = size + 1
        atlas = np.zeros((-(-size // cols) * stride, cols * stride, 3), np.float32)
        for b in range(size):
            y, x = divmod(b, cols)
            atlas[y * stride : (y + 1) * stride, x * stride : (x + 1) * stride] = np.pad(
                lut.table[b], ((0, 1), (0, 1), (0, 0)), mode="edge"
            )
        return [np.ascontiguousarray(atlas[..., c]) for c in range(3)]
    return lut_tensor(lut, device)


def lut_tensor(lut: Cube, device: str | torch.device) -> Tensor:
    """The LUT as a (1, 3, B, G, R) tensor, for ``grid_sample`` on any device."""
    import torch

    table = torch.from_numpy(np.ascontiguousarray(lut.table.transpose(3, 0, 1, 2)))
    return table.unsqueeze(0).to(device)


def _atlas_columns(size: int) -> int:
    return math.ceil(math.sqrt(size))


def _apply_lut_atlas(rgb: Tensor, lut: Cube, planes: list[np.ndarray]) -> Tensor:
    import cv2
    import torch

    n, _, h, w = rgb.shape
    size, stride = lut.size, lut.size + 1
    lo = np.asarray(lut.domain_min, np.float32).reshape(3, 1, 1)
    scale = (size - 1) / (np.asarray(lut.domain_max, np.float32) - lo.ravel()).reshape(3, 1, 1)
    cols = _atlas_columns(size)
    out = torch.empty((n, 3, h, w))
    for k in range(n):
        u = rgb[k].contiguous().numpy() - lo
        u *= scale
        np.clip(u, 0, size - 1, out=u)
        r, g, b = u
        b0 = np.minimum(np.floor(b), size - 2)
        fb = b - b0
        maps = []
        for slice_ in (b0, b0 + 1):  # the two blue slices around each pixel
            row = np.floor((slice_ + 0.5) * (1.0 / cols))
            x = (slice_ - row * cols) * stride + r
            y = row * stride + g
            maps.append((x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)))
        dst = out[k].numpy()
        for c, plane in enumerate(planes):
            a = cv2.remap(plane, *maps[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d = cv2.remap(plane, *maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d -= a  # type: ignore[arg-type]  # cv2 stubs: remap may return an integer array
            d *= fb
            np.add(a, d, out=dst[c])
    return out
