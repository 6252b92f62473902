"""Adobe/Resolve ``.cube`` 3D LUTs: reading one (applying it is ``vfx.ops.lut``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VfxError


class CubeError(VfxError, ValueError):
    """A .cube file that cannot be read; ``line`` is 1-based (None: the file as a whole)."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(message)


@dataclass
class CubeLUT:
    """A 3-D LUT: ``table[b, g, r]`` is the output RGB for the input at that grid point."""

    size: int
    table: np.ndarray  # (size, size, size, 3) float32, indexed [b, g, r]
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
            if len(rows) == size**3:
                raise CubeError(f"more than {size}^3 = {size**3} data rows", number)
            rows.append(_numbers(tokens, 3, number, "data row"))
        elif key == "LUT_3D_SIZE":
            if size is not None:
                raise CubeError(f"LUT_3D_SIZE given twice (first on line {size_line})", number)
            if len(tokens) != 2 or not tokens[1].isdigit() or not 2 <= int(tokens[1]) <= 256:
                raise CubeError(
                    f"LUT_3D_SIZE must be a whole number from 2 to 256, got {' '.join(tokens[1:])!r}", number
                )
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
            raise CubeError(
                f"unknown keyword {key!r} (expected TITLE, LUT_3D_SIZE, DOMAIN_MIN, DOMAIN_MAX or data rows)", number
            )
    if size is None:
        raise CubeError("no LUT_3D_SIZE line: not a 3-D .cube LUT")
    if len(rows) != size**3:
        raise CubeError(f"LUT_3D_SIZE {size} needs {size**3} data rows, found {len(rows)}", last_line)
    if not all(lo < hi for lo, hi in zip(dmin, dmax)):
        raise CubeError(f"DOMAIN_MIN {dmin} must be below DOMAIN_MAX {dmax} in every channel")
    table = np.asarray(rows, np.float32).reshape(size, size, size, 3)
    return CubeLUT(size, table, tuple(dmin), tuple(dmax), title)
