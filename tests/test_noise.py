"""vfx.ops.noise: ranges, determinism, seeds, continuity, statistics, curl and Worley feature points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.ops import backend
from vfx.ops import noise as N

BASES = {
    "perlin2": lambda x, y, s: N.perlin(x, y, seed=s),
    "perlin3": lambda x, y, s: N.perlin(x, y, 0.37 + 0 * x, seed=s),
    "simplex2": lambda x, y, s: N.simplex(x, y, seed=s),
    "simplex3": lambda x, y, s: N.simplex(x, y, 1.7, seed=s),
    "worley2": lambda x, y, s: N.worley(x, y, seed=s),
    "worley3": lambda x, y, s: N.worley(x, y, 2.2, seed=s),
    "fbm": lambda x, y, s: N.fbm(x, y, seed=s),
    "fbm_simplex3": lambda x, y, s: N.fbm(x, y, 0.5, seed=s, basis="simplex", octaves=3),
    "fbm_worley": lambda x, y, s: N.fbm(x, y, seed=s, basis="worley", octaves=3),
    "turbulence": lambda x, y, s: N.turbulence(x, y, seed=s, octaves=4),
    "ridged": lambda x, y, s: N.ridged(x, y, seed=s, octaves=4),
}
RANGES = {"worley2": (0, 1), "worley3": (0, 1), "turbulence": (0, 1), "ridged": (0, 1)}


def _points(n=200_000, span=60.0, gen_seed=0):
    g = torch.Generator().manual_seed(gen_seed)
    return (torch.rand(n, generator=g) * 2 - 1) * span, (torch.rand(n, generator=g) * 2 - 1) * span


@pytest.mark.parametrize("name", sorted(BASES))
def test_range_determinism_and_seed(name):
    f = BASES[name]
    x, y = _points()
    a = f(x, y, 3)
    lo, hi = RANGES.get(name, (-1, 1))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert torch.isfinite(a).all()
    assert a.min() >= lo - 1e-6 and a.max() <= hi + 1e-6
    assert float(a.std()) > 0.05  # not flat
    assert torch.equal(f(x, y, 3), a)  # deterministic
    b = f(x, y, 4)
    assert (a - b).abs().mean() > 0.05  # another seed is another pattern


@pytest.mark.parametrize("name", sorted(BASES))
def test_continuity(name):
    f = BASES[name]
    x, y = _points(50_000, 20.0, 1)
    step = 1e-3
    a, b = f(x, y, 7), f(x + step, y - step, 7)
    # Lipschitz-like: a step of 1e-3 lattice units never moves the value by more than a few hundredths
    assert float((a - b).abs().max()) < 0.05
    assert float((a - b).abs().mean()) < 0.005


@pytest.mark.parametrize("fn", [N.perlin, N.simplex])
def test_zero_mean_over_large_area(fn):
    x, y = _points(400_000, 200.0, 2)
    for z in (None, 3.3):
        v = fn(x, y, z, seed=11)
        assert abs(float(v.mean())) < 0.01
        assert float((v > 0).float().mean()) == pytest.approx(0.5, abs=0.02)
    v = N.fbm(x, y, seed=5)
    assert abs(float(v.mean())) < 0.01


def test_perlin_zero_on_lattice():
    ix = torch.arange(-20, 20, dtype=torch.float32)
    X, Y = torch.meshgrid(ix, ix, indexing="ij")
    assert float(N.perlin(X, Y, seed=9).abs().max()) < 1e-5
    assert float(N.perlin(X, Y, torch.full_like(X, 4.0), seed=9).abs().max()) < 1e-5


def test_worley_zero_at_feature_points_positive_elsewhere():
    cells = torch.arange(-6, 6)
    IX, IY = torch.meshgrid(cells, cells, indexing="ij")
    px, py = N.worley_points(IX, IY, seed=21)
    assert ((px - IX) >= 0).all() and ((px - IX) < 1).all()
    d = N.worley(px.to(torch.float64), py.to(torch.float64), seed=21)
    assert float(d.max()) < 1e-6
    # 3-D
    IZ = torch.full_like(IX, 2)
    qx, qy, qz = N.worley_points(IX, IY, IZ, seed=21)
    assert float(N.worley(qx, qy, qz, seed=21).max()) < 1e-6
    # elsewhere: positive, and equal to the distance to the nearest of the points (brute force)
    x, y = _points(4000, 4.0, 3)
    v = N.worley(x.double(), y.double(), seed=21)
    assert (v > 0).all()
    brute = (
        torch.cdist(torch.stack([x, y], 1).double(), torch.stack([px.flatten(), py.flatten()], 1).double())
        .min(1)
        .values
    )
    assert torch.allclose(v, brute.clamp(max=1.0), atol=1e-6)


def test_curl_is_divergence_free():
    def divergence(n):
        g = torch.linspace(0, 3, n, dtype=torch.float64)
        Y, X = torch.meshgrid(g, g, indexing="ij")
        h = float(g[1] - g[0])
        vx, vy = N.curl2d(X, Y, 0.4, seed=2)
        dvx_dx = (vx[1:-1, 2:] - vx[1:-1, :-2]) / (2 * h)
        dvy_dy = (vy[2:, 1:-1] - vy[:-2, 1:-1]) / (2 * h)
        return (dvx_dx + dvy_dy).abs().mean().item(), dvx_dx.abs().mean().item(), vx, vy

    coarse, scale, vx, vy = divergence(121)
    fine, _, _, _ = divergence(241)
    assert float(torch.sqrt(vx**2 + vy**2).mean()) > 0.3  # a real flow
    # the measured divergence is only the grid's truncation error: small, and shrinking as h^2
    assert coarse < 0.02 * scale
    assert fine < coarse / 3
    # float32 input too
    g = torch.linspace(0, 3, 121)
    Y, X = torch.meshgrid(g, g, indexing="ij")
    vx32, _ = N.curl2d(X, Y, 0.4, seed=2, eps=1e-2)
    assert torch.allclose(vx32.double(), vx, atol=0.05 * float(vx.abs().max()))


def test_broadcast_scalar_z_and_shapes():
    x, y = torch.meshgrid(torch.linspace(0, 3, 8), torch.linspace(0, 3, 5), indexing="ij")
    for f in (N.perlin, N.simplex, N.worley, N.fbm, N.turbulence):
        a = f(x, y, 1.5)
        assert a.shape == (8, 5)
        assert torch.equal(a, f(x, y, torch.full_like(x, 1.5)))
    # integer coordinates are accepted (as float32)
    a = N.perlin(torch.arange(4), torch.arange(4))
    assert a.dtype == torch.float32
    with pytest.raises(ValueError):
        N.fbm(x, y, basis="nope")


def test_hash_is_device_independent_and_64bit_seed_safe():
    c = torch.arange(-1000, 1000)
    h = N.hash_int(c, c * 3, seed=2**62 + 12345)
    assert int(h.min()) >= 0 and int(h.max()) < 2**32
    assert len(torch.unique(h)) > 1990
    assert not torch.equal(h, N.hash_int(c, c * 3, seed=12345))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_cpu_and_gpu_agree():
    x, y = _points(100_000, 50.0, 4)
    for name, f in BASES.items():
        a = f(x, y, 5)
        b = f(x.cuda(), y.cuda(), 5).cpu()
        assert torch.allclose(a, b, atol=2e-4), name
    vx, vy = N.curl2d(x, y, 0.3, seed=1)
    gx, gy = N.curl2d(x.cuda(), y.cuda(), 0.3, seed=1)
    assert torch.allclose(vx, gx.cpu(), atol=0.05) and torch.allclose(vy, gy.cpu(), atol=0.05)


@pytest.mark.parametrize("dims", [2, 3])
def test_lattice_box_and_direct_hash_agree(dims):
    """The torch path's CPU shortcut (hash each lattice cell once, gather) equals hashing every corner,
    for gradients and feature points, at fixed and per-point offsets."""
    g = torch.Generator().manual_seed(4)
    ints = [torch.randint(-10, 10, (9000,), generator=g) for _ in range(dims)]
    s = N._seed32(13, 1)
    table = N._table("g2" if dims == 2 else "g3", "cpu", torch.float32)
    per_point = (ints[0] > 0).to(torch.int64)
    for fn, lo, hi in ((N._grad_fn(table), 0, 1), (N._point_fn(torch.float32, dims), 1, 1)):
        box = N._Lattice(ints, s, fn, lo, hi, box=True)
        direct = N._Lattice(ints, s, fn, lo, hi, box=False)
        assert box.values is not None and direct.values is None
        for offsets in ((0,) * dims, (1,) * dims, (-lo,) * dims, (per_point, 1 - per_point) + (hi,) * (dims - 2)):
            for a, b in zip(box.at(offsets), direct.at(offsets)):
                assert torch.equal(a, b), offsets
    assert N._Lattice(ints, s, N._grad_fn(table)).values is not None  # the CPU's default
    assert N._Lattice([t[:100] for t in ints], s, N._grad_fn(table)).values is None


@pytest.mark.kernel
@pytest.mark.skipif(not backend.installed("numba"), reason="Numba is not installed")
@pytest.mark.parametrize("name", sorted(BASES))
def test_cpu_kernel_equals_torch_path(name, monkeypatch):
    """The Numba kernel (the CPU path for float32) gives the torch path's values: one octave to
    float rounding; fractal sums within 2e-4, the rounding of octave coordinates up to ~1000
    lattice units (the same tolerance as CPU against GPU)."""
    from vfx.ops import _noise_kernel as K

    calls = []
    fractal = K.fractal
    monkeypatch.setattr(K, "fractal", lambda *a: calls.append(1) or fractal(*a))
    f = BASES[name]
    x, y = _points(100_000, 60.0, 5)
    kernel = f(x, y, 9)
    assert calls, "the kernel did not run"
    with backend.only("torch"):
        torch_path = f(x, y, 9)
    single = not name.startswith(("fbm", "turbulence", "ridged"))
    assert torch.allclose(kernel, torch_path, atol=1e-5 if single else 2e-4, rtol=0), name


def test_gradient1d_is_bounded_smooth_and_seeded():
    x = np.linspace(-20, 20, 40001)
    n = N.gradient1d(x, seed=7)
    assert np.abs(n).max() <= 1.0 and np.abs(n).max() > 0.3
    assert np.abs(np.diff(n)).max() < 0.01  # smooth: no jumps
    assert np.array_equal(N.gradient1d(x[::7], seed=7), n[::7])  # any x alone gives the same value
    assert not np.allclose(N.gradient1d(x, seed=8), n)
    assert not np.allclose(N.gradient1d(x, seed=7, channel=1), n)
    f = N.fractal1d(x, octaves=3, seed=7)
    assert np.abs(f).max() <= 1.0 and not np.allclose(f, n)
    assert np.array_equal(N.fractal1d(x, octaves=1, seed=7), n)


def test_value1d_is_smooth_in_range_and_hits_its_lattice_values():
    x = np.linspace(-30, 30, 60001)
    v = N.value1d(x)
    assert np.abs(v).max() <= 1.0 and v.std() > 0.2
    assert np.abs(np.diff(v)).max() < 0.01
    whole = np.arange(-30.0, 31.0)
    lattice = N.value1d(whole)
    assert len(np.unique(lattice)) == len(whole)  # a hashed value per integer, none repeated
    between = N.value1d(whole[:-1] + 0.5)  # smooth(0.5) = 0.5: halfway between its two integers
    np.testing.assert_allclose(between, (lattice[:-1] + lattice[1:]) / 2, atol=1e-12)
    assert N.value1d(2.5).shape == () and N.value1d([[1.0, 2.0]]).shape == (1, 2)


V1D_HEX = "a864b53c0d99cbbf30ca1015b42ad33fa8b2cab573e4e2bf1a7014709f2bebbf"
G1D_HEX = "2867979b0be7cf3f7a792ce92e6ed3bf97ee8c40c744d13f"


@pytest.mark.kernel
def test_1d_noise_is_integer_hashing_so_every_cpu_gives_the_same_values():
    """No float transcendental (a sin hash amplifies its last-bit differences between SIMD paths)."""
    v = N.value1d(np.array([0.0, 1.0, -7.0, 123456.0]))
    g = N.gradient1d(np.array([0.25, 1.5, -7.75]), seed=3)
    assert v.tobytes().hex() == V1D_HEX and g.tobytes().hex() == G1D_HEX


def test_the_kernels_gradient_masks_are_the_3d_table():
    from vfx.ops import _noise_kernel as K

    table = N._table("g3", "cpu", torch.float32).numpy()
    for c in range(3):
        bits = [((K.G3_POS[c] >> k) & 1) - ((K.G3_NEG[c] >> k) & 1) for k in range(16)]
        assert bits == table[:, c].astype(int).tolist()


def test_the_kernels_2d_gradients_are_the_2d_table():
    from vfx.ops import _noise_kernel as K

    table = N._table("g2", "cpu", torch.float32).numpy()
    h = np.arange(16, dtype=np.int64) << 13  # hashes whose gradient index is 0..15
    gx = np.array([K._grad2.py_func(v, None, np.float32(1), np.float32(0)) for v in h], np.float32)
    gy = np.array([K._grad2.py_func(v, None, np.float32(0), np.float32(1)) for v in h], np.float32)
    assert np.array_equal(gx, table[:, 0]) and np.array_equal(gy, table[:, 1])
