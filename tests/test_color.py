"""The conversion boundary: exact 8-bit round trips, and out-of-range light clamps instead of wrapping."""

from __future__ import annotations

import numpy as np

from vfx.ops import color


def test_every_8bit_code_round_trips():
    codes = np.arange(256, dtype=np.uint8)
    rgba = np.stack([codes, codes[::-1], codes, np.full(256, 255, np.uint8)], -1).reshape(1, 16, 16, 4)
    back = color.from_linear(color.to_linear(rgba, premultiply=False), alpha=False)
    assert np.array_equal(back, rgba[..., :3])


def test_encode_matches_the_srgb_formula_and_clamps():
    lin = np.array(
        [-1.0, 0.0, 1e-4, 0.0031308, 0.01, 0.18, 0.5, 1.0, 1.5, 3.9, 4.0, 100.0, np.inf], np.float32
    ).reshape(1, -1, 1)
    out = np.empty(lin.shape, np.uint8)
    color.encode_srgb8(lin, out)
    x = np.clip(lin.astype(np.float64), 0, 1)
    ref = np.floor(np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255 + 0.5)
    assert out.ravel().tolist() == ref.ravel().astype(int).tolist()


def test_random_values_match_the_reference_except_at_exact_code_boundaries():
    rng = np.random.default_rng(3)
    lin = (rng.random((64, 64, 4)) ** 2.2).astype(np.float32)
    out = np.empty(lin.shape, np.uint8)
    color.encode_srgb8(lin, out)
    x = lin.astype(np.float64)
    ref = np.floor(np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 255 + 0.5)
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert (out != ref).mean() < 1e-3
