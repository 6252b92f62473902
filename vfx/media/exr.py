"""OpenEXR files: their layers, reading one as RGBA float, writing frames with named layers.

Built on the ``OpenEXR`` Python package (the Academy Software Foundation's own binding, 3.x),
imported only when a file is touched. EXR pixels are scene-linear with premultiplied
(associated) alpha, which is the graph's own model, so values pass through unchanged: a float
file round-trips bit for bit, a half file to the nearest half.

Layers: the channels of each part are grouped by the prefix before their last dot
(``diffuse.R`` is channel ``R`` of layer ``diffuse``); channels without a prefix form the
unnamed default layer (``""``). In a multi-part file an unnamed layer takes its part's name.
A layer is read as RGBA: R, G, B and A as found; a lone ``Y`` (or any single channel, such as
``Z``) is repeated into R, G and B; a missing alpha is 1.

Frames are placed in the display window: pixels of the data window outside it are cut off,
display-window pixels without data are transparent black.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MediaError

#: compression names accepted by ``write_exr``, as the OpenEXR constants they stand for
COMPRESSIONS = ("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab")
_RGBA = ("R", "G", "B", "A")


@dataclass(frozen=True)
class ExrLayer:
    """One layer of an EXR file: where it is and which of its channels make R, G, B, A."""

    name: str
    part: int
    #: full channel names for R, G, B and A (None where absent)
    channels: tuple[str | None, str | None, str | None, str | None]
    #: "half", "float" or "uint" (the widest of its channels)
    pixel_type: str

    @property
    def has_alpha(self) -> bool:
        return self.channels[3] is not None

    def describe(self) -> str:
        """``diffuse (R G B A, half)``: the layer as ``vfx probe`` lists it."""
        names = " ".join(c.rsplit(".", 1)[-1] for c in self.channels if c is not None)
        unique = list(dict.fromkeys(names.split()))
        return f"{self.name or '(default)'} ({' '.join(unique)}, {self.pixel_type})"


@dataclass(frozen=True)
class ExrHeader:
    """What an EXR file holds, read from its header alone."""

    path: Path
    #: the display window's size: the frame size
    width: int
    height: int
    #: (x0, y0, x1, y1) inclusive, of the first part
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    compression: str
    tiled: bool
    layers: list[ExrLayer] = field(default_factory=list)

    def layer(self, name: str | None) -> ExrLayer:
        """The layer called ``name`` (None: the default layer, else the first), or ``MediaError``."""
        if name is None:
            for layer in self.layers:
                if layer.name == "":
                    return layer
            return self.layers[0]
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = ", ".join(repr(layer.name or "(default)") for layer in self.layers)
        raise MediaError(f"{self.path} has no layer {name!r}; its layers are {names}")

    def as_dict(self) -> dict[str, Any]:
        """The header as plain data (``vfx probe --json``)."""
        return {
            "path": str(self.path),
            "format": "openexr",
            "width": self.width,
            "height": self.height,
            "data_window": list(self.data_window),
            "display_window": list(self.display_window),
            "compression": self.compression,
            "tiled": self.tiled,
            "layers": [
                {
                    "name": layer.name,
                    "part": layer.part,
                    "channels": [c for c in dict.fromkeys(layer.channels) if c is not None],
                    "pixel_type": layer.pixel_type,
                    "alpha": layer.has_alpha,
                }
                for layer in self.layers
            ],
        }

    def summary(self) -> str:
        """One line: the file, its size, windows, storage and compression."""
        windows = "" if self.data_window == self.display_window else f", data window {self.data_window}"
        parts = max(layer.part for layer in self.layers) + 1
        return (
            f"{self.path}: OpenEXR {self.width}x{self.height} (display window {self.display_window}{windows}), "
            f"{'tiled' if self.tiled else 'scanline'}, {self.compression} compression"
            + (f", {parts} parts" if parts > 1 else "")
        )

    @property
    def decode_bytes(self) -> int:
        """Bytes one frame of it takes in the graph (float32 RGBA)."""
        return self.width * self.height * 16


def _ensure_module() -> Any:
    try:
        import OpenEXR
    except ImportError as exc:  # pragma: no cover - a dependency of vfx
        raise MediaError(f"reading and writing EXR needs the OpenEXR package ({exc})") from None
    return OpenEXR


def _window(value: Any) -> tuple[int, int, int, int]:
    lo, hi = value
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _compression_name(value: Any) -> str:
    name = str(value).rsplit(".", 1)[-1].lower().replace("_compression", "")
    return "none" if name == "no" else name


def _layers_of(part_index: int, part_name: str, channels: dict[str, Any], multipart: bool) -> list[ExrLayer]:
    """The layers that one part's channels form (``channels``: full name -> pixel type name)."""
    groups: dict[str, dict[str, str]] = {}
    for full in channels:
        prefix, _, short = full.rpartition(".")
        groups.setdefault(prefix, {})[short] = full
    order = {"half": 0, "uint": 1, "float": 2}
    layers = []
    for prefix, members in groups.items():
        upper = {k.upper(): v for k, v in members.items()}
        if any(c in upper for c in "RGB"):
            rgb = [upper.get(c) for c in "RGB"]
            fill = next(c for c in rgb if c is not None)
            chans = tuple(c or fill for c in rgb) + (upper.get("A"),)
            extra = [v for k, v in members.items() if k.upper() not in _RGBA]
        elif "Y" in upper:
            chans = (upper["Y"],) * 3 + (upper.get("A"),)
            extra = [v for k, v in members.items() if k.upper() not in ("Y", "A")]
        else:
            chans, extra = (None, None, None, None), list(members.values())
        name = prefix or (part_name if multipart else "")
        if chans[0] is not None:
            types = [channels[c] for c in chans if c is not None]
            layers.append(ExrLayer(name, part_index, chans, max(types, key=lambda t: order.get(t, 0))))  # type: ignore[arg-type]
        for full in extra:  # a channel outside RGBA (Z, id): a grey layer of its own
            short = full.rpartition(".")[2]
            label = f"{name}.{short}" if name else short
            layers.append(ExrLayer(label, part_index, (full, full, full, None), channels[full]))
    return layers


