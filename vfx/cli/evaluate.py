"""(being written) ``vfx evaluate``."""
from __future__ import annotations
