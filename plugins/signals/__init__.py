"""Signal nodes: per-frame values that drive other nodes' options (``{ driver = "id" }``)."""

from __future__ import annotations

import vfx

from .luma import Luma


@vfx.hookimpl
def register_nodes(register):
    """Register the signal node types."""
    register(Luma)
