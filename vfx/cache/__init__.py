"""The node cache: frames of nodes, content-addressed, kept in memory and on disk (docs/cache.md).

``NodeCache.open(folder)`` makes one; ``vfx.engine.RenderOptions(cache=...)`` and
``vfx.engine.render_frames(..., cache=...)`` read through it and fill it.
"""

from .disk import CacheError, DiskInfo, DiskStore, clear_folder, default_folder
from .keys import graph_keys, node_key
from .memory import MemoryStore
from .nodecache import Binding, CacheStats, NodeCache, NodeStats

__all__ = [
    "Binding",
    "CacheError",
    "CacheStats",
    "DiskInfo",
    "DiskStore",
    "MemoryStore",
    "NodeCache",
    "NodeStats",
    "clear_folder",
    "default_folder",
    "graph_keys",
    "node_key",
]
