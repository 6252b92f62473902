"""Node base classes: what every node type, built-in or third-party, implements.

Lifecycle, driven by the graph and the engine:

1. ``__init__`` receives parsed ``options`` (see ``vfx.options``) and a ``NodeContext``;
2. ``configure()`` runs once its inputs are configured: it checks what it gets and sets
   ``self.video`` (a ``StreamInfo``) and/or ``self.audio`` (an ``AudioInfo``). It touches no
   pixels; problems are raised as ``ConfigureError`` naming the option;
3. ``render(indices)`` returns a ``FrameBatch`` for those frame indices, asking its inputs for
   what it needs with ``self.pull(input_node, indices)``; ``render_audio(start, count)`` returns
   that many samples from sample ``start``;
4. ``close()`` releases files and decoders.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import MediaError, RenderError, VfxError
from .frames import AudioBuffer, AudioInfo, FrameBatch, StreamInfo
from . import options as opt
from .options import Options

if TYPE_CHECKING:
    import torch


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
    #: set by the engine for nodes read by more than one consumer
    cache_enabled: bool = False
    #: True when ``render`` evaluates animated options per batch with ``self.values``; otherwise
    #: a node with animated options renders frame by frame, seeing plain values in ``self.options``
    animated_batches: ClassVar[bool] = False
    #: names of the signals this node drives other nodes' options with (see ``signal``)
    signals: ClassVar[tuple[str, ...]] = ()
    #: False for nodes that can pass decoded frames through without pixels (no torch needed);
    #: a graph made only of such nodes renders without importing torch
    needs_torch: ClassVar[bool] = True

    class Options(Options):
        pass

    def __init__(self, node_id: str, options: Options, ctx: NodeContext):
        self.id = node_id
        self.options = options
        self.ctx = ctx
        self.video: StreamInfo | None = None
        self.audio: AudioInfo | None = None
        #: input nodes by option name (a list for list-valued options), set by the graph
        self.inputs: dict[str, Any] = {}
        #: every input node by id (for options such as composite layers that name nodes)
        self.nodes_by_id: dict[str, Node] = {}
        self._batch_cache_key: tuple | None = None
        self._batch_cache: FrameBatch | None = None

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

    def signal(self, name: str, frames: list[int]):
        """Values of signal ``name`` at these frames (one float per frame), for drivers."""
        raise NotImplementedError(f"{self.type} produces no signal")

    def input_files(self) -> list[Path]:
        """Media files this node reads (an encoder refuses to overwrite them)."""
        return []

    def pulled_twice(self) -> list["Node"]:
        """Inputs this node reads more than once per batch (the engine caches their batch)."""
        return []

    def open(self) -> None:
        """Acquire resources before the first render call."""

    def close(self) -> None:
        """Release decoders, files and caches."""

    # --- helpers for subclasses ------------------------------------------------------------
    def input(self, name: str):
        return self.inputs.get(name)

    def pull(self, node: "Node", indices: list[int]) -> FrameBatch:
        """Ask an input node for frames; clamps nothing, so callers map indices first."""
        return node.frames(indices)

    def pull_writable(self, node: "Node", indices: list[int]) -> "torch.Tensor":
        """An input's pixels that this node may change in place.

        Nodes never write into what they pull; this hands over the tensor itself when no one
        else can see it (``batch.owned`` and not cached by a shared node), else a copy.
        """
        import torch
        batch = node.frames(indices)
        pixels = batch.pixels
        if batch.owned and not node.cache_enabled:
            return pixels
        return pixels.clone(memory_format=torch.channels_last)

    @property
    def device(self):
        return self.ctx.device

    def values(self, name: str, indices: list[int]):
        """Option ``name`` at each frame: a float64 array, (N,) or (N, k) for colours and vectors.

        Constants broadcast; keyframes, expressions and drivers are evaluated for the batch.
        """
        import numpy as np
        from .options import Animated
        value = getattr(self.options, name)
        if isinstance(value, Animated):
            return value.evaluate(indices, self.ctx.settings.fps)
        row = np.asarray(value, np.float64)
        return np.broadcast_to(row, (len(indices),) + row.shape).copy()

    # --- called by the engine and by other nodes -------------------------------------------
    def frames(self, indices: list[int]) -> FrameBatch:
        """``render`` with a one-batch cache (a node read by two consumers renders once)."""
        key = tuple(indices)
        if self.cache_enabled and key == self._batch_cache_key and self._batch_cache is not None:
            return self._batch_cache
        try:
            if self.animated_batches or not self.options.animations():
                batch = self.render(list(indices))
            else:
                batch = self._render_frame_by_frame(list(indices))
        except MediaError as exc:
            raise _attributed(exc, self.id) from None
        except VfxError:
            raise
        except Exception as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}", node=self.id) from exc
        if self.cache_enabled:
            self._batch_cache_key, self._batch_cache = key, batch
        return batch

    def _render_frame_by_frame(self, indices: list[int]) -> FrameBatch:
        base = self.options
        parts = []
        try:
            for i in indices:
                self.options = base.at(i, self.ctx.settings.fps)
                parts.append(self.render([i]))
        finally:
            self.options = base
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
        self._batch_cache_key = self._batch_cache = None

    def __repr__(self):
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

    class Options(Options):
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
            alpha = torch.nn.functional.interpolate(alpha, size=(batch.height, batch.width), mode="bilinear",
                                                    align_corners=False)
        original = self.pull(self.input("input"), indices).pixels
        return FrameBatch(indices, torch.lerp(original, batch.pixels, alpha).contiguous(
            memory_format=torch.channels_last))


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

    def prepare(self, batch: FrameBatch):
        """Turn a batch into what ``write`` takes (pixel conversion, colour spaces).

        The engine calls this in a thread of its own, ahead of ``write``, so conversion overlaps
        both rendering and encoding. The default hands the batch on unchanged.
        """
        return batch

    def write(self, batch, audio: AudioBuffer | None) -> None:
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
