"""(being written) ``vfx farm``."""
from __future__ import annotations
