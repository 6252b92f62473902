"""``vfx.ops.noise`` on the CPU as one Numba kernel: every octave of every point in one pass.

The torch path builds a dozen whole-frame tensors per lattice corner per octave (a 1080p fBm of
five 3-D Perlin octaves: about a second); here each point runs its octaves in registers (about
a quarter of that; 3 to 20 times faster across the bases). Hashes, gradients, feature points,
octave offsets and rotation are those of ``vfx.ops.noise`` step by step, so both paths give the
same values up to float rounding (the test suite compares them).
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit import inline, kernel

f32 = np.float32
M32 = 0xFFFFFFFF

# bases and fractal shapes (``fractal``'s ``basis`` and ``shape``)
PERLIN, SIMPLEX, WORLEY = 0, 1, 2
SINGLE, FBM, TURBULENCE, RIDGED = 0, 1, 2, 3

_F2 = f32(0.5 * (np.sqrt(3.0) - 1.0))
_G2 = f32((3.0 - np.sqrt(3.0)) / 6.0)
_G3 = f32(1.0 / 6.0)
_SQRT2 = f32(np.sqrt(2.0))


@inline
def _pcg(v):
    """PCG-RXS-M-XS 32-bit hash of an int64 in [0, 2**32) (``vfx.ops.noise._pcg``)."""
    state = (v * 747796405 + 2891336453) & M32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & M32
    return (word >> 22) ^ word


@inline
def _hash2(ix, iy, s):
    return _pcg((ix + _pcg((iy + s) & M32)) & M32)


@inline
def _hash3(ix, iy, iz, s):
    return _pcg((ix + _pcg((iy + _pcg((iz + s) & M32)) & M32)) & M32)


@inline
def _unit(h):
    """A hash to a float32 in [0, 1)."""
    return f32(h >> 8) * f32(1.0 / 16777216.0)


@inline
def _fade(t):
    return t * t * t * (t * (t * f32(6.0) - f32(15.0)) + f32(10.0))


@inline
def _lerp(a, b, t):
    return a + t * (b - a)


@inline
def _clamp(v, lo, hi):
    return min(max(v, f32(lo)), f32(hi))


# The 2-D gradient table ("g2": 16 unit vectors at odd multiples of pi/16) is four numbers, the
# cosines of pi/16, 3 pi/16, 5 pi/16 and 7 pi/16, placed and signed by quadrant: picked by
# arithmetic instead of a table load, which lets Perlin's loop vectorize (same values; a test
# checks them against the table; simplex keeps the loads, faster there)
G2_COS = (f32(0.98078525), f32(0.8314696), f32(0.55557024), f32(0.19509032))


@inline
def _cos_at(j):
    """``G2_COS[j]`` (j in 0..3) without a load or a branch: one term is the number, three are 0."""
    return G2_COS[0] * f32(j == 0) + G2_COS[1] * f32(j == 1) + G2_COS[2] * f32(j == 2) + G2_COS[3] * f32(j == 3)


@inline
def _grad2(h, g2, tx, ty):
    k = (h >> 13) & 15
    q, j = k >> 2, k & 3
    swap = (q & 1) * 3  # quadrants 1 and 3 swap the two magnitudes
    gx = _cos_at(j ^ swap) * f32(1 - 2 * (((q + 1) >> 1) & 1))  # negative in quadrants 1, 2
    gy = _cos_at(j ^ 3 ^ swap) * f32(1 - 2 * (q >> 1))  # negative in quadrants 2, 3
    return gx * tx + gy * ty


# The 3-D gradient table (``vfx.ops.noise``'s "g3": cube-edge directions, every component -1, 0 or
# 1) as bit masks, component c of row k being bit k of G3_POS[c] minus bit k of G3_NEG[c]: arithmetic
# instead of a table load, so the loop over points vectorizes (same values; a test checks the masks)
G3_POS = (0x1055, 0x3503, 0x4330)
G3_NEG = (0x20AA, 0xCA0C, 0x8CC0)


@inline
def _unit_component(pos, neg, k):
    return f32((pos >> k) & 1) - f32((neg >> k) & 1)


@inline
def _grad3(h, g3, tx, ty, tz):
    k = (h >> 13) & 15
    return (
        _unit_component(G3_POS[0], G3_NEG[0], k) * tx
        + _unit_component(G3_POS[1], G3_NEG[1], k) * ty
        + _unit_component(G3_POS[2], G3_NEG[2], k) * tz
    )


# A corner's hash chains z, then y, then x into the seed: corners that share a row share its
# inner hashes, so the four corners of a cell take 6 hashes and the eight of a cube 14, not 8 and 24.


@inline
def _perlin2(x, y, s, g2):
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = np.int64(fx), np.int64(fy)
    tx, ty = x - fx, y - fy
    ux, uy = tx - f32(1.0), ty - f32(1.0)
    u, v = _fade(tx), _fade(ty)
    h0, h1 = _pcg((iy + s) & M32), _pcg((iy + 1 + s) & M32)
    lower = _lerp(_grad2(_pcg((ix + h0) & M32), g2, tx, ty), _grad2(_pcg((ix + 1 + h0) & M32), g2, ux, ty), u)
    upper = _lerp(_grad2(_pcg((ix + h1) & M32), g2, tx, uy), _grad2(_pcg((ix + 1 + h1) & M32), g2, ux, uy), u)
    return _clamp(_lerp(lower, upper, v) * _SQRT2, -1.0, 1.0)


@inline
def _perlin3_row(ix, iy, hz, g3, tx, ty, tz, u):
    """Row ``iy`` of the cube's face ``hz`` (the hash of its z): its two corners, mixed along x."""
    h = _pcg((iy + hz) & M32)
    return _lerp(
        _grad3(_pcg((ix + h) & M32), g3, tx, ty, tz), _grad3(_pcg((ix + 1 + h) & M32), g3, tx - f32(1.0), ty, tz), u
    )


