"""Architecture look-up: the names plugins register through ``register_model_architectures``."""

from __future__ import annotations

import importlib

from .base import GenerativeModel
from .errors import ModelError


def _registry():
    from .. import plugins

    return plugins.get_registry()


def architecture_names() -> list[str]:
    """Every registered architecture name, sorted (nothing is imported)."""
    return sorted(_registry().architectures)


def architecture(name: str) -> type[GenerativeModel]:
    """The class registered as ``name`` (a ``"module:Class"`` registration is imported now).

    An unknown name is a ``ModelError`` naming it and listing the known ones.
    """
    reg = _registry()
    target = reg.architectures.get(name)
    if target is None:
        listed = ", ".join(sorted(reg.architectures)) or "none (is the vfx package installed?)"
        raise ModelError(f"unknown model architecture '{name}'; known architectures: {listed}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        plugin = reg.architecture_plugin.get(name, "?")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except Exception as exc:
            raise ModelError(
                f"architecture '{name}' (plugin '{plugin}'): cannot import {target}: {type(exc).__name__}: {exc}"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, GenerativeModel) and cls.family in ("vae", "gan")):
            raise ModelError(
                f"architecture '{name}' (plugin '{plugin}'): {target} is not a GenerativeModel "
                "subclass with family 'vae' or 'gan'"
            )
        reg.architectures[name] = target = cls
    return target


def architectures() -> dict[str, type[GenerativeModel]]:
    """Every registered architecture class, by name (importing any registered by path)."""
    return {name: architecture(name) for name in architecture_names()}


def build_model(config: dict) -> GenerativeModel:
    """A new model (fresh weights) of ``config['architecture']`` built from ``config``."""
    name = config.get("architecture")
    if not name:
        raise ModelError("the model config names no architecture")
    cls = architecture(name)
    model = cls({**config, "architecture": name})
    model.config["architecture"] = name
    return model
