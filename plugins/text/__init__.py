"""Text: titles and captions (``source.text``) and subtitle files (``source.subtitles``), drawn with
FreeType from the fonts shipped in ``fonts/``."""

from __future__ import annotations

import vfx

from .subtitles import Subtitles
from .text import Text


@vfx.hookimpl
def register_nodes(register):
    """Register the text node types."""
    register(Subtitles)
    register(Text)
