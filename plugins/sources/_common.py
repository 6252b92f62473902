"""Helpers shared by the built-in sources."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vfx import AudioInfo, ConfigureError, samples_at

_FRAME_NUMBER = re.compile(r"%(0?)(\d*)d")


def _audio_info(node, frames: int) -> AudioInfo:
    s = node.ctx.settings
    return AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))


def _rgba(frame) -> np.ndarray:
    """One decoded frame as straight RGBA (uint8, or uint16 when deeper), by its own matrix and range."""
    from vfx.media import to_rgba

    return to_rgba(frame)


def find_sequence(pattern: str, start_number: int | None, gaps: str) -> tuple[int, list[int]]:
    """The first image shown and the numbers of the files of a printf ``pattern`` (``shot.%04d.png``)
    from it on, sorted; ``ConfigureError`` naming ``path`` or ``start_number`` when the pattern,
    its folder, its files, the start or (with ``gaps = "error"``) a missing number is wrong."""
    name = Path(pattern).name
    if len(_FRAME_NUMBER.findall(name)) != 1 or "%" in _FRAME_NUMBER.sub("", name) or "%" in str(Path(pattern).parent):
        raise ConfigureError(
            f"the path must hold one frame-number pattern such as %04d in the file name "
            f"(and no other %), got {pattern}",
            option="path",
        )
    folder = Path(pattern).parent
    if not folder.is_dir():
        raise ConfigureError(f"the folder {folder} of the pattern {pattern} does not exist", option="path")
    head, *_, tail = _FRAME_NUMBER.split(name, maxsplit=1)
    regex = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
    numbers = sorted(
        n for p in folder.iterdir() if (m := regex.fullmatch(p.name)) and name % (n := int(m.group(1))) == p.name
    )
    if not numbers:
        raise ConfigureError(f"no file matches the pattern {pattern}", option="path")
    start = numbers[0] if start_number is None else start_number
    if start not in numbers:
        raise ConfigureError(
            f"there is no image number {start} ({pattern % start}); the images found are "
            f"numbered {numbers[0]} to {numbers[-1]}",
            option="start_number",
        )
    numbers = [n for n in numbers if n >= start]
    if gaps == "error" and numbers[-1] - start + 1 != len(numbers):
        missing = next(n for k, n in enumerate(range(start, numbers[-1] + 1)) if numbers[k] != n)
        raise ConfigureError(
            f"image number {missing} is missing ({pattern % missing}) in the sequence "
            f'{start} to {numbers[-1]}; add it, or set gaps = "hold" to hold the image '
            "before a gap",
            option="path",
        )
    return start, numbers