_PIXEL_TYPES = {0: "uint", 1: "half", 2: "float"}


def channel_types(path: Path) -> list[dict[str, str]]:
    """Each part's channel pixel types (name -> "half" / "float" / "uint"), from the raw header.

    The binding's header-only read leaves channel types unknown, so the ``chlist`` attributes
    are read here (OpenEXR file layout: magic, version, then ``name NUL type NUL size value``
    attributes, one header per part, each ended by a NUL).
    """
    import struct

    with open(path, "rb") as fh:
        data = fh.read(1 << 20)
    version = struct.unpack_from("<I", data, 4)[0]
    multipart = bool(version & 0x1000)
    pos = 8
    parts: list[dict[str, str]] = []
    current: dict[str, str] = {}
    try:
        while True:
            if data[pos] == 0:  # end of one header
                parts.append(current)
                current = {}
                pos += 1
                if not multipart or data[pos] == 0:
                    break
                continue
            name_end = data.index(b"\0", pos)
            type_end = data.index(b"\0", name_end + 1)
            kind = data[name_end + 1 : type_end]
            size = struct.unpack_from("<i", data, type_end + 1)[0]
            start = type_end + 5
            if kind == b"chlist":
                at = start
                while data[at] != 0:
                    end = data.index(b"\0", at)
                    current[data[at:end].decode("utf-8", "replace")] = _PIXEL_TYPES.get(
                        struct.unpack_from("<i", data, end + 1)[0], "uint"
                    )
                    at = end + 17
            pos = start + size
    except (IndexError, ValueError, struct.error):
        raise MediaError(f"{path}: the EXR header is cut short or damaged") from None
    return parts


def exr_header(path: Path) -> ExrHeader:
    """The header of the EXR file ``path`` (every part's layers), or ``MediaError``."""
    OpenEXR = _ensure_module()
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: file not found")
    try:
        if not OpenEXR.isOpenExrFile(str(path)):
            raise MediaError(f"{path}: not an OpenEXR file")
        f = OpenEXR.File(str(path), header_only=True)
        parts = f.parts
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot read the EXR header: {exc}") from None
    layers: list[ExrLayer] = []
    multipart = len(parts) > 1
    types = channel_types(path)
    for k, part in enumerate(parts):
        head = part.header
        known = types[k] if k < len(types) else {}
        chans = {c.name: known.get(c.name, "float") for c in head.get("channels", [])}
        for c in head.get("channels", []):
            if (c.xSampling, c.ySampling) != (1, 1):
                raise MediaError(
                    f"{path}: channel {c.name} is subsampled ({c.xSampling}x{c.ySampling}); vfx reads "
                    "full-resolution channels only"
                )
        if str(head.get("type", "")).endswith(("deepscanline", "deeptile")):
            raise MediaError(f"{path}: part {k} holds deep data, which vfx does not read")
        layers.extend(_layers_of(k, str(head.get("name", "") or f"part{k}"), chans, multipart))
    if not layers:
        raise MediaError(f"{path}: the EXR file has no channels")
    seen: set[str] = set()
    for layer in layers:
        if layer.name in seen:
            raise MediaError(f"{path}: two layers are called {layer.name!r}")
        seen.add(layer.name)
    first = parts[0].header
    data, display = _window(first["dataWindow"]), _window(first["displayWindow"])
    return ExrHeader(
        path,
        display[2] - display[0] + 1,
        display[3] - display[1] + 1,
        data,
        display,
        _compression_name(first.get("compression", "")),
        str(first.get("type", "")).endswith("tiledimage"),
        layers,
    )


