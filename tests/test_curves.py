"""vfx.ops.curves: smoothstep, easing and rising edges; the torch and NumPy paths agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vfx.ops import curves


def test_smoothstep_is_flat_at_its_edges_and_clamped_outside():
    x = np.linspace(-1.0, 2.0, 301)
    y = curves.smoothstep(0.0, 1.0, x)
    assert y[x <= 0].max() == 0.0 and y[x >= 1].min() == 1.0
    assert curves.smoothstep(0.0, 1.0, 0.5) == 0.5 and curves.smoothstep(1.0, 0.0, 0.25) == pytest.approx(0.84375)
    assert np.all(np.diff(y) >= 0)
    np.testing.assert_allclose(curves.smooth(x), y)


@pytest.mark.parametrize("easing", list(curves.EASINGS) + [(0.25, 0.1, 0.25, 1.0)])
def test_torch_and_numpy_paths_agree(easing):
    u = np.linspace(0.0, 1.0, 1001)
    t = torch.from_numpy(u)
    np.testing.assert_allclose(curves.ease(t, easing).numpy(), curves.ease(u, easing), rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(curves.smoothstep(0.2, 0.7, t).numpy(), curves.smoothstep(0.2, 0.7, u))
    np.testing.assert_allclose(curves.ease(t.float(), easing).numpy(), curves.ease(u, easing), atol=1e-6)


@pytest.mark.parametrize(
    "easing,u,expected",
    [
        ("ease_in", 0.5, 0.3153),
        ("ease_out", 0.5, 0.6847),
        ("ease_in_out", 0.25, 0.1291),
        ((0.25, 0.1, 0.25, 1.0), 0.5, 0.8024),
        ((0, 0, 1, 1), 0.3, 0.3),
        ("smooth", 0.25, 0.15625),
        ("hold", 0.9, 0.0),
    ],
)
def test_easings_match_css_cubic_bezier(easing, u, expected):
    assert curves.ease(np.array([u]), easing)[0] == pytest.approx(expected, abs=2e-4)


def test_rising_frames_read_the_frame_before_and_count_a_missing_one_as_zero():
    assert curves.rising_frames([0, 1, 2, 3, 4], [1.0, 1.0, 0.2, 0.5, 0.9]) == [0, 3]
    assert curves.rising_frames([4, 5, 9], [0.1, 0.7, 0.8]) == [5, 9]  # frame 8 is not known: 0
    assert curves.rising_frames([], []) == []
    assert curves.rising_frames(range(3), [0.0, 0.3, 0.31], level=0.3) == [1]
