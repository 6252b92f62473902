from fractions import Fraction

import pytest

from vfx.timing import parse_fps, parse_frame_range, to_frames


@pytest.mark.parametrize(
    "value,expected",
    [
        (24, Fraction(24)),
        ("30000/1001", Fraction(30000, 1001)),
        (29.97, Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("25", Fraction(25)),
        (59.94, Fraction(60000, 1001)),
    ],
)
def test_parse_fps(value, expected):
    assert parse_fps(value) == expected


@pytest.mark.parametrize("bad", [0, -1, "abc", True, "1/0", [24]])
def test_parse_fps_rejects(bad):
    with pytest.raises(ValueError):
        parse_fps(bad)


@pytest.mark.parametrize(
    "value,fps,frames",
    [
        (120, 24, 120),
        ("120f", 24, 120),
        ("2.5s", 24, 60),
        ("500ms", 24, 12),
        ("1m", 24, 1440),
        ("00:00:05:12", 24, 132),
        ("00:01:02.5", 24, 1500),
        ("01:00", 25, 1500),
        ("10s", Fraction(30000, 1001), 300),
        ("01:00:00:00", Fraction(30000, 1001), 108000),
        ("00:01:30;00", Fraction(30000, 1001), 2698),
        ("01:00:00;00", Fraction(30000, 1001), 107892),
        ("00:10:00;00", Fraction(60000, 1001), 35964),
    ],
)
def test_to_frames(value, fps, frames):
    assert to_frames(value, Fraction(fps)) == frames


@pytest.mark.parametrize("bad", ["5 parsecs", 2.5, "00:00:01:30", True, "-3s", -4, "00:01:00;01", "00:00:01;00"])
def test_to_frames_rejects(bad):
    with pytest.raises(ValueError):
        to_frames(bad, Fraction(24))


def test_frame_range_inclusive_and_clamped():
    assert parse_frame_range("120-239", Fraction(24), 1000) == (120, 240)
    assert parse_frame_range("5s-10s", Fraction(24), 1000) == (120, 241)
    assert parse_frame_range("48", Fraction(24), 100) == (48, 49)
    assert parse_frame_range("90-", Fraction(24), 100) == (90, 100)
    assert parse_frame_range("0-1000", Fraction(24), 100) == (0, 100)
    with pytest.raises(ValueError):
        parse_frame_range("50-10", Fraction(24), 100)
    with pytest.raises(ValueError):
        parse_frame_range("200-300", Fraction(24), 100)
