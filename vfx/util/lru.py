"""One LRU cache for every layer: decoded frames, packet indexes, particle births, text layouts.

``LRU(n)`` keeps at most ``n`` entries; ``get`` marks an entry as recently used, ``put`` adds one
and drops the least recently used beyond the bound (``on_evict`` sees each dropped value). Not
thread-safe on its own: callers that share one across threads hold their own lock.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterator, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class LRU(Generic[K, V]):
    """A mapping bounded to ``maxsize`` entries, least recently used dropped first."""

    __slots__ = ("maxsize", "_items", "_on_evict")

    def __init__(self, maxsize: int, on_evict: Callable[[K, V], None] | None = None):
        if maxsize < 1:
            raise ValueError(f"an LRU needs room for at least one entry, got {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()
        self._on_evict = on_evict

    def get(self, key: K, default=None):
        """The value at ``key`` (now the most recently used), or ``default``."""
        value = self._items.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        """Store ``value`` at ``key`` as the most recently used; returns ``value``."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            old_key, old = self._items.popitem(last=False)
            if self._on_evict is not None:
                self._on_evict(old_key, old)
        return value

    def pop(self, key: K, default=None):
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()
