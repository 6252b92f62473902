"""Small utilities every layer shares, written once: atomic writes (``atomic``), an LRU cache (``lru``)."""