@inline
def _perlin3(x, y, z, s, g3):
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    ix, iy, iz = np.int64(fx), np.int64(fy), np.int64(fz)
    tx, ty, tz = x - fx, y - fy, z - fz
    uy, uz = ty - f32(1.0), tz - f32(1.0)
    u, v, w = _fade(tx), _fade(ty), _fade(tz)
    h0, h1 = _pcg((iz + s) & M32), _pcg((iz + 1 + s) & M32)
    x00 = _perlin3_row(ix, iy, h0, g3, tx, ty, tz, u)
    x10 = _perlin3_row(ix, iy + 1, h0, g3, tx, uy, tz, u)
    x01 = _perlin3_row(ix, iy, h1, g3, tx, ty, uz, u)
    x11 = _perlin3_row(ix, iy + 1, h1, g3, tx, uy, uz, u)
    return _clamp(_lerp(_lerp(x00, x10, v), _lerp(x01, x11, v), w), -1.0, 1.0)


@inline
def _simplex_corner2(ix, iy, s, g2, cx, cy):
    t = max(f32(0.5) - cx * cx - cy * cy, f32(0.0))
    t = t * t
    k = (_hash2(ix, iy, s) >> 13) & 15
    return t * t * (g2[k, 0] * cx + g2[k, 1] * cy)


@inline
def _simplex2(x, y, s, g2):
    sk = (x + y) * _F2
    i, j = np.floor(x + sk), np.floor(y + sk)
    t = (i + j) * _G2
    x0, y0 = x - (i - t), y - (j - t)
    i1 = 1 if x0 > y0 else 0
    ii, jj = np.int64(i), np.int64(j)
    out = _simplex_corner2(ii, jj, s, g2, x0, y0)
    out += _simplex_corner2(ii + i1, jj + 1 - i1, s, g2, x0 - f32(i1) + _G2, y0 - f32(1 - i1) + _G2)
    out += _simplex_corner2(ii + 1, jj + 1, s, g2, x0 - f32(1.0) + f32(2.0) * _G2, y0 - f32(1.0) + f32(2.0) * _G2)
    return _clamp(out * f32(99.0), -1.0, 1.0)


