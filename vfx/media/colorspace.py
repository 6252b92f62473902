"""The colour of decoded video: which YUV matrix and range a frame uses, and its conversion to RGB.

A frame's matrix and range come from its tags (AVFrame ``colorspace`` / ``color_range``; the
``yuvj*`` formats are full range). Untagged YUV follows the players' convention: BT.601 below
720 lines, BT.709 at or above; untagged range is limited. A source may override either. RGB
formats (GIF, PNG, RGB codecs) have no matrix. ``tag`` writes the resolved values into the
frames, so a frame says what it is wherever it goes (a pass-through encoder keeps it, a
resize keeps it, a concat of two sources converts each by its own).

Frames deeper than 8 bits convert to 16-bit RGBA (``rgba64``), never through 8 bits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# AVColorSpace values
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_FCC, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 0, 1, 2, 4, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
# AVColorRange values
RANGE_UNSPECIFIED, RANGE_LIMITED, RANGE_FULL = 0, 1, 2
# AVColorPrimaries / AVColorTransferCharacteristic values the encoders write for graph output
PRI_BT709, PRI_BT2020, PRI_P3D65, TRC_IEC61966_2_1 = 1, 9, 12, 13
#: an encoder's ``primaries`` option -> the AVColorPrimaries written
PRIMARIES_TAG = {"bt709": PRI_BT709, "bt2020": PRI_BT2020, "p3d65": PRI_P3D65}
PRIMARIES_CHOICES = ("auto", *PRIMARIES_TAG)
#: an encoder's ``hdr`` option: its input already holds Rec.2100 PQ or HLG code values
HDR_CHOICES = ("none", "pq", "hlg")
#: AVColorPrimaries -> FFmpeg's name for them (as ffprobe prints them and setparams takes them)
PRIMARIES = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "film",
    9: "bt2020",
    10: "smpte428",
    11: "smpte431",
    12: "smpte432",
    22: "ebu3213",
}

#: HDR transfer curves (PQ, HLG): the graph works in SDR and cannot bring them into linear light
HDR_TRC = {16: "smpte2084 (PQ)", 18: "arib-std-b67 (HLG)"}

MATRIX_CHOICES = ("auto", "bt601", "bt709", "bt2020")
RANGE_CHOICES = ("auto", "limited", "full")

#: option value -> the AVColorSpace written for it
MATRIX_TAG = {"bt601": SPC_SMPTE170M, "bt709": SPC_BT709, "bt2020": SPC_BT2020_NCL}
RANGE_TAG = {"limited": RANGE_LIMITED, "full": RANGE_FULL}
TRANSFER_CHOICES = ("auto", "bt709", "srgb", "bt601", "gamma22", "pq", "hlg")
#: option value -> the AVColorTransferCharacteristic written for it (pq and hlg are HDR: see HDR_TRC)
TRANSFER_TAG = {"bt709": 1, "srgb": TRC_IEC61966_2_1, "bt601": 6, "gamma22": 4, "pq": 16, "hlg": 18}
#: AVColorSpace -> swscale's name for the matrix (tags swscale cannot convert read as the nearest)
_SWS = {
    SPC_BT709: "ITU709",
    SPC_BT470BG: "ITU601",
    SPC_SMPTE170M: "ITU601",
    SPC_FCC: "FCC",
    SPC_SMPTE240M: "SMPTE240M",
    SPC_BT2020_NCL: "BT2020",
    SPC_BT2020_CL: "BT2020",
}
_SWS_RANGE = {RANGE_LIMITED: "MPEG", RANGE_FULL: "JPEG"}
_NAMES = {
    SPC_BT709: "bt709",
    SPC_BT470BG: "bt470bg",
    SPC_SMPTE170M: "smpte170m",
    SPC_FCC: "fcc",
    SPC_SMPTE240M: "smpte240m",
    SPC_BT2020_NCL: "bt2020nc",
    SPC_BT2020_CL: "bt2020c",
}


@functools.cache
def format_kind(name: str) -> tuple[bool, bool]:
    """(is YUV, deeper than 8 bits) for a pixel format name."""
    import av

    fmt = av.VideoFormat(name)
    yuv = not fmt.is_rgb and not fmt.has_palette and len(fmt.components) >= 3
    return yuv, max(c.bits for c in fmt.components) > 8


def default_matrix(height: int) -> int:
    """The matrix players assume for untagged YUV: BT.601 below 720 lines, BT.709 at or above."""
    return SPC_SMPTE170M if height < 720 else SPC_BT709


def tag(frames: list, matrix: str = "auto", color_range: str = "auto", transfer: str = "auto") -> list:
    """Write each frame's resolved matrix and range (YUV) and transfer into it (in place; returns ``frames``).

    ``matrix`` / ``color_range`` / ``transfer`` other than ``"auto"`` replace what the file says
    (a mis-tagged file: an SDR clip tagged HLG reads as SDR with ``transfer = "bt709"``).
    """
    forced_matrix = MATRIX_TAG.get(matrix)
    forced_range = RANGE_TAG.get(color_range)
    forced_trc = TRANSFER_TAG.get(transfer)
    for i, frame in enumerate(frames):
        if forced_trc is not None and frame.color_trc != forced_trc:
            frame.color_trc = forced_trc
        name = frame.format.name
        if not format_kind(name)[0]:
            continue
        if forced_range == RANGE_LIMITED and name.startswith("yuvj"):
            frame = frames[i] = _as_yuv(frame)  # swscale reads yuvj as full range whatever the tag says
            name = frame.format.name
        space = forced_matrix if forced_matrix is not None else frame.colorspace
        if space not in _SWS:
            space = default_matrix(frame.height)
        if space != frame.colorspace:
            frame.colorspace = space
        rng = forced_range
        if rng is None:
            rng = RANGE_FULL if (name.startswith("yuvj") or frame.color_range == RANGE_FULL) else RANGE_LIMITED
        if rng != frame.color_range:
            frame.color_range = rng
    return frames


def _as_yuv(frame):
    """A ``yuvj*`` frame's planes as the plain ``yuv*`` format (same samples, tags kept)."""
    import av

    out = av.VideoFrame(frame.width, frame.height, frame.format.name.replace("yuvj", "yuv", 1))
    for sp, dp in zip(frame.planes, out.planes):
        src = np.frombuffer(sp, np.uint8).reshape(sp.height, sp.line_size)
        dst = np.frombuffer(dp, np.uint8).reshape(dp.height, dp.line_size)
        n = min(sp.line_size, dp.line_size)
        dst[:, :n] = src[:, :n]
    out.pts, out.time_base = frame.pts, frame.time_base
    out.colorspace, out.color_primaries, out.color_trc = frame.colorspace, frame.color_primaries, frame.color_trc
    return out


