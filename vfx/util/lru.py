"""One LRU cache for every layer: decoded frames, packet indexes, particle births, text layouts.

``LRU(n)`` keeps at most ``n`` entries; ``get`` marks an entry as recently used (``peek`` does
not), ``put`` adds one and drops the least recently used beyond the bound. With ``weigh``, the
bound is on the sum of ``weigh(value)`` instead (bytes, say), and the newest entry always stays.
Not thread-safe on its own: callers that share one across threads hold their own lock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, ItemsView, Iterator, TypeVar, ValuesView

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class LRU(Generic[K, V]):
    """A mapping bounded to ``maxsize`` entries, least recently used dropped first."""

    __slots__ = ("maxsize", "_items", "_weigh", "_weights", "size")

    def __init__(self, maxsize: int, *, weigh: Callable[[V], int] | None = None):
        if maxsize < 1:
            raise ValueError(f"an LRU needs room for at least one entry, got {maxsize}")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weigh = weigh
        self._weights: dict[K, int] = {}
        #: entries held, or with ``weigh`` the sum of their weights
        self.size = 0

    def get(self, key: K, default: Any = None) -> Any:
        """The value at ``key`` (now the most recently used), or ``default``."""
        value = self._items.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._items.move_to_end(key)
        return value

    def peek(self, key: K, default: Any = None) -> Any:
        """The value at ``key``, or ``default``, leaving the order as it is."""
        return self._items.get(key, default)

    def put(self, key: K, value: V) -> V:
        """Store ``value`` at ``key`` as the most recently used; returns ``value``."""
        if key in self._items:
            self._drop(key)
        weight = 1 if self._weigh is None else self._weigh(value)
        self._items[key] = value
        self._weights[key] = weight
        self.size += weight
        self._evict()
        return value

    def resize(self, maxsize: int) -> None:
        """A new bound, least recently used entries dropped to fit it."""
        self.maxsize = max(1, maxsize)
        self._evict()

    def pop(self, key: K, default: Any = None) -> Any:
        return self._drop(key) if key in self._items else default

    def clear(self) -> None:
        self._items.clear()
        self._weights.clear()
        self.size = 0

    def _drop(self, key: K) -> V:
        self.size -= self._weights.pop(key)
        return self._items.pop(key)

    def _evict(self) -> None:
        while self.size > self.maxsize and len(self._items) > 1:
            self._drop(next(iter(self._items)))

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def values(self) -> ValuesView[V]:
        return self._items.values()

    def items(self) -> ItemsView[K, V]:
        return self._items.items()
