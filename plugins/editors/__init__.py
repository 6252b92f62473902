"""Editors: trim, concat, composite, crossfade, speed and resize. Audio follows every edit."""

from __future__ import annotations

import vfx

from .composite import Composite
from .concat import Concat
from .crossfade import Crossfade
from .resize import Resize
from .speed import Speed
from .trim import Trim


@vfx.hookimpl
def register_nodes(register):
    """Register the editor node types."""
    for cls in (Trim, Concat, Composite, Crossfade, Speed, Resize):
        register(cls)
