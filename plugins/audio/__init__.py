"""Audio nodes: audio files, a mixer with a look-ahead limiter, audio analysis as drivers and
events, an audio visualiser and a drum machine with bass and pad (``synth.py``)."""

from __future__ import annotations

import vfx

from .audio import AudioSignal, AudioSource, AudioVisualizer, Mix


@vfx.hookimpl
def register_nodes(register):
    """Register the audio node types."""
    from .synth import Synth

    for cls in (AudioSource, Mix, AudioSignal, AudioVisualizer, Synth):
        register(cls)