@inline
def _simplex_corner3(ix, iy, iz, s, g3, cx, cy, cz):
    t = max(f32(0.5) - cx * cx - cy * cy - cz * cz, f32(0.0))
    t = t * t
    k = (_hash3(ix, iy, iz, s) >> 13) & 15
    return t * t * (g3[k, 0] * cx + g3[k, 1] * cy + g3[k, 2] * cz)


@inline
def _simplex3(x, y, z, s, g3):
    sk = (x + y + z) * f32(1.0 / 3.0)
    i, j, k = np.floor(x + sk), np.floor(y + sk), np.floor(z + sk)
    t = (i + j + k) * f32(1.0 / 6.0)
    x0, y0, z0 = x - (i - t), y - (j - t), z - (k - t)
    xy, yz, xz = x0 >= y0, y0 >= z0, x0 >= z0
    i1, j1, k1 = xy and xz, (not xy) and yz, (not xz) and (not yz)
    i2, j2, k2 = xy or xz, (not xy) or yz, not (xz and yz)
    ii, jj, kk = np.int64(i), np.int64(j), np.int64(k)
    out = _simplex_corner3(ii, jj, kk, s, g3, x0, y0, z0)
    out += _simplex_corner3(
        ii + i1, jj + j1, kk + k1, s, g3, x0 - f32(i1) + _G3, y0 - f32(j1) + _G3, z0 - f32(k1) + _G3
    )
    out += _simplex_corner3(
        ii + i2,
        jj + j2,
        kk + k2,
        s,
        g3,
        x0 - f32(i2) + f32(2.0) * _G3,
        y0 - f32(j2) + f32(2.0) * _G3,
        z0 - f32(k2) + f32(2.0) * _G3,
    )
    out += _simplex_corner3(
        ii + 1,
        jj + 1,
        kk + 1,
        s,
        g3,
        x0 - f32(1.0) + f32(3.0) * _G3,
        y0 - f32(1.0) + f32(3.0) * _G3,
        z0 - f32(1.0) + f32(3.0) * _G3,
    )
    return _clamp(out * f32(76.0), -1.0, 1.0)


@inline
def _worley2(x, y, s):
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = np.int64(fx), np.int64(fy)
    tx, ty = x - fx, y - fy
    best = f32(16.0)
    for dy in range(-1, 2):
        hy = _pcg((iy + dy + s) & M32)
        for dx in range(-1, 2):
            h = _pcg((ix + dx + hy) & M32)
            ox = _unit(h) + (f32(dx) - tx)
            oy = _unit(_pcg(h)) + (f32(dy) - ty)
            best = min(best, ox * ox + oy * oy)
    return _clamp(np.sqrt(best), 0.0, 1.0)


@inline
def _worley3(x, y, z, s):
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    ix, iy, iz = np.int64(fx), np.int64(fy), np.int64(fz)
    tx, ty, tz = x - fx, y - fy, z - fz
    best = f32(16.0)
    for dz in range(-1, 2):
        hz = _pcg((iz + dz + s) & M32)
        for dy in range(-1, 2):
            hy = _pcg((iy + dy + hz) & M32)
            for dx in range(-1, 2):
                h = _pcg((ix + dx + hy) & M32)
                h2 = _pcg(h)
                ox = _unit(h) + (f32(dx) - tx)
                oy = _unit(h2) + (f32(dy) - ty)
                oz = _unit(_pcg(h2)) + (f32(dz) - tz)
                best = min(best, ox * ox + oy * oy + oz * oz)
    return _clamp(np.sqrt(best), 0.0, 1.0)


@inline
def _basis(basis, has_z, x, y, z, s, g2, g3):
    if basis == PERLIN:
        return _perlin3(x, y, z, s, g3) if has_z else _perlin2(x, y, s, g2)
    if basis == SIMPLEX:
        return _simplex3(x, y, z, s, g3) if has_z else _simplex2(x, y, s, g2)
    return _worley3(x, y, z, s) if has_z else _worley2(x, y, s)


