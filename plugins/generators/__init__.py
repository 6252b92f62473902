"""Generators: pictures from generative models (GAN and VAE), the built-in model architectures
(registered by import path, so torch loads on first use) and the models shipped in ``models/``."""

from __future__ import annotations

import vfx

from .architectures import register_model_architectures  # noqa: F401  (the hookimpl)
from .generators import GanGenerator, VaeGenerator


@vfx.hookimpl
def register_nodes(register):
    """Register the generator node types."""
    for cls in (GanGenerator, VaeGenerator):
        register(cls)
