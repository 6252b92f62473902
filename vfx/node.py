"""Node base classes: what every node type, built-in or third-party, implements.

Lifecycle, driven by the graph and the engine:

1. ``__init__`` receives parsed ``options`` (see ``vfx.options``) and a ``NodeContext``;
2. ``configure()`` runs once its inputs are configured: it checks what it gets and sets
   ``self.video`` (a ``StreamInfo``) and/or ``self.audio`` (an ``AudioInfo``). It touches no
   pixels; problems are raised as ``ConfigureError`` naming the option;
3. ``render(indices)`` returns a ``FrameBatch`` for those frame indices, asking its inputs for
   what it needs with ``self.pull(self.input(name), indices)`` (``pull_writable`` for pixels it
   changes in place) -- the one way to read an input; animated options come from
   ``self.values(name, indices)``, ``self.values_for(indices)`` (all of them) and
   ``self.values_at(name, times)`` (sub-frame times); ``render_audio(start, count)`` returns that
   many samples from sample ``start``;
4. ``close()`` releases files and decoders.
"""

from __future__ import annotations

import contextvars
import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import MediaError, RenderError, VfxError
from .frames import AudioBuffer, AudioInfo, FrameBatch, StreamInfo
from . import options as opt
from .options import Animated, Options
from .util.lru import LRU

if TYPE_CHECKING:
    from .ops.ocio import ColorSettings
    import numpy as np
    import torch

#: per-frame plain options of the nodes rendering frame by frame in this context, by ``id(node)``
#: (never mutated: a frame's options are set() as a new dict)
_FRAME_OPTIONS: contextvars.ContextVar[dict] = contextvars.ContextVar("vfx_frame_options", default={})  # noqa: B039


class ConfigureError(VfxError, ValueError):
    """Raised by ``configure()``; ``option`` names the option at fault, if one is."""

    exit_code = 2

    def __init__(self, message: str, option: str | None = None):
        self.option = option
        super().__init__(message)


@dataclass
class PipelineSettings:
    """Pipeline-wide settings every node can read."""

    width: int = 1920
    height: int = 1080
    fps: Fraction = Fraction(24)
    duration: int = 240
    seed: int = 0
    sample_rate: int = 48000
    channels: int = 2
    base_dir: Path = Path(".")
    #: the ``[color]`` table (OCIO config and working space), or None: the graph is linear Rec.709
    color: ColorSettings | None = None


@dataclass
class NodeContext:
    """What a node knows of the world: pipeline settings, its device, its seed."""

    node_id: str
    settings: PipelineSettings
    device: Any = "cpu"

    def seed_for(self, frame: int = 0, stream: str = "") -> int:
        """A 63-bit seed from (pipeline seed, node id, frame, stream): the same in any chunk."""
        key = f"{self.settings.seed}\0{self.node_id}\0{frame}\0{stream}".encode()
        return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1

    def generator(self, frame: int = 0, stream: str = "") -> "torch.Generator":
        """A torch generator (on the CPU) seeded for one frame of this node."""
        import torch

        g = torch.Generator()
        g.manual_seed(self.seed_for(frame, stream))
        return g