@dataclass(frozen=True)
class FrameColour:
    """A YUV frame's colour as swscale names it (``None`` for RGB frames)."""

    matrix: int
    range: int

    @property
    def sws(self) -> str:
        return _SWS.get(self.matrix, "ITU709")

    @property
    def sws_range(self) -> str:
        return _SWS_RANGE.get(self.range, "MPEG")

    @property
    def name(self) -> str:
        return f"{_NAMES.get(self.matrix, self.matrix)}/{'full' if self.range == RANGE_FULL else 'limited'}"


def colour_of(frame) -> FrameColour | None:
    """The (tagged) colour of a decoded frame; ``None`` for RGB. Untagged values resolve as ``tag`` does."""
    name = frame.format.name
    if not format_kind(name)[0]:
        return None
    space = frame.colorspace if frame.colorspace in _SWS else default_matrix(frame.height)
    full = name.startswith("yuvj") or frame.color_range == RANGE_FULL
    return FrameColour(space, RANGE_FULL if full else RANGE_LIMITED)


def to_rgba(frame) -> np.ndarray:
    """One decoded frame as straight RGBA: (H, W, 4) uint8, or uint16 when deeper than 8 bits.

    YUV converts with the frame's own matrix and range (as ``colour_of`` reads them); 8-bit
    frames take swscale's fast unscaled path, deeper ones go to ``rgba64`` with bicubic chroma
    (the ffmpeg CLI's scaler flags), never through 8 bits.
    """
    if frame.color_trc in HDR_TRC:
        from ..errors import MediaError

        raise MediaError(
            f"the pictures are HDR ({HDR_TRC[frame.color_trc]} transfer), which the graph cannot "
            "convert yet (it works in SDR): a plain transcode keeps them as they are; to change "
            "pixels, tone-map to SDR first (ffmpeg's zscale/tonemap filters)"
        )
    yuv, deep = format_kind(frame.format.name)
    if not yuv:
        return frame.to_ndarray(format="rgba64le" if deep else "rgba")
    c = colour_of(frame)
    if deep:
        return frame.to_ndarray(
            format="rgba64le", src_colorspace=c.sws, src_color_range=c.sws_range, interpolation="BICUBIC"
        )
    return yuv_to_rgba8(frame, src_colorspace=c.sws, src_color_range=c.sws_range)


