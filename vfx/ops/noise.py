"""Procedural noise for whole tensors: Perlin, simplex, Worley (cellular), fractal sums and curl.

Every function takes coordinate tensors ``x, y`` (and optionally ``z``, e.g. time) of one shape on
any device and returns a tensor of that shape on the same device, computed in one vectorised pass
(a Python loop runs only over octaves or over the handful of neighbouring lattice cells).

The lattice is hashed, not looked up in a permutation table: integer cell coordinates and the seed
go through a PCG-style 32-bit integer hash computed in int64 torch arithmetic (every intermediate
stays below 2**63, so no overflow and the same bits on CPU and GPU). The same coordinates and seed
give the same values on every device, up to float rounding. Coordinates are in lattice units: one
feature / one gradient cell per unit, so ``perlin(x * 8, y * 8)`` over ``x, y`` in 0..1 shows about
eight bumps across.

1-D noise of time (a camera shake, an expression's ``noise(t)``) takes a batch's frame times, a
handful of numbers: ``gradient1d``, ``fractal1d`` and ``value1d`` are NumPy float64 on the host.

Ranges: ``perlin`` and ``simplex`` about -1..1 (clamped to it), ``worley`` 0..1 (F1 distance to the
nearest feature point, clamped), ``fbm`` -1..1 (a weighted mean of octaves, so in practice it spans
less, roughly -0.6..0.6), ``turbulence`` and ``ridged`` 0..1.

On a CPU, float32 noise runs as one Numba kernel (``vfx.ops._noise_kernel``: all octaves of a
point in one pass, 3 to 20 times faster) where ``vfx.ops.backend`` allows "numba"; elsewhere, and
for float64, as torch operations.

Importing this module imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from . import backend
from .curves import smooth

__all__ = [
    "perlin",
    "simplex",
    "worley",
    "fbm",
    "turbulence",
    "ridged",
    "curl2d",
    "hash_int",
    "worley_points",
    "gradient1d",
    "fractal1d",
    "value1d",
]

_M32 = 0xFFFFFFFF
_TABLES: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}

#: coordinates: tensors, arrays or numbers (converted to tensors on the first tensor's device)
Coord = torch.Tensor | npt.ArrayLike
#: per-cell values of a ``_Lattice``: the cell hashes to one tensor per component
CellFn = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]


# ---------------------------------------------------------------- hashing


def _pcg_py(v: int) -> int:
    """The PCG hash of a Python int (for seeds)."""
    state = (v * 747796405 + 2891336453) & _M32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & _M32
    return (word >> 22) ^ word


def _seed32(seed: int, salt: int = 0) -> int:
    """A 32-bit seed from any Python int (64-bit seeds fold their high half in)."""
    seed = int(seed)
    lo, hi = seed & _M32, (seed >> 32) & _M32
    return _pcg_py((_pcg_py(lo ^ _pcg_py(hi + 0x9E3779B9)) + salt * 0x85EBCA6B) & _M32)


def _pcg(v: torch.Tensor) -> torch.Tensor:
    """PCG-RXS-M-XS 32-bit hash of an int64 tensor holding values in [0, 2**32)."""
    state = (v * 747796405 + 2891336453) & _M32
    word = (
        torch.bitwise_xor(torch.bitwise_right_shift(state, torch.bitwise_right_shift(state, 28) + 4), state) * 277803737
    ) & _M32
    return torch.bitwise_xor(torch.bitwise_right_shift(word, 22), word)


def hash_int(*coords: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A 32-bit hash (int64 tensor, values in [0, 2**32)) of integer lattice coordinates and a seed."""
    if not coords:
        raise TypeError("hash_int needs at least one coordinate")
    h = _pcg((coords[-1] + _seed32(seed)) & _M32)
    for c in reversed(coords[:-1]):
        h = _pcg((c + h) & _M32)
    return h