class Node:
    """Base of every node type. Subclass one of the kinds below, not this."""

    type: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    #: the largest batch this node accepts; the engine never hands it more.
    max_batch: ClassVar[int | None] = None
    #: True when ``render`` evaluates animated options per batch with ``self.values``; otherwise
    #: a node with animated options renders frame by frame, seeing plain values in ``self.options``
    #: (the node itself is not changed: ``options`` reads that frame's values from the context)
    animated_batches: ClassVar[bool] = False
    #: names of the signals this node drives other nodes' options with (see ``signal``)
    signals: ClassVar[tuple[str, ...]] = ()
    #: False for nodes that can pass decoded frames through without pixels (no torch needed);
    #: a graph made only of such nodes renders without importing torch
    needs_torch: ClassVar[bool] = True
    #: False for a node type whose frames must never be cached (see docs/cache.md): its output
    #: depends on something its options, inputs, files and seed do not capture
    cacheable: ClassVar[bool] = True
    #: whether caching this node's frames pays: None measures its cost against reading a frame
    #: back; True always caches it (a declared expensive node); False caches it only in memory
    cache_worthwhile: ClassVar[bool | None] = None

    class Options(opt.Options):
        pass

    def __init__(self, node_id: str, options: Options, ctx: NodeContext):
        self.id = node_id
        self._options = options
        self.ctx = ctx
        self.video: StreamInfo | None = None
        self.audio: AudioInfo | None = None
        #: input nodes by option name (a list for list-valued options), set by the graph; read
        #: them with ``input``
        self._inputs: dict[str, Any] = {}
        #: every node this one refers to, by id (table entries such as composite layers), set by
        #: the graph; read them with ``input``
        self._refs: dict[str, Node] = {}
        #: the engine's one-batch cache, for a node read by more than one consumer (``engine.share``)
        self._shared: LRU | None = None
        #: the node cache's binding while a cached render runs (``vfx.cache``), else None
        self._cache_binding: Any = None

    @property
    def options(self) -> Options:
        """This node's parsed options (plain values at one frame while it renders frame by frame)."""
        return _FRAME_OPTIONS.get().get(id(self), self._options)

    # --- what subclasses implement -------------------------------------------------------
    def configure(self) -> None:
        """Check the inputs and set ``self.video`` and/or ``self.audio``."""
        raise NotImplementedError

    def render(self, indices: list[int]) -> FrameBatch:
        """Frames at these indices, as one batch."""
        raise NotImplementedError(f"{self.type} has no video")

    def render_audio(self, start: int, count: int) -> AudioBuffer:
        """``count`` samples from sample ``start`` (zeros past the end)."""
        raise NotImplementedError(f"{self.type} has no audio")

    def signal(self, name: str, frames: list[int]) -> Any:
        """Values of signal ``name`` at these frames (one float per frame), for drivers."""
        raise NotImplementedError(f"{self.type} produces no signal")

    def input_files(self) -> list[Path]:
        """Media files this node reads (an encoder refuses to overwrite them)."""
        return []

    def pulled_twice(self) -> list["Node"]:
        """Inputs this node reads more than once per batch (the engine caches their batch)."""
        return []

    def cache_key(self) -> Any:
        """Extra parts of this node's cache key, beyond its type, options, inputs, files and seed
        (say, the hash of a model it loads): plain data (str, numbers, lists, dicts), or None."""
        return None

    def open(self) -> None:
        """Acquire resources before the first render call."""

    def close(self) -> None:
        """Release decoders, files and caches."""

    def connect(self, inputs: dict[str, Any], refs: "dict[str, Node] | None" = None) -> None:
        """Wire the input nodes: by option name (a list for a list option), and ``refs``, every
        node a table entry names, by id. The graph does this; a test of one node does it by hand."""
        self._inputs = dict(inputs)
        self._refs = dict(refs or {})

    # --- helpers for subclasses ------------------------------------------------------------
    def input(self, name: str, *, ref: bool = False) -> Any:
        """The input node of option ``name`` (a list for list-valued options, None when unset);
        with ``ref=True``, the node a table entry names by id (composite layers, audio mix inputs)."""
        return self._refs.get(name) if ref else self._inputs.get(name)

    def pull(self, node: "Node", indices: list[int]) -> FrameBatch:
        """Frames of an input node (from ``input``): the one way to read an input's pixels. Clamps
        nothing, so callers map indices first; the batch is read-only (see ``pull_writable``)."""
        return node.frames(indices)

    def pull_writable(self, node: "Node", indices: list[int]) -> "torch.Tensor":
        """An input's pixels that this node may change in place.

        Nodes never write into what they pull; this hands over the tensor itself when no one
        else can see it (``batch.owned`` and not cached by a shared node), else a copy.
        """
        import torch

        batch = node.frames(indices)
        pixels = batch.pixels
        if batch.owned and node._shared is None:
            return pixels
        return pixels.clone(memory_format=torch.channels_last)

    @property
    def device(self) -> Any:
        return self.ctx.device

    def values(self, name: str, indices: list[int]) -> "np.ndarray":
        """Option ``name`` at each frame: a float64 array, (N,) or (N, k) for colours and vectors.

        Constants broadcast; keyframes, expressions and drivers are evaluated for the batch.
        """
        import numpy as np

        value = getattr(self.options, name)
        if isinstance(value, Animated):
            return value.evaluate(indices, self.ctx.settings.fps)
        row = np.asarray(value, np.float64)
        return np.broadcast_to(row, (len(indices),) + row.shape).copy()

    def values_for(self, indices: list[int], names: list[str] | None = None) -> "dict[str, np.ndarray]":
        """``values`` of every animatable option that is set (or of those ``names``), for a batch."""
        if names is None:
            names = [
                name
                for name, field in self.Options.fields().items()
                if field.animatable and getattr(self.options, name, None) is not None
            ]
        return {name: self.values(name, indices) for name in names}

    def values_at(self, name: str, times: Any) -> "np.ndarray":
        """Option ``name`` at (possibly fractional) frame times, for motion blur: float64, shaped
        ``times.shape`` or ``times.shape + (k,)`` for colours and vectors.

        Constants broadcast; keyframes and expressions evaluate at the fractional times directly;
        drivers (signals known only at whole frames) are interpolated linearly between the
        neighbouring frames, clamped to this node's frame range. An expression or driver on a
        vector option (one number per frame) applies to every component.
        """
        import numpy as np
        from .params import Driver

        times = np.asarray(times, np.float64)
        value = getattr(self.options, name)
        if not isinstance(value, Animated):
            row = np.asarray(value, np.float64)
            return np.broadcast_to(row, times.shape + row.shape).copy()
        fps = self.ctx.settings.fps
        if isinstance(value.animation, Driver):
            assert self.video is not None, "values_at runs after configure()"
            last = max(0, self.video.frame_count - 1)
            f = np.clip(times, 0, last)
            lo = np.floor(f)
            hi = np.minimum(lo + 1, last)
            a, b = value.evaluate(lo, fps), value.evaluate(hi, fps)
            u = f - lo
            out = a + (b - a) * (u[:, None] if a.ndim == 2 else u)
        else:
            out = value.evaluate(times, fps)
        width = getattr(value.option, "length", 4 if isinstance(value.option, opt.Color) else None)
        if width and out.ndim == 1:  # an expression or driver on a vector gives one number:
            out = np.repeat(out[:, None], width, axis=1)  # it applies to every component
        return out

    # --- called by the engine and by other nodes -------------------------------------------
    def frames(self, indices: list[int]) -> FrameBatch:
        """``render`` with a one-batch cache (a node read by two consumers renders once)."""
        key = tuple(indices)
        shared = self._shared
        if shared is not None:
            cached = shared.get(key)
            if cached is not None:
                return cached
        try:
            cache = self._cache_binding
            batch = self._compute(list(indices)) if cache is None else cache.frames(self, list(indices))
        except MediaError as exc:
            raise _attributed(exc, self.id) from None
        except VfxError:
            raise
        except Exception as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}", node=self.id) from exc
        if shared is not None:
            shared.put(key, batch)
        return batch

    def _compute(self, indices: list[int]) -> FrameBatch:
        """``render`` these frames, frame by frame when options are animated and the node asks."""
        if self.animated_batches or not self.options.animations():
            return self.render(indices)
        return self._render_frame_by_frame(indices)

    def _render_frame_by_frame(self, indices: list[int]) -> FrameBatch:
        """``render`` one frame at a time, ``self.options`` reading that frame's plain values from
        the context (the node is not changed, so its inputs and other threads see it as it is)."""
        base = self._options
        fps = self.ctx.settings.fps
        parts = []
        for i in indices:
            token = _FRAME_OPTIONS.set({**_FRAME_OPTIONS.get(), id(self): base.at(i, fps)})
            try:
                parts.append(self.render([i]))
            finally:
                _FRAME_OPTIONS.reset(token)
        return FrameBatch.join(parts, indices)

    def audio_samples(self, start: int, count: int) -> AudioBuffer:
        """``render_audio`` with errors attributed to this node."""
        try:
            return self.render_audio(start, count)
        except MediaError as exc:
            raise _attributed(exc, self.id) from None
        except VfxError:
            raise
        except Exception as exc:
            raise RenderError(f"audio: {type(exc).__name__}: {exc}", node=self.id) from exc

    def drop_cache(self) -> None:
        """Forget the batch the engine's one-batch cache holds for this node, if any."""
        if self._shared is not None:
            self._shared.clear()

    def __repr__(self) -> str:
        return f"<{self.type} '{self.id}'>"


