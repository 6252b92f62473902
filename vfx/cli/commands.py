"""Imports every built-in command module so each adds itself to ``cli``."""
from . import info, preview, render  # noqa: F401
