"""Built-in generative model architectures: ``conv_vae`` (a convolutional VAE) and ``dcgan_sn``
(a DCGAN generator trained against a spectrally normalised discriminator with the hinge loss).

They are registered by import path, so building the plugin registry (``vfx nodes``, ``vfx --help``)
does not import torch; the networks live in ``vfx_plugins.generators.model_nets`` and load on first use.
"""

from __future__ import annotations

import vfx

BUILTIN = {
    "conv_vae": "vfx_plugins.generators.model_nets:ConvVAE",
    "dcgan_sn": "vfx_plugins.generators.model_nets:DCGANSN",
}


@vfx.hookimpl
def register_model_architectures(register):
    """Register the built-in architectures (by import path)."""
    for name, target in BUILTIN.items():
        register(name, target)
