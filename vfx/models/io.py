"""Model files: safetensors weights + the JSON config in the safetensors metadata. Never unpickled.

A model file holds the tensors of ``model.state_dict()`` (for a GAN: the generator only) and two
metadata strings: ``vfx_format = "vfx-model/1"`` and ``vfx_config`` (JSON: architecture, family,
resolution, latent_dim, num_classes, class_names, channels, ... and ``training``). A training
checkpoint (``*.ckpt.safetensors``) has the same config, the model under the prefix ``model.``
and ``vfx_checkpoint`` metadata; ``load_model`` reads the model out of either.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from ..media.atomic import AtomicFile
from .base import GenerativeModel
from .errors import ModelFileError

FORMAT = "vfx-model/1"
CHECKPOINT_PREFIX = "model."
_PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar"}


def read_header(path: str | Path) -> tuple[dict, dict]:
    """(tensor index, metadata) of a safetensors file, read without loading tensors.

    Anything else (a ``torch.save`` pickle or zip, an unrelated file) is a ``ModelFileError``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        pickled = head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05")
        if len(head) < 8:
            raise _not_safetensors(path, "too short", pickled)
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > min(size - 8, 100_000_000):
            raise _not_safetensors(path, "bad header", pickled)
        raw = f.read(n)
        if raw[:1] != b"{":
            raise _not_safetensors(path, "bad header", pickled)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _not_safetensors(path, "header is not JSON") from None
    if not isinstance(header, dict):
        raise _not_safetensors(path, "bad header")
    meta = header.pop("__metadata__", None) or {}
    return header, meta


def _not_safetensors(path: Path, why: str, pickle: bool = False) -> ModelFileError:
    if pickle or path.suffix.lower() in _PICKLE_SUFFIXES:
        return ModelFileError(f"{path}: refused: this looks like a PyTorch pickle checkpoint, not safetensors "
                              "(vfx never unpickles model files: a pickle can run code). Convert the weights "
                              "to .safetensors, or train a model with `vfx train`")
    return ModelFileError(f"{path}: not a safetensors model file ({why})")


def read_config(path: str | Path) -> dict:
    """The JSON config stored in a model or checkpoint file (no tensors loaded)."""
    _, meta = read_header(path)
    if "vfx_config" not in meta:
        raise ModelFileError(f"{Path(path)}: a safetensors file but not a vfx model (no 'vfx_config' metadata); "
                             "make one with `vfx train`")
    try:
        config = json.loads(meta["vfx_config"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{Path(path)}: the 'vfx_config' metadata is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or "architecture" not in config:
        raise ModelFileError(f"{Path(path)}: the 'vfx_config' metadata names no architecture")
    return config


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Every tensor of a safetensors file (on the CPU) and its metadata, after ``read_header`` checks."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    _, meta = read_header(path)
    try:
        return load_file(str(path), device="cpu"), meta
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{Path(path)}: cannot read the tensors ({exc})") from None


def load_model(path: str | Path, device="cpu") -> GenerativeModel:
    """The model in ``path`` (a model file or a training checkpoint), in eval mode, on ``device``."""
    from .registry import build_model
    path = Path(path)
    config = read_config(path)
    tensors, meta = load_tensors(path)
    if "vfx_checkpoint" in meta:
        tensors = {k[len(CHECKPOINT_PREFIX):]: v for k, v in tensors.items() if k.startswith(CHECKPOINT_PREFIX)}
    model = build_model(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelFileError(f"{path}: the weights do not fit architecture '{config['architecture']}' with this "
                             f"config: {' '.join(first[:3])[:400]}") from None
    model.config.update({k: v for k, v in config.items() if k not in model.config})
    return model.to(device).eval()


def state_tensors(module: torch.nn.Module, prefix: str = "", half: bool = False) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` as contiguous CPU tensors safetensors can write (floats as fp16 when ``half``)."""
    out = {}
    for k, v in module.state_dict().items():
        v = v.detach().to("cpu")
        if half and v.is_floating_point():
            v = v.half()
        out[prefix + k] = v.contiguous().clone()
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write a safetensors file atomically: a temporary file beside ``path``, then a rename."""
    from safetensors.torch import save_file
    atomic = AtomicFile(Path(path))
    try:
        save_file(tensors, str(atomic.temp), metadata=metadata)
        os.chmod(atomic.temp, 0o666 & ~_umask())      # safetensors writes 0600; give the usual mode
        return atomic.commit()
    except BaseException:
        atomic.discard()
        raise


def save_model(model: GenerativeModel, path: str | Path, half: bool = False) -> Path:
    """Write ``model`` (config + weights; fp16 weights when ``half``) to ``path`` atomically."""
    meta = {"vfx_format": FORMAT, "vfx_config": json.dumps(model.config, sort_keys=True)}
    return write_safetensors(path, state_tensors(model, half=half), meta)