class Source(Node):
    """A node with no inputs that makes frames and/or audio."""

    kind = "source"


class Generator(Node):
    """A learned model that synthesises frames in batches."""

    kind = "generator"


class Effect(Node):
    """A node that changes the pixels of one input, frame for frame.

    Every effect takes ``input`` and an optional ``mask``: where the mask's alpha is 0 the input
    shows unchanged, where it is 1 the effect shows fully (the engine blends, the effect need not
    know). Subclasses extend ``Effect.Options`` and implement ``render``; audio passes through.
    """

    kind = "effect"

    class Options(opt.Options):
        input = opt.Input(doc="the clip to change")
        mask = opt.Input(None, doc="optional node whose alpha limits where the effect applies")

    def configure(self) -> None:
        src = self.input("input")
        self.video = src.video
        self.audio = src.audio

    def render_audio(self, start: int, count: int) -> AudioBuffer:
        return self.input("input").audio_samples(start, count)

    def pulled_twice(self) -> list[Node]:
        return [self.input("input")] if self.input("mask") is not None else []

    def frames(self, indices: list[int]) -> FrameBatch:
        batch = super().frames(indices)
        mask_node = self.input("mask")
        if mask_node is None:
            return batch
        import torch

        mask_batch = self.pull(mask_node, [min(i, mask_node.video.frame_count - 1) for i in indices])
        alpha = mask_batch.pixels[:, 3:4].to(batch.pixels.device)
        if (mask_batch.width, mask_batch.height) != (batch.width, batch.height):
            from .ops import resample

            alpha = resample.resize(alpha, batch.width, batch.height, "bilinear")
        original = self.pull(self.input("input"), indices).pixels
        return FrameBatch(
            indices, torch.lerp(original, batch.pixels, alpha).contiguous(memory_format=torch.channels_last)
        )


