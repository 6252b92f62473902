"""Model files: safetensors weights + the JSON config in the safetensors metadata. Never unpickled.

A model file holds the tensors of ``model.state_dict()`` (for a GAN: the generator only) and two
metadata strings: ``vfx_format = "vfx-model/1"`` and ``vfx_config`` (JSON: architecture, family,
resolution, latent_dim, num_classes, class_names, channels, ... and ``training``). A training
checkpoint (``*.ckpt.safetensors``) has the same config, the model under the prefix ``model.``
and ``vfx_checkpoint`` metadata; ``load_model`` reads the model out of either.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import torch

from ..util.atomic import AtomicFile
from .base import GenerativeModel
from .errors import ModelError, ModelFileError

FORMAT = "vfx-model/1"
CHECKPOINT_PREFIX = "model."
_PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar"}
#: the largest JSON header read (a vfx model's is a few kB; the safetensors format allows 100 MB)
MAX_HEADER = 8 << 20
#: the largest ``vfx_config`` metadata string
MAX_CONFIG = 1 << 20
_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def read_header(path: str | Path) -> tuple[dict, dict]:
    """(tensor index, metadata) of a safetensors file, read without loading tensors.

    Reads at most ``MAX_HEADER`` bytes; every tensor's shape, dtype and offsets are checked
    against each other and the file's size. Anything else (a ``torch.save`` pickle or zip, an
    unrelated file) is a ``ModelFileError``.
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
        if n < 2 or n > size - 8:
            raise _not_safetensors(path, "bad header", pickled)
        if n > MAX_HEADER:
            raise ModelFileError(
                f"{path}: the safetensors header is {n} bytes, over the {MAX_HEADER >> 20} MiB a model file may have"
            )
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
    if not isinstance(meta, dict):
        raise _not_safetensors(path, "bad metadata")
    _check_index(path, header, size - 8 - n)
    return header, meta


def _check_index(path: Path, header: dict, data_size: int) -> None:
    """Every tensor's byte range fits its dtype and shape and lies inside the file's data."""
    for name, entry in header.items():
        try:
            count = math.prod(int(d) for d in entry["shape"])
            begin, end = (int(x) for x in entry["data_offsets"])
            ok = (
                entry["dtype"] in _DTYPE_BYTES
                and all(int(d) >= 0 for d in entry["shape"])
                and 0 <= begin <= end <= data_size
                and end - begin == count * _DTYPE_BYTES[entry["dtype"]]
            )
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ModelFileError(
                f"{path}: tensor '{str(name)[:80]}' has a bad shape, dtype or offsets (a truncated or corrupt file?)"
            )


def _not_safetensors(path: Path, why: str, pickle: bool = False) -> ModelFileError:
    if pickle or path.suffix.lower() in _PICKLE_SUFFIXES:
        return ModelFileError(
            f"{path}: refused: this looks like a PyTorch pickle checkpoint, not safetensors "
            "(vfx never unpickles model files: a pickle can run code). Convert the weights "
            "to .safetensors, or train a model with `vfx train`"
        )
    return ModelFileError(f"{path}: not a safetensors model file ({why})")


def read_config(path: str | Path) -> dict:
    """The JSON config stored in a model or checkpoint file (no tensors loaded)."""
    _, meta = read_header(path)
    if "vfx_config" not in meta or not isinstance(meta["vfx_config"], str):
        raise ModelFileError(
            f"{Path(path)}: a safetensors file but not a vfx model (no 'vfx_config' metadata); "
            "make one with `vfx train`"
        )
    if len(meta["vfx_config"]) > MAX_CONFIG:
        raise ModelFileError(f"{Path(path)}: the 'vfx_config' metadata is over {MAX_CONFIG >> 10} kB")
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
    """The model in ``path`` (a model file or a training checkpoint), in eval mode, on ``device``.

    The config is checked (``GenerativeModel``'s caps) and the architecture built on the meta
    device, without memory, and matched against the file's tensor index before any tensor is
    allocated or read: a model never takes more memory than its file's tensors.
    """
    from .registry import build_model

    path = Path(path)
    index, meta = read_header(path)
    config = read_config(path)
    if "vfx_checkpoint" in meta:
        index = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in index.items() if k.startswith(CHECKPOINT_PREFIX)}
    try:
        with torch.device("meta"):
            skeleton = build_model(config)
    except ModelError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    found = {k: tuple(int(d) for d in v["shape"]) for k, v in index.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(extra[:3])}" if extra else "",
                ", ".join(f"{k} is {list(found[k])} where the config needs {list(expected[k])}" for k in wrong[:3]),
            )
            if part
        )
        raise ModelFileError(
            f"{path}: the weights do not fit architecture '{config['architecture']}' with this config: {detail[:400]}"
        )
    del skeleton
    tensors, meta = load_tensors(path)
    if "vfx_checkpoint" in meta:
        tensors = {k[len(CHECKPOINT_PREFIX) :]: v for k, v in tensors.items() if k.startswith(CHECKPOINT_PREFIX)}
    model = build_model(config)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelFileError(
            f"{path}: the weights do not fit architecture '{config['architecture']}' with this "
            f"config: {' '.join(first[:3])[:400]}"
        ) from None
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
        os.chmod(atomic.temp, 0o666 & ~_umask())  # safetensors writes 0600; give the usual mode
        return atomic.commit()
    except BaseException:
        atomic.discard()
        raise


def save_model(model: GenerativeModel, path: str | Path, half: bool = False) -> Path:
    """Write ``model`` (config + weights; fp16 weights when ``half``) to ``path`` atomically."""
    meta = {"vfx_format": FORMAT, "vfx_config": json.dumps(model.config, sort_keys=True)}
    return write_safetensors(path, state_tensors(model, half=half), meta)
