"""Adobe/Resolve ``.cube`` 3D LUTs: reading one, and applying it to linear or sRGB RGB tensors (``effect.grade``)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np



class CubeError(ValueError):
    """A .cube file that cannot be read; ``line`` is 1-based (None: the file as a whole)."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(message)


@dataclass
class CubeLUT:
    """A 3-D LUT: ``table[b, g, r]`` is the output RGB for the input at that grid point."""

    size: int
    table: np.ndarray                 # (size, size, size, 3) float32, indexed [b, g, r]
    domain_min: tuple = (0.0, 0.0, 0.0)
    domain_max: tuple = (1.0, 1.0, 1.0)
    title: str = ""


def _numbers(tokens, count, line, what):
    if len(tokens) != count:
        raise CubeError(f"{what}: expected {count} number(s), got {len(tokens)}", line)
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise CubeError(f"{what}: expected numbers, got {' '.join(tokens)!r}", line) from None
    if not all(math.isfinite(v) for v in values):
        raise CubeError(f"{what}: values must be finite, got {' '.join(tokens)!r}", line)
    return values


def read_cube(path: Path) -> CubeLUT:
    """Parse an Adobe/Resolve ``.cube`` 3-D LUT: TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX (or
    LUT_3D_INPUT_RANGE), ``#`` comments and size^3 rows of "r g b", red changing fastest.
    Raises ``CubeError`` naming the line."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise CubeError(f"cannot read the file: {exc.strerror or exc}") from None
    size = None
    size_line = None
    title = ""
    dmin, dmax = [0.0] * 3, [1.0] * 3
    rows: list[list[float]] = []
    last_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("TITLE"):
            title = line[5:].strip().strip('"')
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        last_line = number
        tokens = line.split()
        key = tokens[0]
        try:
            float(key)
            is_data = True
        except ValueError:
            is_data = False
        if is_data:
            if size is None:
                raise CubeError("a data row before LUT_3D_SIZE", number)
            if len(rows) == size ** 3:
                raise CubeError(f"more than {size}^3 = {size ** 3} data rows", number)
            rows.append(_numbers(tokens, 3, number, "data row"))
        elif key == "LUT_3D_SIZE":
            if size is not None:
                raise CubeError(f"LUT_3D_SIZE given twice (first on line {size_line})", number)
            if len(tokens) != 2 or not tokens[1].isdigit() or not 2 <= int(tokens[1]) <= 256:
                raise CubeError(f"LUT_3D_SIZE must be a whole number from 2 to 256, got "
                                f"{' '.join(tokens[1:])!r}", number)
            size, size_line = int(tokens[1]), number
        elif key == "LUT_1D_SIZE":
            raise CubeError("1-D LUTs (LUT_1D_SIZE) are not supported: effect.grade applies 3-D LUTs", number)
        elif key == "DOMAIN_MIN":
            dmin = _numbers(tokens[1:], 3, number, "DOMAIN_MIN")
        elif key == "DOMAIN_MAX":
            dmax = _numbers(tokens[1:], 3, number, "DOMAIN_MAX")
        elif key == "LUT_3D_INPUT_RANGE":
            lo, hi = _numbers(tokens[1:], 2, number, "LUT_3D_INPUT_RANGE")
            dmin, dmax = [lo] * 3, [hi] * 3
        else:
            raise CubeError(f"unknown keyword {key!r} (expected TITLE, LUT_3D_SIZE, DOMAIN_MIN, DOMAIN_MAX "
                            "or data rows)", number)
    if size is None:
        raise CubeError("no LUT_3D_SIZE line: not a 3-D .cube LUT")
    if len(rows) != size ** 3:
        raise CubeError(f"LUT_3D_SIZE {size} needs {size ** 3} data rows, found {len(rows)}", last_line)
    if not all(lo < hi for lo, hi in zip(dmin, dmax)):
        raise CubeError(f"DOMAIN_MIN {dmin} must be below DOMAIN_MAX {dmax} in every channel")
    table = np.asarray(rows, np.float32).reshape(size, size, size, 3)
    return CubeLUT(size, table, tuple(dmin), tuple(dmax), title)


def apply_lut(rgb, lut: CubeLUT, volume):
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
    grid = ((rgb - lo) * (2.0 / (hi - lo)) - 1.0).permute(0, 2, 3, 1).unsqueeze(0)   # (1, N, H, W, 3): x=r
    out = torch.nn.functional.grid_sample(volume, grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)                        # (1, 3, N, H, W)
    return out[0].transpose(0, 1)


def lut_volume(lut: CubeLUT, device):
    """The LUT laid out for ``apply_lut`` on ``device``."""
    import torch
    if torch.device(device).type == "cpu":
        # Slice b (an (r, g) image, with its last row and column repeated so that bilinear reads at
        # the far edge never touch the next slice) is tile (b % cols, b // cols) of a square-ish
        # grid, which keeps atlas coordinates small and so precise in float32; one plane per
        # output channel, so the lookups come back planar.
        size, cols = lut.size, _atlas_columns(lut.size)
        stride = size + 1
        atlas = np.zeros((-(-size // cols) * stride, cols * stride, 3), np.float32)
        for b in range(size):
            y, x = divmod(b, cols)
            atlas[y * stride:(y + 1) * stride, x * stride:(x + 1) * stride] = np.pad(
                lut.table[b], ((0, 1), (0, 1), (0, 0)), mode="edge")
        return [np.ascontiguousarray(atlas[..., c]) for c in range(3)]
    return lut_tensor(lut, device)


def lut_tensor(lut: CubeLUT, device):
    """The LUT as a (1, 3, B, G, R) tensor, for ``grid_sample`` on any device."""
    import torch
    table = torch.from_numpy(np.ascontiguousarray(lut.table.transpose(3, 0, 1, 2)))
    return table.unsqueeze(0).to(device)


def _atlas_columns(size: int) -> int:
    return math.ceil(math.sqrt(size))


def _apply_lut_atlas(rgb, lut: CubeLUT, planes):
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
        for slice_ in (b0, b0 + 1):               # the two blue slices around each pixel
            row = np.floor((slice_ + 0.5) * (1.0 / cols))
            x = (slice_ - row * cols) * stride + r
            y = row * stride + g
            maps.append((x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)))
        dst = out[k].numpy()
        for c, plane in enumerate(planes):
            a = cv2.remap(plane, *maps[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d = cv2.remap(plane, *maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d -= a
            d *= fb
            np.add(a, d, out=dst[c])
    return out
