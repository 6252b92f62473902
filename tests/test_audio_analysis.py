"""signal.audio: onsets, tempo and beats of click tracks, levels as drivers, events that trigger
lightning and explosions, random access; and the limiter's block-exactness (plugins/audio/audio_dsp.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vfx.graph import build_for_preview
from vfx.pipeline import load
from vfx_plugins.audio import audio_dsp

from conftest import write_pipeline
from test_audio import RATE, write_audio


def click_track(times, seconds, rate=RATE, noise=0.002, seed=0):
    """Short 2 kHz clicks (decaying over ~1 ms) at ``times``, over faint noise."""
    x = np.random.default_rng(seed).standard_normal(int(seconds * rate)) * noise
    n = np.arange(480)
    click = 0.8 * np.exp(-n / 60) * np.sin(2 * np.pi * 2000 * n / rate)
    for t in times:
        i = int(round(t * rate))
        x[i : i + 480] += click[: len(x) - i]
    return x.astype(np.float32)


def graph_with(tmp_path, wav_data, signal_options="", extra="", duration="6s"):
    write_audio(tmp_path / "music.wav", np.stack([wav_data, wav_data]))
    p = write_pipeline(
        tmp_path,
        f"""
        [pipeline]
        width = 64
        height = 36
        fps = 24
        duration = "{duration}"
        seed = 2
        [nodes.music]
        type = "source.audio"
        path = "music.wav"
        [nodes.m]
        type = "signal.audio"
        input = "music"
        {signal_options}
        {extra}
    """,
    )
    return build_for_preview(load(p))


BEATS = np.arange(0.5, 5.9, 0.5)  # 120 BPM from 0.5 s


def test_onsets_beats_and_tempo_of_a_click_track(tmp_path):
    # clicks on the beat, plus off-beat clicks that are onsets but not beats
    offbeats = [1.26, 2.77, 4.3]
    graph = graph_with(tmp_path, click_track(list(BEATS) + offbeats, 6.0))
    m = graph.nodes["m"]
    onsets = m.event_frames("onset")
    expected = sorted(round(t * 24) for t in list(BEATS) + offbeats)
    assert len(onsets) == len(expected)
    assert all(abs(a - b) <= 1 for a, b in zip(onsets, expected))
    beats = m.event_frames("beat")
    on_beat = [round(t * 24) for t in BEATS]
    assert len(beats) >= len(on_beat) - 1
    assert all(min(abs(b - e) for e in on_beat) <= 1 for b in beats)  # every beat on a beat click
    assert m.signal("tempo", [0])[0] == pytest.approx(120, rel=0.02)
    # beat_phase is 0 on a beat frame and rises to the next
    phase = m.signal("beat_phase", list(range(beats[1], beats[2] + 1)))
    assert phase[0] == pytest.approx(0, abs=0.05) and np.all(np.diff(phase[:-1]) > 0)


def test_a_given_tempo_and_an_unsteady_track(tmp_path):
    # a 100 BPM track whose clicks wobble by up to 20 ms: the beats still follow the clicks
    rng = np.random.default_rng(4)
    times = np.arange(0.3, 5.8, 0.6) + rng.uniform(-0.02, 0.02, size=len(np.arange(0.3, 5.8, 0.6)))
    graph = graph_with(tmp_path, click_track(times, 6.0), "bpm = 100")
    m = graph.nodes["m"]
    assert m.signal("tempo", [5])[0] == 100
    beats = m.event_frames("beat")
    assert len(beats) >= len(times) - 1
    assert all(min(abs(b - t * 24) for t in times) <= 1 for b in beats)


def level_track():
    """Silence for 1 s, a 0.5 sine at 100 Hz for 1 s, then a 0.5 sine at 5 kHz for 1 s."""
    t = np.arange(3 * RATE) / RATE
    x = np.zeros_like(t)
    x[RATE : 2 * RATE] = 0.5 * np.sin(2 * np.pi * 100 * t[RATE : 2 * RATE])
    x[2 * RATE :] = 0.5 * np.sin(2 * np.pi * 5000 * t[2 * RATE :])
    return x.astype(np.float32)


def test_levels_drive_an_option_at_known_frames(tmp_path):
    graph = graph_with(
        tmp_path,
        level_track(),
        "min = 10.0\nmax = 20.0\nattack = 0.0\nrelease = 0.0",
        extra="""
        [nodes.bg]
        type = "source.color"
        duration = "3s"
        [nodes.glow]
        type = "effect.glow"
        input = "bg"
        intensity = { driver = "m", signal = "rms", scale = 0.1 }
        radius = { driver = "m", signal = "high", scale = 2.0, offset = -15.0 }
    """,
        duration="3s",
    )
    glow = graph.nodes["glow"]
    m = graph.nodes["m"]
    assert glow.values("intensity", [12, 36, 60]).tolist() == pytest.approx([1.0, 2.0, 2.0], abs=0.01)
    assert glow.values("radius", [12, 36, 60]).tolist() == pytest.approx([5.0, 5.0, 25.0], abs=0.05)
    low = m.signal("low", [12, 36, 60])
    assert low.tolist() == pytest.approx([10.0, 20.0, 10.0], abs=0.05)
    # frames past the track read as silence (min)
    assert m.signal("rms", [500]).tolist() == [10.0]


def test_unnormalised_rms_and_smoothing(tmp_path):
    graph = graph_with(tmp_path, level_track(), "normalize = false\nattack = 0.0\nrelease = 0.5", duration="3s")
    m = graph.nodes["m"]
    assert m.signal("rms", [36])[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)  # RMS of a 0.5 sine
    # the release: the level falls from 0.35 as exp(-t / 0.5 s); the 5 kHz tone keeps it up here,
    # so read the high band's rise instead, which follows the attack (0: immediate)
    assert m.signal("high", [49])[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    graph2 = graph_with(tmp_path, level_track(), "normalize = false\nattack = 0.0\nrelease = 0.5", duration="3s")
    low = graph2.nodes["m"].signal("low", [48, 60])  # 100 Hz ends at frame 48
    assert low[1] / low[0] == pytest.approx(np.exp(-0.5 / 0.5), rel=0.1)


def test_analysis_is_the_same_in_any_order_and_in_another_graph(tmp_path):
    data = click_track(list(BEATS), 6.0)
    g1 = graph_with(tmp_path, data)
    frames = list(range(144))
    names = ("rms", "low", "onset_strength", "pulse", "onset", "beat", "beat_phase")
    backwards = {n: g1.nodes["m"].signal(n, frames[::-1])[::-1] for n in names}
    g2 = graph_with(tmp_path, data)
    for n in names:
        pieces = np.concatenate([g2.nodes["m"].signal(n, frames[k : k + 5]) for k in range(0, 144, 5)])
        assert np.array_equal(backwards[n], pieces), n


def test_gate_fires_when_a_level_crosses_its_threshold(tmp_path):
    graph = graph_with(tmp_path, level_track(), 'gate_signal = "high"\ngate_level = 0.5\nattack = 0.0', duration="3s")
    assert graph.nodes["m"].event_frames("gate") == [48]


STRIKE = """
    [nodes.plate]
    type = "source.color"
    color = "black"
    [nodes.fx]
    type = "{kind}"
    input = "plate"
    trigger = {{ driver = "m", signal = "beat" }}
    {options}
