"""Frame rates and times: rational fps, durations and timecodes turned into frame counts."""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from typing import Any

_COMMON_NTSC = {
    "23.976": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "59.94": Fraction(60000, 1001),
    "47.952": Fraction(48000, 1001),
}

_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|f)\s*$")
_UNIT_SECONDS = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60), "h": Fraction(3600)}
_FPS_TEXT = re.compile(r"^(\d+(\.\d*)?|\.\d+|\d+/\d+)$")

#: the longest time string read (longer ones are refused before any number is parsed)
MAX_TIME_TEXT = 64
#: the most frames a time may stand for, unless the environment variable VFX_MAX_FRAMES says more
DEFAULT_MAX_FRAMES = 1_000_000


def max_frames() -> int:
    """The frame cap for times and durations: ``$VFX_MAX_FRAMES`` or ``DEFAULT_MAX_FRAMES``."""
    try:
        return max(1, int(os.environ.get("VFX_MAX_FRAMES", DEFAULT_MAX_FRAMES)))
    except ValueError:
        return DEFAULT_MAX_FRAMES


_TIMECODE = re.compile(r"^(?:(\d+):)?(\d+):(\d+)(?:([:;])(\d+)|(\.\d+))?$")


def parse_fps(value: Any) -> Fraction:
    """``24``, ``23.976``, ``"30000/1001"`` or ``"29.97"`` to an exact positive Fraction."""
    if isinstance(value, bool):
        raise ValueError("expected a frame rate, got a boolean")
    if isinstance(value, Fraction):
        fps = value
    elif isinstance(value, int):
        fps = Fraction(value)
    elif isinstance(value, (float, str)):
        if isinstance(value, float) and not (math.isfinite(value) and 0 < value <= 1000):
            raise ValueError(f"frame rate must be between 0 and 1000, got {value!r}")
        text = str(value).strip()
        if text in _COMMON_NTSC:
            fps = _COMMON_NTSC[text]
        else:
            try:
                if isinstance(value, str) and (len(text) > 32 or not _FPS_TEXT.match(text)):
                    raise ValueError(text)
                fps = Fraction(text).limit_denominator(1001)
            except (ValueError, ZeroDivisionError):
                raise ValueError(f'expected a frame rate like 24, 29.97 or "30000/1001", got {_short(value)}') from None
    else:
        raise ValueError(f"expected a frame rate, got {type(value).__name__}")
    if fps <= 0 or fps > 1000:
        raise ValueError(f"frame rate must be between 0 and 1000, got {value!r}")
    return fps


def to_frames(value: Any, fps: Fraction, *, allow_negative: bool = False) -> int:
    """A time to a frame index/count.

    Integers are frames. Strings may be ``"120f"``, ``"2.5s"``, ``"500ms"``, ``"1m"``,
    a SMPTE timecode ``"00:00:10:12"`` (last field is frames) or ``"00:01:02.5"``.
    Times round to the nearest frame. A time beyond ``max_frames()`` frames is refused.
    """
    if isinstance(value, bool):
        raise ValueError("expected a time, got a boolean")
    if isinstance(value, int):
        frames = value
    elif isinstance(value, float):
        raise ValueError(f'a bare number is a frame count and must be whole; write "{value}s" for seconds')
    elif isinstance(value, str):
        if len(value) > MAX_TIME_TEXT:
            raise ValueError(f"a time is at most {MAX_TIME_TEXT} characters, got {len(value)}: {_short(value)}")
        frames = _parse_time_string(value.strip(), fps)
    else:
        raise ValueError(f"expected frames (integer) or a time string, got {type(value).__name__}")
    if frames < 0 and not allow_negative:
        raise ValueError(f"time must not be negative, got {_short(value)}")
    cap = max_frames()
    if abs(frames) > cap:
        raise ValueError(
            f"time {_short(value)} is more than {cap} frames (the limit; set the environment "
            f"variable VFX_MAX_FRAMES to raise it)"
        )
    return frames


def _short(value: Any) -> str:
    """``repr`` of a value, cut to 40 characters for messages."""
    text = repr(value)
    return text if len(text) <= 40 else text[:30] + f"... ({len(text)} characters)"


def _parse_time_string(text: str, fps: Fraction) -> int:
    m = _UNIT.match(text)
    if m:
        number, unit = Fraction(m.group(1)), m.group(2)
        if unit == "f":
            if number.denominator != 1:
                raise ValueError(f"a frame count must be whole, got {text!r}")
            return int(number)
        return _round_half_up(number * _UNIT_SECONDS[unit] * fps)
    m = _TIMECODE.match(text)
    if m:
        hours = int(m.group(1) or 0)
        minutes, secs = int(m.group(2)), int(m.group(3))
        if m.group(5) is not None:
            return _smpte_frames(hours, minutes, secs, int(m.group(5)), fps, drop=m.group(4) == ";")
        whole = Fraction(hours * 3600 + minutes * 60 + secs)
        if m.group(6):
            whole += Fraction(m.group(6))
        return _round_half_up(whole * fps)
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f'expected frames (120 or "120f"), seconds ("2.5s", "500ms") or a timecode ("00:00:05:12"), got {text!r}'
        ) from None


def _smpte_frames(h: int, m: int, s: int, ff: int, fps: Fraction, drop: bool) -> int:
    """A SMPTE timecode counts frames at the nominal (whole) rate: 29.97 counts as 30.

    ``HH:MM:SS;FF`` is drop-frame (29.97 and 59.94 only): frame numbers 0 and 1 (0-3 at 59.94)
    are skipped at the start of each minute except every tenth, so the clock keeps real time.
    """
    nominal = round(fps)
    if ff >= nominal:
        raise ValueError(f"timecode frame field {ff} is not below the frame rate {nominal}")
    total = (h * 3600 + m * 60 + s) * nominal + ff
    if not drop:
        return total
    if fps.denominator != 1001 or nominal not in (30, 60):
        raise ValueError(f"drop-frame timecode (with ';') is only defined for 29.97 and 59.94 fps, not {float(fps):g}")
    skipped = nominal // 15
    minutes = 60 * h + m
    if s == 0 and ff < skipped and m % 10:
        raise ValueError(f"{h:02d}:{m:02d}:{s:02d};{ff:02d} does not exist in drop-frame timecode")
    return total - skipped * (minutes - minutes // 10)


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def parse_frame_range(text: str, fps: Fraction, total: int) -> tuple[int, int]:
    """``"120-239"`` (inclusive, like ``vfx render --frames``) to a half-open ``(start, stop)``."""
    if "-" in text.strip().lstrip("-"):
        a, b = text.split("-", 1)
        start = to_frames(a.strip(), fps) if a.strip() else 0
        end = to_frames(b.strip(), fps) if b.strip() else total - 1
    else:
        start = end = to_frames(text.strip(), fps)
    if start > end:
        raise ValueError(f"frame range {text!r} ends before it starts")
    if start >= total:
        raise ValueError(f"frame range {text!r} starts at {start}, but the output has only {total} frames")
    return start, min(end, total - 1) + 1
