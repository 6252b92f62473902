"""vfx.ops.jit and its fastmath: the float32 math kernels vectorize with, against NumPy in float64,
how frames are handed to kernels, parameter blocks, and the backend switch that picks the kernel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.frames import empty_pixels
from vfx.ops import backend, jit

fastmath = pytest.importorskip("vfx.ops.jit.fastmath")

pytestmark = pytest.mark.kernel


@jit.kernel
def _apply(name, x, e, out):
    for i in range(x.shape[0]):
        if name == 0:
            out[i] = fastmath.powf(x[i], e)
        elif name == 1:
            out[i] = fastmath.srgb_encode(x[i])
        else:
            out[i] = fastmath.srgb_decode(x[i])


def run(name: int, x, e=1.0):
    x = np.asarray(x, np.float32)
    out = np.empty_like(x)
    _apply(name, x, np.float32(e), out)
    return out.astype(np.float64)


@pytest.mark.parametrize("e", [1 / 2.4, 1.2, 2.4, 0.05, 7.0])
def test_powf_error_grows_only_with_the_exponent_of_the_result(e):
    """Relative error below 2.5e-7 + 1e-7 (|e log2 x| + e) (float32 rounding of e log2 x dominates),
    wherever x^e is a normal float32."""
    x = np.geomspace(1e-6, 60.0, 20001).astype(np.float32)
    exact = x.astype(np.float64) ** e
    normal = exact > 2.0**-126
    bound = 2.5e-7 + 1e-7 * (np.abs(e * np.log2(x.astype(np.float64))) + e)
    assert np.all((np.abs(run(0, x, e) - exact) / exact <= bound)[normal])
    assert run(0, [0.0], e)[0] == 0.0 and run(0, [0.0], 0.0)[0] == 1.0


def test_srgb_curves_match_their_definitions_on_both_pieces():
    x = np.linspace(-0.2, 4.0, 40001).astype(np.float32)
    xd = x.astype(np.float64)
    encoded = np.where(xd <= 0.0031308, 12.92 * xd, 1.055 * np.abs(xd) ** (1 / 2.4) - 0.055)
    decoded = np.where(xd <= 0.04045, xd / 12.92, ((np.abs(xd) + 0.055) / 1.055) ** 2.4)
    np.testing.assert_allclose(run(1, x), encoded, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(run(2, x), decoded, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(run(2, run(1, x)), xd, rtol=2e-6, atol=1e-7)


def test_frames_go_to_kernels_as_views_and_outputs_must_be_channels_last():
    out = empty_pixels(1, 3, 5)
    flat = jit.rgba(out[0], out=True)
    flat[:] = np.arange(60)
    assert out[0, :, 0, 1].tolist() == [4.0, 5.0, 6.0, 7.0]  # pixel (0, 1): written in place
    planar = torch.arange(60, dtype=torch.float32).view(1, 4, 3, 5)  # not channels-last: a copy
    assert jit.rgba(planar[0])[:4].tolist() == [0.0, 15.0, 30.0, 45.0]
    with pytest.raises(ValueError, match="channels-last"):
        jit.rgba(planar[0], out=True)


def test_a_param_block_gives_offsets_by_name_and_packs_rows():
    block = jit.ParamBlock(("gains", 3), ("contrast", 1), ("pivot", 1), ("lift", 3))
    assert tuple(block.at) == (0, 3, 4, 5) and block.at.lift == 5 and block.size == 8
    rows = block.pack(2, gains=1.0, contrast=np.array([1.5, 2.0]), lift=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    assert rows.dtype == np.float32 and rows.shape == (2, 8)
    np.testing.assert_array_equal(rows[1], np.float32([1, 1, 1, 2.0, 0, 0.4, 0.5, 0.6]))
    with pytest.raises(ValueError, match="no slot"):
        block.pack(1, gamma=1.0)
    with pytest.raises(ValueError, match="twice"):
        jit.ParamBlock(("a", 1), ("a", 3))


def test_kernels_read_a_blocks_offsets_as_constants():
    block = jit.ParamBlock(("scale", 1), ("offset", 3))
    at = block.at

    @jit.kernel
    def affine(x, params, out):
        for i in range(x.shape[0]):
            out[i] = x[i] * params[at.scale] + params[at.offset + i % 3]

    out = np.empty(4, np.float32)
    affine(np.arange(4, dtype=np.float32), block.pack(1, scale=2.0, offset=[10, 20, 30])[0], out)
    assert out.tolist() == [10.0, 22.0, 34.0, 16.0]


def test_the_backend_switch_allows_the_kernel_on_cpu_tensors_only():
    x = torch.zeros(3)
    assert backend.allows("numba", x) and backend.allows("numba", "cpu") and backend.allows("opencv")
    assert not backend.allows("numba", torch.device("meta"))
    with backend.only("torch"):
        assert not backend.allows("numba", x) and not backend.allows("opencv", x)
        with backend.only("torch", "opencv"):
            assert backend.allows("opencv", x) and not backend.allows("numba", x)
        assert not backend.allows("opencv", x)
    assert backend.allows("numba", x)
    with pytest.raises(ValueError, match="unknown path"):
        backend.allows("cuda", x)
    with pytest.raises(ValueError, match="unknown path"):
        with backend.only("simd"):
            pass
