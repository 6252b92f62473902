"""Chunk planning: split an output's frames into contiguous ranges that cover every frame once."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import VfxError


class PlanError(VfxError, ValueError):
    """A frame range or chunk size that cannot be cut into chunks."""

    exit_code = 2


@dataclass(frozen=True, order=True)
class Chunk:
    """Frames ``[start, stop)`` of the output (half-open, like ``RenderOptions.frames``)."""

    index: int
    start: int
    stop: int

    @property
    def frames(self) -> int:
        """How many frames the chunk holds."""
        return self.stop - self.start

    @property
    def last(self) -> int:
        """The last frame, inclusive (what ``--frames S-E`` and the farm managers count)."""
        return self.stop - 1

    @property
    def name(self) -> str:
        """The segment's folder name: ``seg-000120-000239`` (inclusive frame numbers)."""
        return f"seg-{self.start:06d}-{self.last:06d}"

    @property
    def label(self) -> str:
        """How messages name it: ``chunk 2 (frames 20-29)`` (no number for a chunk outside a plan)."""
        return (f"chunk {self.index} " if self.index >= 0 else "chunk ") + f"(frames {self.start}-{self.last})"

    def to_json(self) -> list[int]:
        """``[index, start, stop]``, as the manifest lists the plan."""
        return [self.index, self.start, self.stop]


def plan_chunks(total: int, chunk_size: int, first: int = 0) -> list[Chunk]:
    """Chunks of ``chunk_size`` frames over frames ``[first, total)``; the last may be shorter.

    This is how OpenCue and Deadline cut a frame range with a chunk size, so a job exported to
    them writes the same segments as ``vfx farm render``.
    """
    if chunk_size < 1:
        raise PlanError(f"the chunk size must be at least 1 frame, got {chunk_size}")
    if total < 1 or first >= total:
        raise PlanError(f"nothing to render: frames {first}..{total - 1}")
    if first < 0:
        raise PlanError(f"the first frame must not be negative, got {first}")
    bounds = list(range(first, total, chunk_size)) + [total]
    return [Chunk(i, a, b) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def check_cover(chunks: list[Chunk], start: int, stop: int) -> None:
    """Raise ValueError unless the chunks cover ``[start, stop)`` exactly once, in order."""
    at = start
    for c in chunks:
        if c.start != at or c.stop <= c.start:
            raise PlanError(f"{c.label} does not follow frame {at - 1}: chunks must cover every frame once")
        at = c.stop
    if at != stop:
        raise PlanError(f"the chunks end at frame {at - 1}, the output at {stop - 1}")
