"""Cache keys: what a node's frames are a function of, hashed bottom-up through the graph.

A node's key covers its type; the plugin that registered it (name and version) and the source
of the module that defines it; its parsed options, animations by their definition (keyframes,
expression text, driver); the keys of every node it reads (inputs, layers, drivers); the
pipeline settings, seed and node id (its randomness comes from them); the device's precision
class; a fingerprint of every file it reads (path, size, modification time, and the content's
hash for files up to ``SMALL_FILE`` bytes when it reads at most ``HASHED_FILES`` of them); and whatever ``Node.cache_key()`` adds. Frame ``f``
of the node is stored under (key, f): a node's output at a frame is a function of these and of
``f`` alone, so the key is correct for editors that read other frames of their inputs too.

A node has no key (and is never cached, nor is anything that reads it) when its type says
``cacheable = False``, it is an encoder, or an option holds a value this module cannot write
down exactly (a Python object of a plugin's own). Nodes without video (audio, signals) have keys
too, for the nodes they drive; only frames are stored.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import importlib.metadata
import inspect
import json
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..node import Encoder, Node
from ..options import Animated, InputPath, Options, Table
from .entry import CODEC

#: files up to this size are hashed whole (LUTs, fonts, subtitles, images); larger ones are known
#: by path, size and modification time
SMALL_FILE = 8 << 20
#: a node reading more files than this (an image sequence) is known by their stamps, not their content
HASHED_FILES = 64
#: bumped when the key's recipe changes, so old entries are never read as new ones
KEY_VERSION = 1


class _Unstable(Exception):
    """A value with no exact, stable description."""


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data that is equal exactly when the values are; ``_Unstable`` if it cannot be."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 1 << 53 else {"int": str(value)}
    if isinstance(value, float):
        return {"f": value.hex()}
    if isinstance(value, Fraction):
        return {"q": f"{value.numerator}/{value.denominator}"}
    if isinstance(value, Path):
        return {"path": str(value)}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__qualname__}.{value.name}"}
    if isinstance(value, np.generic):
        return canonical(value.item())
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return {"nd": [a.dtype.str, list(a.shape), hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest()]}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {"dict": sorted([canonical(k), canonical(v)] for k, v in value.items())}
    if isinstance(value, Node):
        return {"node": value.id}  # what it makes is in the key through the reader's inputs
    if isinstance(value, Options):
        return {"options": type(value).__qualname__, **{n: canonical(getattr(value, n, None)) for n in value.fields()}}
    if isinstance(value, Animated):
        return {"animated": _object(value.animation)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "dataclass": type(value).__qualname__,
            **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    raise _Unstable(type(value).__qualname__)


def _object(obj: Any) -> dict:
    """An animation (keyframes, expression, driver) by its attributes; syntax trees are left out
    (the source text says the same) and bound nodes are named by id."""
    state = getattr(obj, "__dict__", None)
    if state is None:
        raise _Unstable(type(obj).__qualname__)
    return {
        "class": f"{type(obj).__module__}.{type(obj).__qualname__}",
        **{k: canonical(v) for k, v in sorted(state.items()) if not isinstance(v, ast.AST)},
    }


def file_fingerprint(path: Path, content: bool = True) -> list:
    """[path, size, mtime in ns, content hash or None] of a file (the hash only with ``content``,
    for files up to ``SMALL_FILE``); [path, None] if it is missing."""
    p = Path(os.path.realpath(path))
    try:
        st = p.stat()
    except OSError:
        return [str(p), None]
    digest = None
    if content and p.is_file() and st.st_size <= SMALL_FILE:
        # remembered by inode and change time too: a rewrite that restores size and mtime still shows
        digest = _content_hash(str(p), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return [str(p), st.st_size, st.st_mtime_ns, digest]


@functools.lru_cache(maxsize=4096)
def _content_hash(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()
    except OSError:
        return None


def _paths(options: Options) -> list[Path]:
    """Every file an option set names (``InputPath`` options, in layer tables too)."""
    found: list[Path] = []
    for name, field in type(options).fields().items():
        value = getattr(options, name, None)
        if isinstance(field, InputPath) and isinstance(value, (str, Path)):
            found.append(Path(value))
        elif isinstance(field, Table):
            for entry in value or []:
                found.extend(_paths(entry))
    return found


@functools.cache
def _plugin_versions() -> dict[str, str]:
    """Entry-point name -> version of the distribution that ships it."""
    versions = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == "vfx":
                versions[ep.name] = dist.version
    return versions


@functools.cache
def _module_digest(module_name: str) -> str | None:
    """The hash of a module's source file (so an edited plugin never reads its old frames)."""
    module = sys.modules.get(module_name)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
    except TypeError:
        path = None
    if not path:
        return None
    fp = file_fingerprint(Path(path))
    return fp[3] or f"{fp[1]}:{fp[2] if len(fp) > 2 else ''}"


@functools.cache
def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "none"


def precision_class(device: Any) -> str:
    """What decides a device's float results: CPU, or the CUDA architecture and TF32 setting,
    with the torch version (its kernels may change between releases)."""
    name = str(device)
    if not name.startswith("cuda"):
        return f"cpu/torch-{_torch_version()}"
    import torch

    index = torch.device(name).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    return f"cuda-sm{major}{minor}/tf32={bool(tf32)}/torch-{_torch_version()}"


def node_plugin(node_type: str) -> tuple[str, str]:
    """(plugin name, version) of the plugin that registered ``node_type``."""
    from ..plugins import get_registry

    plugin = get_registry().node_plugin.get(node_type, "?")
    return plugin, _plugin_versions().get(plugin, "?")


def _inputs(node: Node) -> list[Node]:
    found = list(node._refs.values())
    for value in node._inputs.values():
        for src in value if isinstance(value, list) else [value]:
            if src is not None:
                found.append(src)
    return found


def node_key(node: Node, input_keys: dict[str, str | None], device: Any) -> str | None:
    """The cache key of ``node`` (32 hex digits) given its inputs' keys, or None when it has none."""
    cls = type(node)
    if not cls.cacheable or isinstance(node, Encoder):
        return None
    inputs = {}
    for src in _inputs(node):
        key = input_keys.get(src.id)
        if key is None:
            return None
        inputs[src.id] = key
    settings = node.ctx.settings
    try:
        files = sorted({str(p) for p in [*node.input_files(), *_paths(node._options)]})
        parts = {
            "v": KEY_VERSION,
            "codec": CODEC,
            "type": cls.type,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "plugin": node_plugin(cls.type),
            "source": _module_digest(cls.__module__),
            "options": canonical(node._options),
            "inputs": inputs,
            "settings": canonical(dataclasses.asdict(settings)),
            "node": node.id,
            "precision": precision_class(device),
            "files": [file_fingerprint(Path(p), len(files) <= HASHED_FILES) for p in files],
            "extra": canonical(node.cache_key()),
            "video": canonical(node.video),
        }
    except _Unstable:
        return None
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def graph_keys(graph: Any, device: Any) -> dict[str, str | None]:
    """Every node's key, computed once, inputs first (``None`` where a node has none)."""
    keys: dict[str, str | None] = {}
    for node_id in graph.order:
        keys[node_id] = node_key(graph.nodes[node_id], keys, device)
    return keys
