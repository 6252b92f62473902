"""Helpers shared by the built-in sources."""

from __future__ import annotations

import numpy as np

from vfx import AudioInfo, samples_at


def _audio_info(node, frames: int) -> AudioInfo:
    s = node.ctx.settings
    return AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))


def _rgba(frame) -> np.ndarray:
    """One decoded frame as straight RGBA (uint8, or uint16 when deeper), by its own matrix and range."""
    from vfx.media import to_rgba

    return to_rgba(frame)
