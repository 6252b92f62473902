"""Sources: video files, still images, image sequences, solid colours and test patterns."""

from __future__ import annotations

import vfx

from .color import ColorSource, TestPattern
from .exr import ExrSequenceSource
from .image import ImageSequenceSource, ImageSource
from .video import VideoSource


@vfx.hookimpl
def register_nodes(register):
    """Register the source node types."""
    for cls in (VideoSource, ImageSource, ImageSequenceSource, ColorSource, TestPattern, ExrSequenceSource):
        register(cls)
