"""vfx: a plugin-based video post-production and effects engine.

The public API for pipelines run from Python and for plugin authors. Importing ``vfx`` does not
import torch or PyAV; they load when a render starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import options as opt
from . import timing
from .errors import MediaError, OptionError, PipelineError, Problem, RenderError, VfxError
from .frames import (
    AudioBuffer,
    AudioInfo,
    FrameBatch,
    StreamInfo,
    constant,
    empty_pixels,
    empty_planes,
    fit_channels,
    row_strips,
    samples_at,
)
from .hookspecs import hookimpl
from .node import (
    AudioNode,
    ConfigureError,
    Editor,
    Effect,
    Encoder,
    Generator,
    Node,
    NodeContext,
    PipelineSettings,
    Signal,
    Source,
)
from .options import Animated, Options, ParseContext
from .util.atomic import AtomicDir, AtomicFile
from .util.lru import LRU

if TYPE_CHECKING:
    from .engine import RenderResult
    from .graph import Graph

__version__ = "0.1.0"

__all__ = [
    "Animated",
    "AtomicDir",
    "AtomicFile",
    "AudioBuffer",
    "AudioInfo",
    "AudioNode",
    "ConfigureError",
    "Editor",
    "Effect",
    "Encoder",
    "FrameBatch",
    "Generator",
    "LRU",
    "MediaError",
    "Node",
    "NodeContext",
    "OptionError",
    "Options",
    "ParseContext",
    "PipelineError",
    "PipelineSettings",
    "Problem",
    "RenderError",
    "Signal",
    "Source",
    "StreamInfo",
    "VfxError",
    "constant",
    "empty_pixels",
    "empty_planes",
    "encoder_backends",
    "fit_channels",
    "hookimpl",
    "opt",
    "row_strips",
    "samples_at",
    "timing",
    "load_pipeline",
    "render_pipeline",
]


def encoder_backends() -> dict[str, Any]:
    """The encoder backends every installed plugin registered, by name (``pyav``, ``ffmpeg``, ...)."""
    from .plugins import get_registry

    return dict(get_registry().backends)


def load_pipeline(path: str | Path, overrides: list[str] | None = None, device: Any = "cpu") -> Graph:
    """Read, validate and configure a pipeline file; returns a ``vfx.graph.Graph``."""
    from .graph import build
    from .pipeline import load

    return build(load(path, overrides), device=device)


def render_pipeline(path: str | Path, overrides: list[str] | None = None, **render_options: Any) -> RenderResult:
    """Render a pipeline file; keyword arguments are those of ``vfx.engine.RenderOptions``."""
    from .engine import RenderOptions, render, resolve_device

    device = resolve_device(render_options.get("device", "auto"))
    graph = load_pipeline(path, overrides, device=device)
    return render(graph, RenderOptions(**{**render_options, "device": str(device)}))