#: points per block: each octave runs over a block of points in an inner loop of its own, which
#: vectorizes (a loop over octaves inside the loop over points does not)
BLOCK = 512


@inline
def _octave(basis, has_z, x, y, z, start, m, px, py, f, dx, dy, dz, s, g2, g3, values):
    """One octave of ``basis`` at block points ``start .. start + m`` into ``values``."""
    if basis == PERLIN and has_z:
        for i in range(m):
            values[i] = _perlin3(px[i] * f + dx, py[i] * f + dy, z[start + i] * f + dz, s, g3)
    elif basis == PERLIN:
        for i in range(m):
            values[i] = _perlin2(px[i] * f + dx, py[i] * f + dy, s, g2)
    elif basis == SIMPLEX and has_z:
        for i in range(m):
            values[i] = _simplex3(px[i] * f + dx, py[i] * f + dy, z[start + i] * f + dz, s, g3)
    elif basis == SIMPLEX:
        for i in range(m):
            values[i] = _simplex2(px[i] * f + dx, py[i] * f + dy, s, g2)
    elif has_z:
        for i in range(m):
            values[i] = _worley3(px[i] * f + dx, py[i] * f + dy, z[start + i] * f + dz, s)
    else:
        for i in range(m):
            values[i] = _worley2(px[i] * f + dx, py[i] * f + dy, s)


@kernel
def fractal(x, y, z, out, basis, has_z, shape, seeds, octave_xyz, amps, norm, rotation, g2, g3):
    """Noise at flat float32 points ``x, y`` (and ``z`` where ``has_z``) into ``out``.

    ``shape`` SINGLE: one octave of ``basis`` as is; FBM, TURBULENCE, RIDGED: ``len(seeds)``
    octaves, octave ``o`` at ``(p * f + offset)`` with ``octave_xyz[o] = (f, dx, dy, dz)``,
    weighted ``amps[o]`` and hashed with ``seeds[o]``, the sum divided by ``norm``; the (x, y)
    plane turns by ``rotation = (cos, sin)`` between octaves. ``g2``/``g3``: gradient tables.
    """
    c, s = rotation[0], rotation[1]
    octaves = 1 if shape == SINGLE else seeds.shape[0]
    px = np.empty(BLOCK, np.float32)
    py = np.empty(BLOCK, np.float32)
    total = np.empty(BLOCK, np.float32)
    weight = np.empty(BLOCK, np.float32)
    values = np.empty(BLOCK, np.float32)
    for start in range(0, x.shape[0], BLOCK):
        m = min(BLOCK, x.shape[0] - start)
        for i in range(m):
            px[i], py[i] = x[start + i], y[start + i]
            total[i], weight[i] = f32(0.0), f32(1.0)
        for o in range(octaves):
            f = octave_xyz[o, 0]
            _octave(
                basis, has_z, x, y, z, start, m, px, py, f,
                octave_xyz[o, 1], octave_xyz[o, 2], octave_xyz[o, 3], seeds[o], g2, g3, values,
            )  # fmt: skip
            a = amps[o]
            for i in range(m):
                n = values[i]
                if shape == SINGLE:
                    total[i] = n
                    continue
                if basis == WORLEY:
                    n = n * f32(2.0) - f32(1.0)
                if shape == FBM:
                    total[i] += a * n
                elif shape == TURBULENCE:
                    total[i] += a * abs(n)
                else:  # ridged: each octave weighted by the one before
                    r = (f32(1.0) - abs(n)) ** 2
                    if o:
                        r = r * weight[i]
                    weight[i] = _clamp(r * f32(2.0), 0.0, 1.0)
                    total[i] += a * r
                qx, qy = px[i], py[i]
                px[i], py[i] = qx * c - qy * s, qx * s + qy * c
        for i in range(m):
            out[start + i] = total[i] if shape == SINGLE else total[i] / norm
