"""8-bit code paths: a per-pixel chain between 8-bit media and the graph as one table lookup, and
batches that carry those codes beside their float pixels.

A per-pixel chain fed by decoded 8-bit video and read by an 8-bit encoder maps each input code
to one output code: ``color.to_linear``'s decode, the chain in float, the encoders'
``color.linear_to_srgba8``. ``channel_table`` (256 entries a channel, for chains that keep R, G and
B apart) and ``cube_table`` (every RGB triple, 64 MiB) run the chain once over every input code,
so the lookups (``apply_channel_table``, ``apply_cube_table``, on opaque (H, W, 4) uint8 RGBA) give
exactly the codes of the float path, with no float frame made. ``encode_frames`` takes decoded
frames through such a lookup into RGBA AVFrames; an ``EncodedBatch`` carries them beside its float
pixels, made only when a node asks for ``pixels``, and an 8-bit encoder takes them instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..frames import FrameBatch

if TYPE_CHECKING:
    import torch

#: entries of a cube code table: every 8-bit RGB triple
CUBE_ENTRIES = 1 << 24
#: blue codes per call of the chain while a cube table is made (a million pixels)
_CUBE_SLAB = 16


#: a chain of a code table: opaque linear RGBA frames (H, W, 4) float32 to new ones
Chain = Callable[[np.ndarray], np.ndarray]


def _chain_codes(chain: Chain, rgba8: np.ndarray) -> np.ndarray:
    """``chain`` of opaque 8-bit straight sRGB pixels (H, W, 4) as the graph sees them (decoded as
    ``color.to_linear`` decodes them) and as an 8-bit encoder writes them back
    (``color.linear_to_srgba8``): (H, W, 4) uint8, alpha 255."""
    from .color import _decode_lut, linear_to_srgba8

    linear = _decode_lut()[rgba8]
    linear[..., 3] = 1.0
    out = np.empty(rgba8.shape, np.uint8)
    linear_to_srgba8(np.ascontiguousarray(chain(linear)), False, out)
    out[..., 3] = 255
    return out


def channel_table(chain: Chain) -> np.ndarray:
    """The (1, 256, 4) uint8 table of a chain that treats each channel on its own (exposure,
    contrast, gains: no mixing of R, G and B): entry [0, code, c] is channel c of the chain's
    8-bit output for an input whose channels are all ``code``. Applied with ``cv2.LUT`` to opaque
    8-bit RGBA it gives exactly what the chain run in float on that input would be encoded to."""
    codes = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    grey = np.concatenate([np.repeat(codes, 3, axis=2), np.full_like(codes, 255)], axis=2)
    return _chain_codes(chain, grey).reshape(1, 256, 4)


def cube_table(chain: Chain) -> np.ndarray:
    """The table of any per-pixel chain over every 8-bit RGB triple: (2^24,) uint32, entry
    ``r + 256 g + 65536 b`` the chain's opaque 8-bit RGBA output packed as the bytes R, G, B, 255
    (64 MiB; made in 256 slices of one blue code, about half a second on a CPU)."""
    table = np.empty(CUBE_ENTRIES, np.uint32)
    ramp = np.arange(256, dtype=np.uint8)
    rgba = np.empty((_CUBE_SLAB * 256, 256, 4), np.uint8)
    rgba[:, :, 0] = ramp[None, :]  # red along x
    rgba[:, :, 1] = np.tile(ramp, _CUBE_SLAB)[:, None]  # green down each block of 256 rows
    rgba[:, :, 3] = 255
    for b in range(0, 256, _CUBE_SLAB):
        rgba[:, :, 2] = np.repeat(np.arange(b, b + _CUBE_SLAB, dtype=np.uint8), 256)[:, None]  # blue by block
        table[b << 16 : (b + _CUBE_SLAB) << 16] = _chain_codes(chain, rgba).view(np.uint32).reshape(-1)
    return table


def apply_channel_table(rgba8: np.ndarray, table: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA through a ``channel_table``, written into ``out`` (H, W, 4) uint8."""
    import cv2

    if out.flags.c_contiguous:
        cv2.LUT(rgba8, table, dst=out)
    else:  # OpenCV would write into a new array instead
        np.copyto(out, cv2.LUT(rgba8, table))
    return out


def apply_cube_table(rgba8: np.ndarray, table: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA through a ``cube_table`` (one lookup per pixel), into ``out`` (H, W, 4) uint8."""
    from . import backend

    src = np.ascontiguousarray(rgba8).view(np.uint32).reshape(-1)
    dst = out if out.flags.c_contiguous else np.empty(out.shape, np.uint8)
    if backend.allows("numba"):
        from ._codes_kernel import cube_lookup

        cube_lookup(src, table, dst.view(np.uint32).reshape(-1))
    else:
        keys = np.bitwise_and(src, np.uint32(CUBE_ENTRIES - 1))
        np.take(table, keys, out=dst.view(np.uint32).reshape(-1), mode="clip")
    if dst is not out:
        np.copyto(out, dst)
    return out


def encode_frames(frames: list[Any], apply: Callable[[np.ndarray, np.ndarray], Any]) -> list[Any] | None:
    """Decoded frames through ``apply(rgba8, out)`` (a table lookup on (H, W, 4) uint8) into new
    ``rgba`` AVFrames; None unless every frame is 8-bit SDR YUV, converted to RGBA as a video
    source converts it (``vfx.media.colorspace.to_rgba``)."""
    import av

    from ..media.colorspace import HDR_TRC, format_kind, to_rgba

    if not all(format_kind(f.format.name) == (True, False) and f.color_trc not in HDR_TRC for f in frames):
        return None
    out = []
    for frame in frames:
        w, h = frame.width, frame.height
        encoded = av.VideoFrame(w, h, "rgba")
        plane = encoded.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(h, plane.line_size)
        apply(to_rgba(frame), rows[:, : w * 4].reshape(h, w, 4))
        out.append(encoded)
    return out


class EncodedBatch(FrameBatch):
    """A ``FrameBatch`` whose frames also exist as opaque 8-bit straight sRGB RGBA AVFrames.

    ``encoded``: one ``rgba`` ``av.VideoFrame`` per frame, equal to ``from_linear(pixels)``;
    ``make_pixels``: computes the float pixels when a node asks for them.
    """

    __slots__ = ("encoded", "_make_pixels")

    def __init__(
        self,
        indices: Sequence[int],
        encoded: list[Any],
        make_pixels: Callable[[], torch.Tensor],
        size: tuple[int, int],
    ):
        super().__init__(indices, size=size)
        self.encoded: list[Any] | None = encoded
        self._make_pixels = make_pixels

    @property
    def pixels(self) -> torch.Tensor:
        if self._pixels is None:
            self._pixels = self._make_pixels()
            self.owned = True
        return self._pixels

    def reindexed(self, indices: Sequence[int]) -> FrameBatch:
        if self._pixels is not None:
            return FrameBatch(indices, self._pixels)
        return EncodedBatch(indices, self.encoded or [], self._make_pixels, (self.width, self.height))


def encoded_frames(batch: FrameBatch) -> list[Any] | None:
    """The batch's 8-bit encoded frames, if it carries them."""
    return getattr(batch, "encoded", None)
