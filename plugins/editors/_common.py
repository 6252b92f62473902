"""Helpers shared by the editors: audio lengths and gathering frames from several inputs."""

from __future__ import annotations

import vfx
from vfx import AudioInfo, FrameBatch, samples_at


def _audio_len(node, frames: int) -> AudioInfo:
    s = node.ctx.settings
    return AudioInfo(s.sample_rate, s.channels, samples_at(frames, s.fps, s.sample_rate))


def _gather(node, sources: list[tuple["vfx.Node", list[int]]], indices: list[int]) -> FrameBatch:
    """Pull runs of frames from several inputs and join them into one batch."""
    return FrameBatch.join([node.pull(src, idx) for src, idx in sources if idx], indices)