def yuv_to_rgba8(frame, **colour) -> np.ndarray:
    """An 8-bit YUV frame as (H, W, 4) uint8 RGBA through swscale (``colour``: its ``src_colorspace``
    and ``src_color_range``, else swscale's defaults).

    The bundled swscale's 8-bit YUV-to-RGBA path leaves the last pixels of each row unwritten at
    widths that are not a multiple of 16 (854 and 852-wide SD among them: garbage at the right
    edge); its RGB24 path is right, so such frames go through RGB24, the alpha from its plane.
    """
    if frame.width % 16 == 0:
        return frame.to_ndarray(format="rgba", **colour)
    rgb = frame.to_ndarray(format="rgb24", **colour)
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = rgb
    if any(comp.is_alpha for comp in frame.format.components):
        plane = frame.planes[3]
        out[..., 3] = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    else:
        out[..., 3] = 255
    return out


def to_rgba_batch(frames: list) -> np.ndarray:
    """Decoded frames as one (N, H, W, 4) array; uint16 if any frame is deeper than 8 bits."""
    arrays = [to_rgba(f) for f in frames]
    if any(a.dtype == np.uint16 for a in arrays) and any(a.dtype == np.uint8 for a in arrays):
        arrays = [a if a.dtype == np.uint16 else a.astype(np.uint16) * 257 for a in arrays]
    return np.stack(arrays)


def output_colour(
    first,
    pix_fmt: str,
    color_matrix: str = "auto",
    color_range: str = "auto",
    hdr: str = "none",
    primaries: str = "auto",
) -> tuple[FrameColour, int, int]:
    """The (matrix and range, primaries, transfer) an encoder writes, fixed by its first frame.

    ``first`` is the first frame when it is decoded YUV going straight to the encoder: its own
    tags are kept. Otherwise (``None``: graph output) BT.709 limited range, BT.709 primaries and
    the sRGB curve the graph encoded with; with ``hdr`` ("pq" or "hlg": the pixels are already
    Rec.2100 code values) that transfer, BT.2020 primaries and the BT.2020 matrix.
    ``color_matrix`` / ``color_range`` (and a ``yuvj`` pix_fmt) override matrix and range,
    ``primaries`` (``PRIMARIES_CHOICES``) the primaries.
    """
    src = colour_of(first) if first is not None else None
    hdr_trc = TRANSFER_TAG.get(hdr) if hdr != "none" else None
    default_matrix = src.matrix if src else (SPC_BT2020_NCL if hdr_trc else SPC_BT709)
    matrix = MATRIX_TAG.get(color_matrix, default_matrix)
    rng = RANGE_TAG.get(color_range)
    if rng is None:
        rng = RANGE_FULL if pix_fmt.startswith("yuvj") else (src.range if src else RANGE_LIMITED)
    if src is not None:
        return FrameColour(matrix, rng), first.color_primaries, first.color_trc
    pri = PRIMARIES_TAG.get(primaries, PRI_BT2020 if hdr_trc else PRI_BT709)
    return FrameColour(matrix, rng), pri, hdr_trc or TRC_IEC61966_2_1
