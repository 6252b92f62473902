"""Imports every built-in command module so each adds itself to ``cli``."""

from . import evaluate, farm, info, preview, render, train  # noqa: F401
