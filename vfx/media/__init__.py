"""Media I/O for source and encoder plugins, through PyAV: probing, decoding, encoding, colour
tags, still images, ``.cube`` LUT files and the ffmpeg-binary pipe.

This package is the I/O surface plugins import from (``from vfx.media import VideoReader``).
Names load on first use, so importing ``vfx.media`` costs nothing until one is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "colorspace": (
        "HDR_CHOICES",
        "MATRIX_CHOICES",
        "PRIMARIES_CHOICES",
        "RANGE_CHOICES",
        "TRANSFER_CHOICES",
        "tag",
        "to_rgba",
        "to_rgba_batch",
    ),
    "decode": ("AudioReader", "VideoReader"),
    "encode": (
        "AUDIO_CODECS",
        "AUDIO_CONTAINERS",
        "CODECS",
        "VideoWriter",
        "audio_codecs_for",
        "default_audio_codec",
        "high_bit_depth",
        "parse_bitrate",
        "write_png",
    ),
    "exr": ("ExrHeader", "ExrLayer", "exr_header", "is_exr", "read_exr", "write_exr"),
    "ffmpeg_pipe": ("FfmpegPipeWriter", "available_encoders"),
    "images": ("ImageRenderError", "check_budget", "image_header", "memory_limit", "read_image"),
    "lut": ("CubeError", "CubeLUT", "read_cube"),
    "probing": ("probe", "rotation_filters", "upright_filters"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'vfx.media' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
