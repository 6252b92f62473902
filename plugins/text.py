"""(being written) text nodes."""
from __future__ import annotations

import vfx


@vfx.hookimpl
def register_nodes(register):
    """Register this module's node types."""