def _to_float(h: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A hash to a float in [0, 1)."""
    return (h >> 8).to(dtype) * (1.0 / 16777216.0)


# ---------------------------------------------------------------- helpers


def _prepare(x: Coord, y: Coord, z: Coord | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    ref = (
        next(t for t in (x, y, z) if isinstance(t, torch.Tensor))
        if any(isinstance(t, torch.Tensor) for t in (x, y, z))
        else None
    )
    device = ref.device if ref is not None else torch.device("cpu")
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    if ref is not None and not ref.is_floating_point():
        dtype = torch.float32
    for t in (x, y, z):
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    conv = [None if t is None else torch.as_tensor(t, device=device, dtype=dtype) for t in (x, y, z)]
    if conv[2] is None:
        a, b = torch.broadcast_tensors(conv[0], conv[1])
        return a, b, None
    return torch.broadcast_tensors(*conv)


def _table(name: str, device: str | torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (name, str(device), dtype)
    t = _TABLES.get(key)
    if t is None:
        if name == "g2":
            a = torch.arange(16, dtype=torch.float64) * (2 * math.pi / 16) + math.pi / 16
            t = torch.stack([a.cos(), a.sin()], 1)
        else:  # the 12 cube-edge directions of improved Perlin noise, padded to 16
            t = torch.tensor(
                [
                    [1, 1, 0],
                    [-1, 1, 0],
                    [1, -1, 0],
                    [-1, -1, 0],
                    [1, 0, 1],
                    [-1, 0, 1],
                    [1, 0, -1],
                    [-1, 0, -1],
                    [0, 1, 1],
                    [0, -1, 1],
                    [0, 1, -1],
                    [0, -1, -1],
                    [1, 1, 0],
                    [-1, 1, 0],
                    [0, -1, 1],
                    [0, -1, -1],
                ],
                dtype=torch.float64,
            )
        t = _TABLES[key] = t.to(device=device, dtype=dtype)
    return t


def _grad_fn(table: torch.Tensor) -> CellFn:
    cols = [c.contiguous() for c in table.unbind(1)]

    def fn(h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx = (h >> 13) & 15
        return tuple(c.take(idx) for c in cols)

    return fn


def _point_fn(dtype: torch.dtype, dims: int) -> CellFn:
    def fn(h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = [_to_float(h, dtype)]
        for _ in range(dims - 1):
            h = _pcg(h)
            out.append(_to_float(h, dtype))
        return tuple(out)

    return fn


class _Lattice:
    """Per-cell values (``fn`` of the cell hash) at integer lattice cells near the points ``ints``.

    ``at(offsets)`` gives the values at cells ``ints + offsets`` (ints or int64 tensors per axis,
    x first). ``lo``/``hi``: how far below/above the points' cells offsets may reach.

    ``box``: hash every cell the points span once, then gather (False: hash each corner of each
    point). None takes the box on the CPU for 4096 points or more, where an int64 hash per corner
    costs far more than a gather; on a GPU the hash is cheap and a box would need a host sync to
    size it. Both give identical values.
    """

    def __init__(
        self, ints: Sequence[torch.Tensor], s: int, fn: CellFn, lo: int = 0, hi: int = 1, box: bool | None = None
    ) -> None:
        self.ints, self.s, self.fn = ints, s, fn
        self.values: list[torch.Tensor] | None = None
        t0 = ints[0]
        if box is None:
            box = t0.device.type == "cpu" and t0.numel() >= 4096
        if not box:
            return
        mins, sizes = [], []
        cells = 1
        for t in ints:
            lo_t, hi_t = torch.aminmax(t)
            a, b = int(lo_t) - lo, int(hi_t) + hi
            mins.append(a)
            sizes.append(b - a + 1)
            cells *= b - a + 1
        if cells > 2 * t0.numel():
            return
        nd = len(ints)
        h = None
        for d in reversed(range(nd)):
            shape = [1] * nd
            shape[nd - 1 - d] = sizes[d]
            c = torch.arange(mins[d], mins[d] + sizes[d], dtype=torch.int64, device=t0.device).view(shape)
            h = _pcg((c + (s if h is None else h)) & _M32)
        assert h is not None  # ints is not empty (t0 above)
        self.values = [v.contiguous() for v in fn(h.reshape(-1))]
        self.strides = [1] * nd
        for d in range(1, nd):
            self.strides[d] = self.strides[d - 1] * sizes[d - 1]
        base = ints[0] - mins[0]
        for d in range(1, nd):
            base = base + (ints[d] - mins[d]) * self.strides[d]
        self.base = base

    def at(self, offsets: Sequence[int | torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if self.values is not None:
            idx = self.base
            for off, st in zip(offsets, self.strides):
                if isinstance(off, torch.Tensor):
                    idx = idx + (off * st if st != 1 else off)
                elif off:
                    idx = idx + off * st
            return tuple(v.take(idx) for v in self.values)
        h = None
        for c, off in reversed(list(zip(self.ints, offsets))):
            h = _pcg((c + off + (self.s if h is None else h)) & _M32)
        assert h is not None
        return self.fn(h)


def _fade(t: Any) -> Any:
    return t * t * t * (t * (t * 6 - 15) + 10)


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + t * (b - a)


_SALTS = {"perlin": 1, "simplex": 2, "worley": 3}


def _use_kernel(x: torch.Tensor) -> bool:
    return x.dtype == torch.float32 and backend.allows("numba", x)


def _kernel_noise(
    x: torch.Tensor,
    y: torch.Tensor,
    z: torch.Tensor | None,
    basis: str,
    shape: str = "single",
    octaves: int = 1,
    lacunarity: float = 2.0,
    gain: float = 0.5,
    seed: int = 0,
) -> torch.Tensor:
    """``basis`` noise (``shape`` "single") or its fractal sum through ``_noise_kernel.fractal``;
    seeds, octave frequencies, offsets and weights exactly as the torch path makes them."""
    from . import _noise_kernel as K

    salt = _SALTS[basis]
    if shape == "single":
        seeds, octave_xyz, amps, norm = [_seed32(seed, salt)], [(1.0, 0.0, 0.0, 0.0)], [1.0], 1.0
    else:
        plan = _octave_plan(octaves, lacunarity, gain, seed)
        seeds = [_seed32(o_seed, salt) for o_seed, *_ in plan]
        octave_xyz = [xyz for _, xyz, _ in plan]
        amps = [amp for *_, amp in plan]
        norm = sum(amps)
    points = [t.contiguous().numpy().reshape(-1) for t in (x, y, x if z is None else z)]
    out = np.empty(points[0].shape[0], np.float32)
    K.fractal(
        *points,
        out,
        getattr(K, basis.upper()),
        z is not None,
        getattr(K, shape.upper()),
        np.asarray(seeds, np.int64),
        np.asarray(octave_xyz, np.float32),
        np.asarray(amps, np.float32),
        np.float32(norm),
        np.asarray([_ROT_C, _ROT_S], np.float32),
        _table("g2", "cpu", torch.float32).numpy(),
        _table("g3", "cpu", torch.float32).numpy(),
    )
    return torch.from_numpy(out).view(x.shape)


# ---------------------------------------------------------------- Perlin


def perlin(x: Coord, y: Coord, z: Coord | None = None, *, seed: int = 0) -> torch.Tensor:
    """Gradient (Perlin) noise, about -1..1; 0 on every integer lattice point.

    ``z`` adds a third dimension (time, to evolve a 2-D pattern smoothly).
    """
    x, y, z = _prepare(x, y, z)
    if _use_kernel(x):
        return _kernel_noise(x, y, z, "perlin", seed=seed)
    s = _seed32(seed, 1)
    fx, fy = torch.floor(x), torch.floor(y)
    ix, iy = fx.to(torch.int64), fy.to(torch.int64)
    tx, ty = x - fx, y - fy
    u, v = _fade(tx), _fade(ty)
    if z is None:
        lat = _Lattice([ix, iy], s, _grad_fn(_table("g2", x.device, x.dtype)))

        def corner(i: int, j: int) -> torch.Tensor:
            gx, gy = lat.at((i, j))
            return gx * (tx - i) + gy * (ty - j)

        n00, n10 = corner(0, 0), corner(1, 0)
        n01, n11 = corner(0, 1), corner(1, 1)
        out = _lerp(_lerp(n00, n10, u), _lerp(n01, n11, u), v) * math.sqrt(2.0)
        return out.clamp_(-1.0, 1.0)
    fz = torch.floor(z)
    iz = fz.to(torch.int64)
    tz = z - fz
    w = _fade(tz)
    lat = _Lattice([ix, iy, iz], s, _grad_fn(_table("g3", x.device, x.dtype)))

    def corner3(i: int, j: int, k: int) -> torch.Tensor:
        gx, gy, gz = lat.at((i, j, k))
        return gx * (tx - i) + gy * (ty - j) + gz * (tz - k)

    c = {(i, j, k): corner3(i, j, k) for i in (0, 1) for j in (0, 1) for k in (0, 1)}
    x00 = _lerp(c[0, 0, 0], c[1, 0, 0], u)
    x10 = _lerp(c[0, 1, 0], c[1, 1, 0], u)
    x01 = _lerp(c[0, 0, 1], c[1, 0, 1], u)
    x11 = _lerp(c[0, 1, 1], c[1, 1, 1], u)
    out = _lerp(_lerp(x00, x10, v), _lerp(x01, x11, v), w)
    return out.clamp_(-1.0, 1.0)


# ---------------------------------------------------------------- simplex

_F2 = 0.5 * (math.sqrt(3.0) - 1.0)
_G2 = (3.0 - math.sqrt(3.0)) / 6.0
_S2_SCALE = 99.0  # about 1 / max of the 2-D kernel sum with unit gradients (measured)
_S3_SCALE = 76.0  # about 1 / max of the 3-D (r^2 = 0.5 kernel) sum (measured)


def simplex(x: Coord, y: Coord, z: Coord | None = None, *, seed: int = 0) -> torch.Tensor:
    """Simplex noise in 2-D or 3-D (with ``z``), about -1..1; fewer axis-aligned artefacts than Perlin."""
    x, y, z = _prepare(x, y, z)
    if _use_kernel(x):
        return _kernel_noise(x, y, z, "simplex", seed=seed)
    s = _seed32(seed, 2)
    if z is None:
        sk = (x + y) * _F2
        i, j = torch.floor(x + sk), torch.floor(y + sk)
        t = (i + j) * _G2
        x0, y0 = x - (i - t), y - (j - t)
        above = x0 > y0
        i1 = above.to(x.dtype)
        j1 = 1.0 - i1
        x1, y1 = x0 - i1 + _G2, y0 - j1 + _G2
        x2, y2 = x0 - 1.0 + 2.0 * _G2, y0 - 1.0 + 2.0 * _G2
        lat = _Lattice([i.to(torch.int64), j.to(torch.int64)], s, _grad_fn(_table("g2", x.device, x.dtype)))
        i1i = above.to(torch.int64)
        out = torch.zeros_like(x)
        for di, dj, cx, cy in ((0, 0, x0, y0), (i1i, 1 - i1i, x1, y1), (1, 1, x2, y2)):
            gx, gy = lat.at((di, dj))
            tt = (0.5 - cx * cx - cy * cy).clamp_(min=0.0)
            tt = tt * tt
            out += tt * tt * (gx * cx + gy * cy)
        return (out * _S2_SCALE).clamp_(-1.0, 1.0)
    sk = (x + y + z) * (1.0 / 3.0)
    i, j, k = torch.floor(x + sk), torch.floor(y + sk), torch.floor(z + sk)
    t = (i + j + k) * (1.0 / 6.0)
    x0, y0, z0 = x - (i - t), y - (j - t), z - (k - t)
    # the simplex containing the point: order the offsets
    xy, yz, xz = x0 >= y0, y0 >= z0, x0 >= z0
    i1 = xy & xz
    j1 = (~xy) & yz
    k1 = (~xz) & (~yz)
    i2 = xy | xz
    j2 = (~xy) | yz
    k2 = ~(xz & yz)
    lat = _Lattice(
        [i.to(torch.int64), j.to(torch.int64), k.to(torch.int64)], s, _grad_fn(_table("g3", x.device, x.dtype))
    )
    out = torch.zeros_like(x)
    G3 = 1.0 / 6.0
    f = x.dtype
    corners = (
        ((0, 0, 0), x0, y0, z0),
        ((i1, j1, k1), x0 - i1.to(f) + G3, y0 - j1.to(f) + G3, z0 - k1.to(f) + G3),
        ((i2, j2, k2), x0 - i2.to(f) + 2 * G3, y0 - j2.to(f) + 2 * G3, z0 - k2.to(f) + 2 * G3),
        ((1, 1, 1), x0 - 1 + 3 * G3, y0 - 1 + 3 * G3, z0 - 1 + 3 * G3),
    )
    for offs, cx, cy, cz in corners:
        cell = tuple(o.to(torch.int64) if isinstance(o, torch.Tensor) else o for o in offs)
        gx, gy, gz = lat.at(cell)
        tt = (0.5 - cx * cx - cy * cy - cz * cz).clamp_(min=0.0)
        tt = tt * tt
        out += tt * tt * (gx * cx + gy * cy + gz * cz)
    return (out * _S3_SCALE).clamp_(-1.0, 1.0)


# ---------------------------------------------------------------- Worley


def worley_points(ix: Coord, iy: Coord, iz: Coord | None = None, *, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """The feature point of lattice cell(s) ``(ix, iy[, iz])`` (int64 tensors): absolute coordinates.

    Returns a tuple of float64 tensors (px, py[, pz]); ``worley`` is 0 at these points.
    """
    s = _seed32(seed, 3)
    ix = torch.as_tensor(ix, dtype=torch.int64)
    iy = torch.as_tensor(iy, dtype=torch.int64, device=ix.device)
    ints = [ix, iy]
    if iz is not None:
        ints.append(torch.as_tensor(iz, dtype=torch.int64, device=ix.device))
    h = None
    for c in reversed(ints):
        h = _pcg((c + (s if h is None else h)) & _M32)
    assert h is not None
    frac = _point_fn(torch.float64, len(ints))(h)
    return tuple(c.to(torch.float64) + f for c, f in zip(ints, frac))


def worley(x: Coord, y: Coord, z: Coord | None = None, *, seed: int = 0) -> torch.Tensor:
    """Cellular (Worley) noise F1: the distance to the nearest feature point, 0..1.

    One feature point per unit cell (see ``worley_points``); 0 exactly on a feature point, positive
    elsewhere, continuous, with creases along the cell borders.
    """
    x, y, z = _prepare(x, y, z)
    if _use_kernel(x):
        return _kernel_noise(x, y, z, "worley", seed=seed)
    s = _seed32(seed, 3)
    fx, fy = torch.floor(x), torch.floor(y)
    ix, iy = fx.to(torch.int64), fy.to(torch.int64)
    tx, ty = x - fx, y - fy  # positions relative to the cell: keeps float precision far from 0
    best = torch.full_like(x, 16.0)
    if z is None:
        lat = _Lattice([ix, iy], s, _point_fn(x.dtype, 2), lo=1, hi=1)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                px, py = lat.at((dx, dy))
                ox = px + (dx - tx)
                oy = py + (dy - ty)
                torch.minimum(best, ox * ox + oy * oy, out=best)
        return best.sqrt_().clamp_(0.0, 1.0)
    fz = torch.floor(z)
    iz = fz.to(torch.int64)
    tz = z - fz
    lat = _Lattice([ix, iy, iz], s, _point_fn(x.dtype, 3), lo=1, hi=1)
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                px, py, pz = lat.at((dx, dy, dz))
                ox = px + (dx - tx)
                oy = py + (dy - ty)
                oz = pz + (dz - tz)
                torch.minimum(best, ox * ox + oy * oy + oz * oz, out=best)
    return best.sqrt_().clamp_(0.0, 1.0)


# ---------------------------------------------------------------- fractal sums

_BASES = {"perlin": perlin, "simplex": simplex}


def _signed_basis(basis: str) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None, int], torch.Tensor]:
    if basis == "worley":
        return lambda x, y, z, seed: worley(x, y, z, seed=seed) * 2.0 - 1.0
    try:
        fn = _BASES[basis]
    except KeyError:
        raise ValueError(f"unknown noise basis {basis!r} (perlin, simplex or worley)") from None
    return lambda x, y, z, seed: fn(x, y, z, seed=seed)


# Per-octave rotation (about 37 degrees) and offsets: keeps octaves' lattices from lining up.
_ROT_C, _ROT_S = math.cos(0.6435), math.sin(0.6435)


def _octave_plan(
    octaves: int, lacunarity: float, gain: float, seed: int
) -> list[tuple[int, tuple[float, float, float, float], float]]:
    """Per octave: its seed, (frequency, x, y and z offsets) and weight."""
    plan: list[tuple[int, tuple[float, float, float, float], float]] = []
    amp, freq = 1.0, 1.0
    for o in range(octaves):
        plan.append((seed * 1013 + o, (freq, 17.13 * o, -31.71 * o, 7.77 * o), amp))
        amp *= gain
        freq *= lacunarity
    return plan


def _octaves(
    x: Coord, y: Coord, z: Coord | None, octaves: int, lacunarity: float, gain: float, seed: int, basis: str, shape: str
) -> torch.Tensor:
    if octaves < 1:
        raise ValueError("octaves must be at least 1")
    x, y, z = _prepare(x, y, z)
    if _use_kernel(x):
        if basis not in _SALTS:
            _signed_basis(basis)  # the error for an unknown basis
        return _kernel_noise(x, y, z, basis, shape, octaves, lacunarity, gain, seed)
    fn = _signed_basis(basis)
    total = torch.zeros_like(x)
    norm = 0.0
    px, py = x, y
    weight = None
    for o_seed, (freq, ox, oy, oz), amp in _octave_plan(octaves, lacunarity, gain, seed):
        n = fn(px * freq + ox, py * freq + oy, None if z is None else z * freq + oz, o_seed)
        if shape == "fbm":
            total += amp * n
        elif shape == "turbulence":
            total += amp * n.abs()
        else:  # ridged (Musgrave): sharp crests, each octave weighted by the previous one
            r = (1.0 - n.abs()) ** 2
            if weight is not None:
                r = r * weight
            weight = (r * 2.0).clamp(0.0, 1.0)
            total += amp * r
        norm += amp
        px, py = px * _ROT_C - py * _ROT_S, px * _ROT_S + py * _ROT_C
    return total / norm


def fbm(
    x: Coord,
    y: Coord,
    z: Coord | None = None,
    *,
    octaves: int = 5,
    lacunarity: float = 2.0,
    gain: float = 0.5,
    seed: int = 0,
    basis: str = "perlin",
) -> torch.Tensor:
    """Fractal Brownian motion: ``octaves`` layers of ``basis`` noise, each ``lacunarity`` times finer
    and ``gain`` times weaker, divided by the sum of the weights (so within -1..1).

    ``basis`` is "perlin", "simplex" or "worley" (Worley mapped to -1..1 as ``2 * F1 - 1``).
    """
    return _octaves(x, y, z, octaves, lacunarity, gain, seed, basis, "fbm")


def turbulence(x: Coord, y: Coord, z: Coord | None = None, **fbm_kwargs: Any) -> torch.Tensor:
    """Sum of ``|noise|`` octaves (billowy, creased), 0..1; takes ``fbm``'s keyword arguments."""
    kw = {"octaves": 5, "lacunarity": 2.0, "gain": 0.5, "seed": 0, "basis": "perlin", **fbm_kwargs}
    return _octaves(x, y, z, kw["octaves"], kw["lacunarity"], kw["gain"], kw["seed"], kw["basis"], "turbulence")


def ridged(x: Coord, y: Coord, z: Coord | None = None, **fbm_kwargs: Any) -> torch.Tensor:
    """Ridged multifractal (sharp crests, like mountain ridges), 0..1; takes ``fbm``'s keyword arguments."""
    kw = {"octaves": 5, "lacunarity": 2.0, "gain": 0.5, "seed": 0, "basis": "perlin", **fbm_kwargs}
    return _octaves(x, y, z, kw["octaves"], kw["lacunarity"], kw["gain"], kw["seed"], kw["basis"], "ridged")


# ---------------------------------------------------------------- curl


def curl2d(
    x: Coord, y: Coord, z: Coord | None = None, *, seed: int = 0, eps: float = 1e-3, octaves: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """A divergence-free 2-D vector field ``(vx, vy)``: the curl of an fBm potential psi.

    ``vx = d psi / dy``, ``vy = -d psi / dx`` (central differences of step ``eps``), so particles
    advected by it swirl without bunching up or thinning out. ``z`` evolves the field over time.
    Magnitudes are of order 1 per lattice unit.
    """
    x, y, z = _prepare(x, y, z)

    def psi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return fbm(a, b, z, octaves=octaves, seed=seed)

    inv = 1.0 / (2.0 * eps)
    vx = (psi(x, y + eps) - psi(x, y - eps)) * inv
    vy = (psi(x - eps, y) - psi(x + eps, y)) * inv
    return vx, vy


# ---------------------------------------------------------------- 1-D noise of time (NumPy, float64)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _gradient1d_at(seed: int, channel: int, i: np.ndarray) -> np.ndarray:
    """A hashed gradient in [-1, 1) for each integer lattice point ``i`` of one noise channel."""
    key = np.atleast_1d(np.asarray(i, np.int64)).view(np.uint64)
    salt = _mix64(np.array([seed & 0xFFFFFFFFFFFFFFFF, channel], np.uint64))
    h = _mix64(_mix64(key ^ salt[1]) ^ salt[0])
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2.0 - 1.0


def gradient1d(x: npt.ArrayLike, *, seed: int = 0, channel: int = 0) -> np.ndarray:
    """Smooth 1-D gradient (Perlin) noise of ``x`` (numbers or an array, lattice units), within [-1, 1];
    0 on every integer. A pure function of (seed, channel, x): any x computes on its own.
    ``channel`` picks an independent noise of the same seed (x and y of a shake, say)."""
    x = np.atleast_1d(np.asarray(x, np.float64))
    i0 = np.floor(x)
    u = x - i0
    g0 = _gradient1d_at(seed, channel, i0.astype(np.int64))
    g1 = _gradient1d_at(seed, channel, i0.astype(np.int64) + 1)
    fade = _fade(u)
    # |g0 u (1 - fade) + g1 (u - 1) fade| <= 1/2, so doubling keeps the result within [-1, 1]
    return 2.0 * (g0 * u * (1 - fade) + g1 * (u - 1) * fade)


def fractal1d(x: npt.ArrayLike, *, octaves: int, seed: int = 0, channel: int = 0) -> np.ndarray:
    """``octaves`` of ``gradient1d`` (each twice the frequency and half the weight of the one before),
    divided by the sum of the weights: within [-1, 1]. Octave k is channel ``16 * channel + k``."""
    total: float | np.ndarray = 0.0
    weight, norm = 1.0, 0.0
    x = np.asarray(x, np.float64)
    for k in range(octaves):
        total = total + weight * gradient1d(x * (2**k), seed=seed, channel=channel * 16 + k)
        norm += weight
        weight *= 0.5
    return np.asarray(total / norm)


_VALUE_CHANNEL = 0x76616C7565  # "value": value1d's lattice, apart from every gradient1d channel


def value1d(x: npt.ArrayLike) -> np.ndarray:
    """Smooth deterministic 1-D value noise of ``x`` in -1..1 (unseeded, an expression's ``noise(x)``):
    at every integer the same hashed lattice value as ``gradient1d`` uses (integer arithmetic, so the
    same on every CPU), ``smooth`` between."""
    x = np.asarray(x, np.float64)
    i = np.floor(x)
    lattice = i.astype(np.int64)
    s = smooth(x - i)
    at = _gradient1d_at(0, _VALUE_CHANNEL, lattice).reshape(x.shape)
    after = _gradient1d_at(0, _VALUE_CHANNEL, lattice + 1).reshape(x.shape)
    return at * (1 - s) + after * s