class Editor(Node):
    """A node that cuts, joins, retimes or layers its inputs (and their audio)."""

    kind = "editor"


class AudioNode(Node):
    """A node that produces or changes audio only."""

    kind = "audio"
    needs_torch = False


class Signal(Node):
    """A node whose output is per-frame values (``signals``) that drive other nodes' options."""

    kind = "signal"


class Encoder(Node):
    """A sink that writes its input to files. Writes go to a temporary name, renamed at the end."""

    kind = "encoder"

    def configure(self) -> None:
        src = self.input("input")
        self.video = src.video if src is not None else None

    def output_paths(self) -> list[Path]:
        """The files this encoder will create (checked against every input file)."""
        raise NotImplementedError

    def audio_source(self) -> "Node | None":
        """The node whose audio is muxed, or None."""
        return None

    def begin(self, start: int, stop: int) -> None:
        """Open temporary outputs for frames [start, stop)."""
        raise NotImplementedError

    def prepare(self, batch: FrameBatch) -> Any:
        """Turn a batch into what ``write`` takes (pixel conversion, colour spaces).

        The engine calls this in a thread of its own, ahead of ``write``, so conversion overlaps
        both rendering and encoding. The default hands the batch on unchanged.
        """
        return batch

    def write(self, batch: Any, audio: AudioBuffer | None) -> None:
        """Encode one batch, as ``prepare`` returned it (and the audio that spans it)."""
        raise NotImplementedError

    def finish(self) -> list[Path]:
        """Flush, close and move the finished files into place; return their paths."""
        raise NotImplementedError

    def abort(self) -> None:
        """Remove temporary files; leave whatever was at the output path untouched."""
        raise NotImplementedError


def _attributed(exc: MediaError, node: str) -> MediaError:
    """``exc`` with the node that read the media named first (a media file failing mid-render)."""
    text = str(exc)
    return exc if text.startswith("node '") else MediaError(f"node '{node}': {text}")
