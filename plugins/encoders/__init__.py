"""Encoders: video files with audio (PyAV, or an ffmpeg binary) and PNG image sequences."""

from __future__ import annotations

import vfx

from .exr import ExrSequenceEncoder
from .image_sequence import ImageSequenceEncoder
from .video import FfmpegBackend, PyAVBackend, VideoEncoder


@vfx.hookimpl
def register_nodes(register):
    """Register the encoder node types."""
    register(VideoEncoder)
    register(ImageSequenceEncoder)
    register(ExrSequenceEncoder)


@vfx.hookimpl
def register_encoder_backends(register):
    """Register the two video encoder backends."""
    register("pyav", PyAVBackend())
    register("ffmpeg", FfmpegBackend())
