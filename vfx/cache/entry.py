"""The on-disk form of one cached frame: a checksummed header and a losslessly compressed payload.

Layout::

    b"VFXNODE1" | CRC-32 of everything after it (u32 LE) | header length (u32 LE) |
    header (JSON: key, frame, shape, dtype, codec) | payload

The payload is the frame's float32 (H, W, 4) pixels with their bytes shuffled into four planes
(the lowest byte of every float, then the next...), each compressed with zlib or, when a sample
of it shows it will not shrink much (the low mantissa bytes of most rendered images), stored as it is: floats
of smooth images share their high bytes, which is where zlib finds its runs, and compressing
noise only costs time. Decoding restores the exact bytes. A truncated or altered entry fails the
checksum and reads as ``CorruptEntry``.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np

MAGIC = b"VFXNODE1"
_DIGEST = 4
_PREFIX = len(MAGIC) + _DIGEST + 4
CODEC = "shuffle4-zlib1-v4"
#: bytes of a plane compressed to decide whether compressing all of it pays
_PROBE = 1 << 16
#: a plane whose probe does not shrink below this fraction is stored uncompressed: zlib takes
#: about as long on a plane that shrinks by a fifth as on one that shrinks by nine tenths
_WORTH = 0.35


class CorruptEntry(ValueError):
    """A cache entry that is not a whole, intact entry for the key it was looked up by."""


def encode(key: str, frame: int, pixels: np.ndarray) -> bytes:
    """One entry for ``pixels``, a float32 (H, W, 4) array, as frame ``frame`` of node key ``key``."""
    a = np.ascontiguousarray(pixels, dtype=np.float32)
    bytes_ = a.view(np.uint8).reshape(-1, 4)
    blobs, layout = [], []
    for i in range(4):
        plane = np.ascontiguousarray(bytes_[:, i])
        probe = plane[:_PROBE]
        if len(zlib.compress(probe.data, 1)) <= _WORTH * max(1, probe.size):
            blob, how = zlib.compress(plane.data, 1), "z"
        else:
            blob, how = plane.tobytes(), "raw"
        blobs.append(blob)
        layout.append([how, len(blob)])
    header = json.dumps(
        {"key": key, "frame": frame, "shape": list(a.shape), "dtype": "float32", "codec": CODEC, "planes": layout},
        separators=(",", ":"),
    ).encode()
    body = b"".join([struct.pack("<I", len(header)), header, *blobs])
    return MAGIC + struct.pack("<I", zlib.crc32(body)) + body


def decode(data: bytes, key: str, frame: int, out: np.ndarray | None = None) -> np.ndarray:
    """The float32 (H, W, 4) pixels of an entry, written into ``out`` if given (a C-contiguous
    float32 array of that shape); ``CorruptEntry`` unless it is intact and for (key, frame)."""
    if len(data) < _PREFIX or data[: len(MAGIC)] != MAGIC:
        raise CorruptEntry("not a vfx cache entry (bad magic or truncated)")
    view = memoryview(data)
    if zlib.crc32(view[len(MAGIC) + _DIGEST :]) != struct.unpack_from("<I", data, len(MAGIC))[0]:
        raise CorruptEntry("checksum mismatch (truncated or altered)")
    (hlen,) = struct.unpack_from("<I", data, len(MAGIC) + _DIGEST)
    try:
        header = json.loads(bytes(view[_PREFIX : _PREFIX + hlen]))
        shape = tuple(int(n) for n in header["shape"])
        layout = [(str(how), int(size)) for how, size in header["planes"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptEntry(f"unreadable header ({exc})") from None
    if header.get("key") != key or header.get("frame") != frame or header.get("codec") != CODEC:
        raise CorruptEntry("the entry is for another key, frame or codec")
    if len(shape) != 3 or shape[2] != 4 or header.get("dtype") != "float32":
        raise CorruptEntry(f"unexpected shape {shape} or dtype {header.get('dtype')}")
    n = shape[0] * shape[1] * shape[2]
    if len(layout) != 4 or _PREFIX + hlen + sum(size for _, size in layout) != len(data):
        raise CorruptEntry("the planes do not add up to the entry's length")
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise CorruptEntry(f"the entry holds {shape} pixels, {out.shape} were expected")
    bytes_ = out.reshape(-1).view(np.uint8).reshape(n, 4)
    at = _PREFIX + hlen
    for i, (how, size) in enumerate(layout):
        blob = view[at : at + size]
        at += size
        try:
            plane = zlib.decompress(blob) if how == "z" else blob
        except zlib.error as exc:
            raise CorruptEntry(f"plane {i} does not decompress ({exc})") from None
        if len(plane) != n:
            raise CorruptEntry(f"plane {i} holds {len(plane)} bytes, the header says {n}")
        bytes_[:, i] = np.frombuffer(plane, np.uint8)
    return out


def is_entry(path) -> bool:
    """Whether the file at ``path`` starts like a cache entry (its magic), for ``clear``."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False
