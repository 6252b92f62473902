"""The frame model: ``StreamInfo``, ``AudioInfo``, ``FrameBatch`` and ``AudioBuffer``.

Inside the graph a video frame is float32 RGBA with premultiplied alpha in linear light.
A ``FrameBatch`` holds N of them as one tensor of shape (N, 4, H, W) on one device, stored
channels-last (NHWC in memory) so that the conversion to and from media needs no copy.
A batch fresh from a decoder may still hold its decoded frames (``native``); the tensor is made
only when some node asks for ``pixels``, so a plain transcode never leaves YUV.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class StreamInfo:
    """What a node's video output is, known before any pixel is made."""

    width: int
    height: int
    fps: Fraction
    frame_count: int
    has_alpha: bool = True
    #: sample (pixel) aspect ratio of the frames: 1 is square (sources make it so unless asked to keep it)
    sar: Fraction = Fraction(1)

    @property
    def duration(self) -> float:
        return float(self.frame_count / self.fps)

    def with_(self, **changes: Any) -> "StreamInfo":
        return replace(self, **changes)


@dataclass(frozen=True)
class AudioInfo:
    """What a node's audio output is: float32 samples at a rate, with a channel count."""

    sample_rate: int
    channels: int
    sample_count: int

    @property
    def duration(self) -> float:
        return self.sample_count / self.sample_rate


def samples_at(frame: int, fps: Fraction, sample_rate: int) -> int:
    """The first audio sample of a video frame (exact rational arithmetic, floor)."""
    return (frame * sample_rate * fps.denominator) // fps.numerator


class FrameBatch:
    """N consecutive-or-not frames of one stream, with the frame index of each."""

    __slots__ = ("indices", "_pixels", "native", "_convert", "width", "height", "owned")

    def __init__(
        self,
        indices: Sequence[int],
        pixels: "torch.Tensor | None" = None,
        *,
        native: list | None = None,
        convert: Callable[[list], "torch.Tensor"] | None = None,
        size: tuple[int, int] | None = None,
        owned: bool = False,
    ):
        self.indices = list(indices)
        self._pixels = pixels
        self.native = native
        self._convert = convert
        #: only this batch's holders can see its tensor (made by its own conversion, or fresh from a
        #: node that keeps no copy and says so), so a consumer may draw on it in place
        self.owned = owned
        if pixels is not None:
            self.height, self.width = int(pixels.shape[2]), int(pixels.shape[3])
        else:
            assert size is not None, "a batch without pixels needs its size"
            self.width, self.height = size

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def pixels(self) -> "torch.Tensor":
        """The (N, 4, H, W) float32 premultiplied linear RGBA tensor (made on first use)."""
        if self._pixels is None:
            assert self._convert is not None and self.native is not None, "a batch holds pixels or native frames"
            self._pixels = self._convert(self.native)
            self.native = None
            self.owned = True
        return self._pixels

    @property
    def device(self) -> "torch.device":
        return self.pixels.device

    def reindexed(self, indices: Sequence[int]) -> "FrameBatch":
        """The same frames under other indices (a trim or retime), still unconverted if they were."""
        return FrameBatch(
            indices, self._pixels, native=self.native, convert=self._convert, size=(self.width, self.height)
        )

    @staticmethod
    def join(batches: list["FrameBatch"], indices: Sequence[int]) -> "FrameBatch":
        """Batches one after the other as one; decoded frames stay unconverted when all are."""
        if len(batches) == 1:
            return batches[0].reindexed(indices)
        if all(b.native is not None for b in batches) and len({(b.width, b.height) for b in batches}) == 1:
            first = batches[0]
            return FrameBatch(
                indices,
                native=[f for b in batches for f in (b.native or ())],
                convert=first._convert,
                size=(first.width, first.height),
            )
        import torch

        return FrameBatch(indices, torch.cat([b.pixels for b in batches]))

    def __repr__(self) -> str:
        return f"FrameBatch(n={len(self)}, {self.width}x{self.height}, first={self.indices[:1]})"


class AudioBuffer:
    """Audio samples as a float32 array of shape (channels, samples) at a sample rate."""

    __slots__ = ("samples", "sample_rate")

    def __init__(self, samples: np.ndarray, sample_rate: int):
        self.samples = np.ascontiguousarray(samples, dtype=np.float32)
        self.sample_rate = sample_rate

    @classmethod
    def silence(cls, channels: int, count: int, sample_rate: int) -> "AudioBuffer":
        return cls(np.zeros((channels, max(0, count)), np.float32), sample_rate)

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    def __len__(self) -> int:
        return self.samples.shape[1]


def fit_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """(c, n) samples as ``channels`` channels: mono is copied, more are averaged or dropped."""
    have = samples.shape[0]
    if have == channels:
        return samples
    if have == 1:
        return np.repeat(samples, channels, axis=0)
    if channels == 1:
        return samples.mean(axis=0, keepdims=True)
    out = np.zeros((channels, samples.shape[1]), np.float32)
    out[: min(have, channels)] = samples[: min(have, channels)]
    return out


def empty_planes(shape: tuple, device: Any = "cpu") -> "torch.Tensor":
    """An uninitialised float32 tensor of ``shape``.

    On the CPU its memory comes from NumPy (plain ``malloc``): torch's 64-byte-aligned
    allocations leave small free slivers beside each frame that later allocations take, so a
    freed frame's block no longer fits the next frame, the heap grows, and every new frame pays
    ~8,000 fresh page faults (a third of a grade's cost). Plain blocks are reused as they are.
    """
    import torch

    if torch.device(device).type == "cpu":
        return torch.from_numpy(np.empty(shape, np.float32))
    return torch.empty(shape, dtype=torch.float32, device=device)


def empty_pixels(n: int, height: int, width: int, device: Any = "cpu") -> "torch.Tensor":
    """An uninitialised channels-last (N, 4, H, W) float32 tensor (memory as ``empty_planes``)."""
    return empty_planes((n, height, width, 4), device).permute(0, 3, 1, 2)


def constant(
    n: int, width: int, height: int, rgba: tuple[float, float, float, float], device: Any = "cpu"
) -> "torch.Tensor":
    """N frames of one premultiplied colour, as a stride-0 view (nodes never write their inputs)."""
    import torch

    pixel = torch.tensor(rgba, dtype=torch.float32, device=device).view(1, 4, 1, 1)
    return pixel.expand(n, 4, height, width)


#: rows per strip of a per-pixel effect on a CPU (see ``row_strips``)
STRIP_ROWS = 48


def row_strips(pixels: "torch.Tensor") -> list[tuple[int, int]]:
    """Row ranges to run a per-pixel computation over, for (N, C, H, W) ``pixels``.

    On a CPU, strips of ``STRIP_ROWS`` rows: their intermediate planes stay in the processor's
    cache, where whole 1080p planes go out to memory at every step (a chain of a dozen steps
    runs about a fifth faster in strips). Elsewhere (a GPU) the whole frame, in one launch a step.
    """
    h = pixels.shape[2]
    step = STRIP_ROWS if pixels.device.type == "cpu" else h
    return [(y, min(h, y + step)) for y in range(0, h, step)]
