"""The timeline's sound: a waveform of the audio the first encoder muxes, and the frames where
drivers fire events (beats, onsets) for the options they drive."""

from __future__ import annotations

import numpy as np

from ..frames import samples_at

#: signals that are events (a value above one half at the frames where they fire)
EVENT_SIGNALS = ("beat", "onset", "gate")
#: seconds of audio rendered at a time for the waveform
CHUNK_SECONDS = 10


def waveform(graph) -> list[float] | None:
    """The peak (0-1, every channel) of each video frame of the first encoder's audio, or None."""
    if not graph.encoders:
        return None
    enc = graph.encoders[0]
    node = enc.audio_source()
    if node is None or enc.video is None:
        return None
    fps = enc.video.fps
    rate = graph.spec.settings.sample_rate
    total = enc.video.frame_count
    step = max(1, int(CHUNK_SECONDS * fps))
    peaks: list[float] = []
    for first in range(0, total, step):
        last = min(total, first + step)
        a0, a1 = samples_at(first, fps, rate), samples_at(last, fps, rate)
        samples = np.abs(node.audio_samples(a0, a1 - a0).samples)
        peak = samples.max(axis=0) if samples.size else np.zeros(a1 - a0, np.float32)
        for f in range(first, last):
            s0, s1 = samples_at(f, fps, rate) - a0, samples_at(f + 1, fps, rate) - a0
            part = peak[s0:s1]
            peaks.append(round(min(1.0, float(part.max())), 3) if part.size else 0.0)
    return peaks


def events(graph, total: int) -> list[dict]:
    """``[{"node", "option", "driver", "signal", "frames"}]``: where each event driver fires."""
    from ..options import Animated
    from ..params import Driver

    found: list[dict] = []
    fired: dict[tuple[str, str], list[int]] = {}
    for node_id in graph.order:
        opts = graph.nodes[node_id]._options
        for name in type(opts).fields():
            value = getattr(opts, name, None)
            if not (isinstance(value, Animated) and isinstance(value.animation, Driver)):
                continue
            d = value.animation
            if d.signal not in EVENT_SIGNALS or d.node is None:
                continue
            key = (d.node_id, d.signal)
            if key not in fired:
                values = np.asarray(d.node.signal(d.signal, list(range(total))), np.float64)
                fired[key] = [int(i) for i in np.flatnonzero(values > 0.5)]
            found.append(
                {"node": node_id, "option": name, "driver": d.node_id, "signal": d.signal, "frames": fired[key]}
            )
    return found


def describe(graph, total: int) -> dict:
    """The waveform and the events, with the nodes opened for the time it takes."""
    for node in graph.nodes.values():
        node.open()
    try:
        return {"frames": total, "waveform": waveform(graph), "events": events(graph, total)}
    finally:
        graph.close()
