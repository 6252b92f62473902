"""Generative models: the architecture registry, safetensors model files, and training.

Generator nodes use ``load_model(path, device)`` and the ``GenerativeModel`` methods
``generate``, ``encode`` and ``decode``; ``vfx train`` uses ``vfx.models.train``.
"""

from __future__ import annotations

from .base import GenerativeModel
from .errors import ModelError, ModelFileError, TrainingDataError
from .io import load_model, read_config, save_model
from .registry import architecture, architecture_names, architectures, build_model

__all__ = [
    "GenerativeModel",
    "ModelError",
    "ModelFileError",
    "TrainingDataError",
    "architecture",
    "architecture_names",
    "architectures",
    "build_model",
    "load_model",
    "read_config",
    "save_model",
]