"""


@pytest.mark.parametrize(
    "kind,options",
    [
        ("effect.lightning", "duration = 3\nflash = 0.0"),
        ("effect.explosion", "count = 400\nshake = 0.0\nshockwave = 0.0"),
    ],
)
def test_a_strike_starts_on_a_beat_frame_and_not_before(tmp_path, kind, options):
    graph = graph_with(
        tmp_path,
        click_track([1.0, 2.0, 3.0, 4.0], 5.0),
        "bpm = 60",
        extra=STRIKE.format(kind=kind, options=options),
        duration="5s",
    )
    beats = graph.nodes["m"].event_frames("beat")
    assert beats[:2] == [24, 48]
    fx = graph.nodes["fx"]

    def lit(frames):
        return [float(fx.frames([f]).pixels[0, :3].max()) > 0.02 for f in frames]

    assert lit([0, 10, 22, 23]) == [False] * 4
    assert lit([24, 25]) == [True, True]
    # a frame renders the same alone as inside a batch that reaches back past the beat
    alone = fx.frames([26]).pixels[0]
    batch = fx.frames([23, 24, 25, 26]).pixels[3]
    assert np.array_equal(alone.numpy(), batch.numpy())


def test_explosion_bursts_on_each_event_each_with_its_own_particles(tmp_path):
    graph = graph_with(
        tmp_path,
        click_track([0.5, 2.5], 4.0),
        "bpm = 30",
        extra=STRIKE.format(kind="effect.explosion", options="count = 400\nshake = 0.0"),
        duration="4s",
    )
    assert graph.nodes["m"].event_frames("beat") == [12, 60]
    fx = graph.nodes["fx"]
    first = fx.frames([12 + 3]).pixels[0].numpy()
    second = fx.frames([60 + 3]).pixels[0].numpy()
    assert first.max() > 0.02 and second.max() > 0.02
    assert not np.array_equal(first, second)  # a new seed per burst
    assert fx.frames([11]).pixels[0, :3].max() == 0  # no burst at 0 without "at"


def test_limiter_blocks_equal_the_whole_and_hold_the_ceiling():
    rng = np.random.default_rng(0)
    peak = np.abs(rng.standard_normal(30000)) * 0.6
    a, r = 240, 4800
    whole = audio_dsp.limiter_gain(peak, 0.7, a, r)
    assert np.all(whole * peak <= 0.7 * (1 + 1e-12)) and whole.max() <= 1.0
    for start, count in ((9000, 4000), (0, 500), (25000, 5000)):
        lo = start - r
        ext = np.concatenate([np.zeros(max(0, -lo)), peak[max(lo, 0) : start + count + a]])
        ext = np.pad(ext, (0, count + r + a - len(ext)))
        part = audio_dsp.limiter_gain(ext, 0.7, a, r, origin=lo)[r : r + count]
        assert np.array_equal(part, whole[start : start + count])
    # quiet input: gain exactly 1
    assert np.all(audio_dsp.limiter_gain(np.full(1000, 0.5), 0.7, a, r) == 1.0)


def test_synth_beats_are_found_at_its_tempo(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        duration = "6s"
        [nodes.music]
        type = "source.synth"
        bpm = 120
        [nodes.m]
        type = "signal.audio"
        input = "music"
    """,
    )
    m = build_for_preview(load(p)).nodes["m"]
    assert m.signal("tempo", [0])[0] == pytest.approx(120, rel=0.02)
    beats = m.event_frames("beat")
    assert len(beats) >= 10 and all(abs(b - 12 * round(b / 12)) <= 1 for b in beats)


def test_a_short_track_keeps_its_tempo_and_signals_go_on_past_its_end(tmp_path):
    # 2 s of synth: twice the 60 BPM lag does not fit in the track, so no octave error
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        duration = 96
        [nodes.music]
        type = "source.synth"
        bpm = 120
        duration = 48
        [nodes.m]
        type = "signal.audio"
        input = "music"
    """,
    )
    m = build_for_preview(load(p)).nodes["m"]
    assert m.signal("tempo", [0])[0] == pytest.approx(120, rel=0.02)
    assert m.event_frames("beat") == [0, 12, 24, 36]
    # past the audio (frames 48..95) the tempo holds and the beat phase runs on with the period
    assert np.all(m.signal("tempo", [47, 60, 95]) == m.signal("tempo", [0])[0])
    assert m.signal("beat_phase", [42, 54, 66, 90]) == pytest.approx([0.5] * 4, abs=0.05)
