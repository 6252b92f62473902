"""Errors of the model files, the architectures and training (all exit 2: bad input)."""

from __future__ import annotations

from ..errors import VfxError


class ModelError(VfxError, ValueError):
    """A model that cannot be built, loaded or used as asked (unknown architecture, GAN asked to encode...)."""

    exit_code = 2


class ModelFileError(ModelError):
    """A model file that is missing, not safetensors (a pickle is refused, never loaded) or not a vfx model."""

    exit_code = 2


class TrainingDataError(ModelError):
    """Training data that is missing, empty or unreadable; names the path."""

    exit_code = 2