def read_exr(path: Path, layer: str | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
    """Layer ``layer`` of the EXR file ``path`` as (H, W, 4) float32 premultiplied RGBA in the
    display window (into ``out`` when given); alpha 1 where the layer has none."""
    OpenEXR = _ensure_module()
    header = exr_header(path)
    chosen = header.layer(layer)
    try:
        f = OpenEXR.File(str(path), separate_channels=True)
        part = f.parts[chosen.part]
        channels = part.channels
        head = part.header
    except Exception as exc:
        raise MediaError(f"{path}: cannot read the EXR pixels: {exc}") from None
    data, display = _window(head["dataWindow"]), _window(head["displayWindow"])
    w, h = header.width, header.height
    if out is not None and out.shape != (h, w, 4):
        raise MediaError(f"{path} is {w}x{h}, expected {out.shape[1]}x{out.shape[0]} (the first image's size)")
    if (display[2] - display[0] + 1, display[3] - display[1] + 1) != (w, h):
        raise MediaError(f"{path}: part {chosen.part}'s display window differs from the first part's")
    frame = out if out is not None else np.empty((h, w, 4), np.float32)
    # the data window's overlap with the display window, in both coordinate systems
    x0, y0 = max(data[0], display[0]), max(data[1], display[1])
    x1, y1 = min(data[2], display[2]), min(data[3], display[3])
    full = (x0, y0, x1, y1) == display and data == display
    if not full:
        frame[...] = 0.0
    if x1 < x0 or y1 < y0:
        return frame
    src = np.s_[y0 - data[1] : y1 - data[1] + 1, x0 - data[0] : x1 - data[0] + 1]
    dst = np.s_[y0 - display[1] : y1 - display[1] + 1, x0 - display[0] : x1 - display[0] + 1]
    for k, name in enumerate(chosen.channels):
        if name is None:
            frame[dst + (k,)] = 1.0
            continue
        frame[dst + (k,)] = channels[name].pixels[src]
    return frame


def _compression(OpenEXR: Any, name: str) -> Any:
    if name not in COMPRESSIONS:
        raise MediaError(f"unknown EXR compression {name!r}; expected one of {', '.join(COMPRESSIONS)}")
    return getattr(OpenEXR, f"{'NO' if name == 'none' else name.upper()}_COMPRESSION")


def write_exr(
    path: Path,
    layers: dict[str, np.ndarray],
    *,
    pixel_type: str = "half",
    compression: str = "zip",
    tiled: bool = False,
    tile_size: int = 64,
    alpha: bool | dict[str, bool] = True,
    multipart: bool = False,
    attributes: dict[str, Any] | None = None,
) -> Path:
    """Write (H, W, 4) float32 premultiplied RGBA frames as one EXR file at ``path``.

    ``layers`` maps layer names to frames; ``""`` is the default layer (channels R, G, B, A),
    another name ``n`` gives channels ``n.R`` ... (or, with ``multipart``, a part named ``n``
    with channels R, G, B, A). ``pixel_type`` is ``"half"`` or ``"float"``; without ``alpha`` (a
    bool, or one per layer name) no A channel is written: premultiplied colour over black is the
    colour itself. ``path`` is written directly: callers write to a temporary name.
    """
    OpenEXR = _ensure_module()
    if pixel_type not in ("half", "float"):
        raise MediaError(f"EXR pixel type must be half or float, got {pixel_type!r}")
    dtype = np.float16 if pixel_type == "half" else np.float32
    header: dict[str, Any] = {"compression": _compression(OpenEXR, compression)}
    if tiled:
        tiles = OpenEXR.TileDescription()
        tiles.xSize = tiles.ySize = int(tile_size)
        tiles.mode = OpenEXR.ONE_LEVEL
        header["type"] = OpenEXR.tiledimage
        header["tiles"] = tiles
    else:
        header["type"] = OpenEXR.scanlineimage
    header.update(attributes or {})

    def channels_of(frame: np.ndarray, prefix: str, layer: str) -> dict[str, np.ndarray]:
        keep = 4 if (alpha.get(layer, True) if isinstance(alpha, dict) else alpha) else 3
        if frame.ndim != 3 or frame.shape[2] != 4:
            raise MediaError(f"an EXR layer must be (H, W, 4) RGBA, got {frame.shape}")
        return {f"{prefix}{c}": np.ascontiguousarray(frame[..., k], dtype=dtype) for k, c in enumerate(_RGBA[:keep])}

    try:
        if multipart and len(layers) > 1:
            parts = []
            for name, frame in layers.items():
                part_header = dict(header, name=name or "rgba")
                parts.append(OpenEXR.Part(part_header, channels_of(frame, "", name), name or "rgba"))
            f = OpenEXR.File(parts)
        else:
            chans: dict[str, np.ndarray] = {}
            for name, frame in layers.items():
                chans.update(channels_of(frame, f"{name}." if name else "", name))
            f = OpenEXR.File(header, chans)
        f.write(str(path))
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"{path}: cannot write the EXR file: {exc}") from None
    return Path(path)


def is_exr(path: Path) -> bool:
    """Whether ``path`` is an OpenEXR file (by its magic number; False when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x76\x2f\x31\x01"
    except OSError:
        return False


__all__ = ["COMPRESSIONS", "ExrHeader", "ExrLayer", "channel_types", "exr_header", "is_exr", "read_exr", "write_exr"]
