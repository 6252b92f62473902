"""The in-memory store: frames by (node key, frame), bounded in bytes, least recently used evicted."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..util.lru import LRU

if TYPE_CHECKING:
    import torch


def _nbytes(t: "torch.Tensor") -> int:
    return t.numel() * t.element_size()


class MemoryStore:
    """(key, frame) -> a (1, 4, H, W) tensor, at most ``limit`` bytes of them (counted as dense
    frames, whatever their storage). Thread-safe; frames put here are never written to again."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lru: LRU[tuple[str, int], torch.Tensor] = LRU(max(1, limit), weigh=_nbytes)
        self._lock = threading.Lock()

    def get(self, key: str, frame: int) -> "torch.Tensor | None":
        with self._lock:
            return self._lru.get((key, frame))

    def put(self, key: str, frame: int, pixels: "torch.Tensor") -> None:
        if _nbytes(pixels) > self.limit:
            return  # one frame larger than the whole bound: not kept at all
        with self._lock:
            self._lru.put((key, frame), pixels)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._lru.size

    def __len__(self) -> int:
        return len(self._lru)

    def clear(self) -> None:
        with self._lock:
            self._lru.clear()
