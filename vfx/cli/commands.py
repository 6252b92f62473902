"""Imports every built-in command module so each adds itself to ``cli``."""

from . import cache, evaluate, farm, info, preview, render, studio, timeline, train, verify  # noqa: F401
