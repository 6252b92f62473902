"""Still images (PNG, JPEG, TIFF, ...) decoded through PyAV into RGBA arrays, within a memory budget.

An image's size is read from its header (``image_header``: the container is opened, no pixel is
decoded) and checked against the budget before anything is decoded: decoding needs about
``BYTES_PER_PIXEL`` bytes per pixel. The budget is the ``VFX_MAX_MEMORY`` environment variable
(which ``--max-memory`` sets), else ``DEFAULT_MAX_MEMORY``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MediaError, RenderError
from .probing import open_container

#: the budget when neither ``--max-memory`` nor ``VFX_MAX_MEMORY`` gives one
DEFAULT_MAX_MEMORY = 2 << 30
#: bytes per pixel an image source needs: the decoder's frame (up to 8 for 16-bit RGBA), the
#: 8-bit RGBA array (4) and the float RGBA tensor in linear light (16), with some slack
BYTES_PER_PIXEL = 32
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class ImageRenderError(RenderError):
    """An image found unusable while rendering (bad input, so exit code 2); names the node."""

    exit_code = 2


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says: size, pixel format and whether that format has alpha."""

    width: int
    height: int
    pix_fmt: str
    has_alpha: bool

    @property
    def decode_bytes(self) -> int:
        """Memory needed to decode it into a source's pixels (``BYTES_PER_PIXEL`` per pixel)."""
        return self.width * self.height * BYTES_PER_PIXEL


def parse_memory(text: str | int) -> int:
    """``"2G"``, ``"512M"``, ``"1.5g"``, ``"4096"`` (bytes) or an int to bytes; ``ValueError`` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
        if not m:
            raise ValueError(f"expected a size such as 2G, 512M or 1500000000, got {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 1 << 20:
        raise ValueError(f"a memory budget under 1 MiB cannot decode anything, got {text!r}")
    return value


def memory_limit() -> int:
    """The memory budget in bytes: ``VFX_MAX_MEMORY`` or the default."""
    env = os.environ.get("VFX_MAX_MEMORY")
    if env:
        try:
            return parse_memory(env)
        except ValueError as exc:
            raise MediaError(f"VFX_MAX_MEMORY: {exc}") from None
    return DEFAULT_MAX_MEMORY


def format_bytes(n: int) -> str:
    """``n`` bytes as ``1.5 GiB``, ``300 MiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def image_header(path: Path) -> ImageHeader:
    """Size and pixel format of an image file, from its header (no pixel is decoded)."""
    import av

    container = open_container(Path(path))
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: not an image")
        ctx = container.streams.video[0].codec_context
        if not ctx.width or not ctx.height:
            raise MediaError(f"{path}: the image header gives no size")
        fmt = ctx.format
        alpha = bool(fmt and any(c.is_alpha for c in fmt.components)) or (fmt is not None and fmt.name == "pal8")
        return ImageHeader(int(ctx.width), int(ctx.height), fmt.name if fmt else "", alpha)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot read the image header: {exc}") from None
    finally:
        container.close()


def check_budget(path: Path, header: ImageHeader, max_memory: int) -> None:
    """Raise ``MediaError`` when decoding the image would take more than ``max_memory`` bytes."""
    if header.decode_bytes > max_memory:
        raise MediaError(
            f"{path}: the image is {header.width}x{header.height}; decoding it needs about "
            f"{format_bytes(header.decode_bytes)} ({BYTES_PER_PIXEL} bytes a pixel), over the "
            f"memory budget of {format_bytes(max_memory)}: use a smaller image, or raise the "
            "budget with --max-memory (or VFX_MAX_MEMORY)"
        )


def read_image(path: Path, max_memory: int | None = None) -> np.ndarray:
    """The first frame of an image file as uint8 (H, W, 4) straight RGBA.

    With ``max_memory``, the header is checked against it first (``check_budget``).
    """
    import av

    if max_memory is not None:
        check_budget(Path(path), image_header(path), max_memory)
    container = open_container(Path(path))
    try:
        if not container.streams.video:
            raise MediaError(f"{path}: not an image")
        for frame in container.decode(video=0):
            return _rgba8(frame)
        raise MediaError(f"{path}: the image holds no frame")
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: cannot decode image: {exc}") from None
    finally:
        container.close()


def _rgba8(frame) -> np.ndarray:
    """A decoded image as (H, W, 4) uint8 RGBA (swscale's default matrix for a JPEG's YUV)."""
    from .colorspace import format_kind, yuv_to_rgba8

    yuv, deep = format_kind(frame.format.name)
    return yuv_to_rgba8(frame) if yuv and not deep else frame.to_ndarray(format="rgba")
