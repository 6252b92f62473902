"""(being written) ``vfx train``."""
from __future__ import annotations
