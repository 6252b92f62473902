"""Audio: source.audio (formats, gain, fades, offsets, loop, errors), audio.mix and its limiter,
sync through editors, the encoded audio track's start and length, source.synth, the visualiser."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build, build_for_preview
from vfx.pipeline import load

from conftest import decode_audio, decode_frames, decode_index, index_color, run_vfx, write_pipeline

RATE = 48000
FRAME = RATE // 24  # samples per frame at 24 fps


def write_audio(path: Path, data: np.ndarray, rate: int = RATE, codec: str = "pcm_f32le") -> Path:
    """Write (channels, n) float samples with PyAV in the container the suffix names."""
    data = np.ascontiguousarray(np.atleast_2d(data), np.float32)
    layout = "mono" if data.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=rate)
        s.layout = layout
        fmt = s.codec_context.format.name if s.codec_context.format else "fltp"
        size = s.codec_context.frame_size or 1024
        pos = 0
        while pos < data.shape[1]:
            chunk = data[:, pos : pos + size]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=layout)
            frame.sample_rate = rate
            if fmt != "fltp":
                frame = av.AudioResampler(format=fmt, layout=layout, rate=rate).resample(frame)[0]
            frame.pts = pos
            for p in s.encode(frame):
                out.mux(p)
            pos += chunk.shape[1]
        for p in s.encode(None):
            out.mux(p)
    return path


def make_av_clip(
    path: Path, frames: int, clicks: list[int], size=(32, 32), audio_late: int = 0, video_late: int = 0
) -> Path:
    """FFV1 + PCM MKV: frame i coloured ``index_color(i)``, audio silent but for one-sample clicks.

    ``audio_late`` samples / ``video_late`` frames: how much later than time zero each stream starts."""
    audio = np.zeros((2, frames * FRAME), np.float32)
    for c in clicks:
        audio[:, c] = 0.8
    with av.open(str(path), "w") as out:
        v = out.add_stream("ffv1", rate=24)
        v.width, v.height = size
        v.pix_fmt = "yuv444p"
        v.codec_context.colorspace, v.codec_context.color_range = 1, 1  # converted with BT.709 below
        a = out.add_stream("pcm_s16le", rate=RATE)
        a.layout = "stereo"
        for i in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[:] = index_color(i)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv444p", dst_colorspace="ITU709")
            f.pts = i + video_late
            for p in v.encode(f):
                out.mux(p)
            chunk = (audio[:, i * FRAME : (i + 1) * FRAME] * 32767).round().astype(np.int16).T.reshape(1, -1)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="stereo")
            af.sample_rate = RATE
            af.pts = i * FRAME + audio_late
            for p in a.encode(af):
                out.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                out.mux(p)
    return path


def render_file(path, **opts):
    return render(build(load(path)), RenderOptions(device="cpu", **opts))


def node_of(path, node_id):
    graph = build_for_preview(load(path))
    return graph, graph.nodes[node_id]


AUDIO_ONLY = """
    [pipeline]
    width = 16
    height = 16
    fps = 24
    duration = "{duration}"
    [nodes.bg]
    type = "source.color"
    [nodes.a]
    type = "source.audio"
    path = "{file}"
    {options}
    {extra}
    [nodes.out]
    type = "encode.video"
    input = "bg"
    audio = "{audio}"
    codec = "ffv1"
    audio_codec = "pcm"
    path = "out.mkv"
"""


def render_audio_pipeline(tmp_path, file, options="", extra="", audio="a", duration="2s"):
    p = write_pipeline(
        tmp_path, AUDIO_ONLY.format(file=file, options=options, extra=extra, audio=audio, duration=duration)
    )
    render_file(p)
    return decode_audio(tmp_path / "out.mkv")


# ------------------------------------------------------------------------------ formats
@pytest.mark.parametrize(
    "name,codec,rate,channels,exact",
    [
        ("a.wav", "pcm_s16le", 44100, 1, False),
        ("a.flac", "flac", 48000, 2, True),
        ("a.mp3", "libmp3lame", 44100, 2, False),
        ("a.m4a", "aac", 48000, 2, False),
        ("a.ogg", "libopus", 48000, 1, False),
    ],
)
def test_formats_decode_at_the_pipeline_rate_and_layout(tmp_path, name, codec, rate, channels, exact):
    t = np.arange(int(1.5 * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * 441.0 * t)
    write_audio(tmp_path / name, np.repeat(wave[None], channels, 0), rate, codec)
    p = write_pipeline(
        tmp_path,
        f"""
        [pipeline]
        duration = "2s"
        [nodes.a]
        type = "source.audio"
        path = "{name}"
    """,
    )
    graph, node = node_of(p, "a")
    try:
        assert abs(node.audio.sample_count - int(1.5 * RATE)) <= (0 if exact else FRAME)
        got = node.audio_samples(0, node.audio.sample_count + 500).samples
    finally:
        graph.close()
    assert got.shape == (2, node.audio.sample_count + 500)  # stereo pipeline: mono is copied
    assert np.abs(got[:, -500:]).max() == 0  # silence past the end
    mid = got[0, RATE // 4 : RATE]
    assert np.abs(mid).max() == pytest.approx(0.5, abs=0.03)
    spec = np.abs(np.fft.rfft(mid * np.hanning(len(mid))))
    assert np.argmax(spec) * RATE / len(mid) == pytest.approx(441.0, abs=2.0)
    if exact:
        ref = 0.5 * np.sin(2 * np.pi * 441.0 * np.arange(len(got[0])) / RATE)
        n = int(1.5 * RATE)
        assert np.abs(got[0, :n] - ref[:n]).max() < 2e-4


# ------------------------------------------------------------------------------ gain, fades, offset, loop
def test_gain_and_fades_are_exact_in_the_encoded_file(tmp_path):
    write_audio(tmp_path / "dc.wav", np.full((2, 2 * RATE), 0.5))
    audio = render_audio_pipeline(tmp_path, "dc.wav", 'gain = -6.020599913\nfade_in = 12\nfade_out = "0.25s"')
    assert audio.shape[1] == 2 * RATE
    level = 0.25
    assert audio[0, 0] == pytest.approx(0.0, abs=1e-4)
    for n in (6000, 12000, 18000):  # linear over the first half second
        assert audio[0, n] == pytest.approx(level * n / 24000, abs=1e-4)
    assert np.allclose(audio[:, 24000:84000], level, atol=1e-4)
    end = 2 * RATE
    assert audio[1, end - 6000] == pytest.approx(level * 6000 / 12000, abs=1e-4)
    assert audio[1, end - 1] == pytest.approx(level / 12000, abs=1e-4)


def test_animated_gain_follows_its_keyframes(tmp_path):
    write_audio(tmp_path / "dc.wav", np.full((2, 2 * RATE), 0.5))
    audio = render_audio_pipeline(tmp_path, "dc.wav", "gain = { keyframes = [[0, 0.0], [24, -20.0]] }")
    assert audio[0, 0] == pytest.approx(0.5, abs=1e-4)
    assert audio[0, 12 * FRAME] == pytest.approx(0.5 * 10 ** (-0.5), abs=1e-4)  # -10 dB half way
    assert audio[0, 30 * FRAME] == pytest.approx(0.05, abs=1e-4)


def test_offset_in_point_and_loop(tmp_path):
    ramp = (np.arange(RATE // 2) / RATE).astype(np.float32)  # value = position in the file / 48000
    write_audio(tmp_path / "ramp.wav", np.stack([ramp, ramp]))
    audio = render_audio_pipeline(tmp_path, "ramp.wav", "offset = 6\nin_point = 3\nloop = true")
    start = 6 * FRAME
    assert np.abs(audio[:, :start]).max() == 0  # nothing before the offset
    span = RATE // 2 - 3 * FRAME  # one pass: in_point to the file's end
    pos = np.arange(audio.shape[1] - start)
    expected = (3 * FRAME + pos % span) / RATE
    assert np.abs(audio[0, start:] - expected).max() < 1e-4  # plays from in_point, wraps there
    assert audio.shape[1] == 2 * RATE


def test_a_clip_ends_with_its_file_without_loop(tmp_path):
    write_audio(tmp_path / "dc.wav", np.full((2, RATE // 2), 0.5))
    audio = render_audio_pipeline(tmp_path, "dc.wav", 'offset = "1s"')
    assert np.abs(audio[:, :RATE]).max() == 0
    assert np.allclose(audio[:, RATE : RATE + RATE // 2], 0.5, atol=1e-4)
    assert np.abs(audio[:, RATE + RATE // 2 :]).max() == 0
    assert audio.shape[1] == 2 * RATE  # the track is as long as the video


def test_bad_files_are_reported_together_naming_file_and_node_with_exit_2(tmp_path):
    import conftest

    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file")
    conftest.make_video(tmp_path / "silent.mp4", frames=6, audio_freq=None)
    p = write_pipeline(
        tmp_path,
        """
        [nodes.bg]
        type = "source.color"
        [nodes.missing]
        type = "source.audio"
        path = "nowhere.wav"
        [nodes.junk]
        type = "source.audio"
        path = "junk.wav"
        [nodes.silent]
        type = "source.audio"
        path = "silent.mp4"
        [nodes.m]
        type = "audio.mix"
        inputs = ["missing", "junk", "silent"]
        [nodes.out]
        type = "encode.video"
        input = "bg"
        audio = "m"
        path = "out.mkv"
    """,
    )
    res = run_vfx("render", p)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    for node, text in (("missing", "nowhere.wav"), ("junk", "junk.wav"), ("silent", "silent.mp4 has no audio stream")):
        assert any(f"'{node}'" in line and text in line for line in lines), (node, res.stderr)


# ------------------------------------------------------------------------------ mix and limiter
MIX = """
    [nodes.b]
    type = "source.audio"
    path = "{other}"
    [nodes.m]
    type = "audio.mix"
    inputs = {inputs}
    {options}
"""


def test_mix_sums_inputs_at_their_gains(tmp_path):
    write_audio(tmp_path / "a.wav", np.full((2, 2 * RATE), 0.2))
    write_audio(tmp_path / "b.wav", np.full((2, RATE), 0.4))
    audio = render_audio_pipeline(
        tmp_path,
        "a.wav",
        extra=MIX.format(other="b.wav", inputs='["a", { input = "b", gain = -6.020599913 }]', options="limit = false"),
        audio="m",
    )
    assert audio.shape[1] == 2 * RATE
    assert np.allclose(audio[:, :RATE], 0.4, atol=1e-4)  # 0.2 + 0.4 / 2
    assert np.allclose(audio[:, RATE:], 0.2, atol=1e-4)  # b has ended


def test_the_limiter_holds_the_ceiling_and_leaves_quiet_audio_alone(tmp_path):
    t = np.arange(2 * RATE) / RATE
    loud = 0.7 * np.sin(2 * np.pi * 100 * t) * (t >= 1.0)  # silence-ish, then loud
    quiet = 0.1 * np.sin(2 * np.pi * 300 * t)
    write_audio(tmp_path / "a.wav", np.stack([quiet, quiet]))
    write_audio(tmp_path / "b.wav", np.stack([loud, loud]))
    audio = render_audio_pipeline(
        tmp_path,
        "a.wav",
        extra=MIX.format(other="b.wav", inputs='["a", "b", "b"]', options="threshold = -6.0\nattack = 5\nrelease = 50"),
        audio="m",
    )
    ceiling = 10 ** (-6 / 20)
    assert np.abs(audio).max() <= ceiling + 1e-4  # 1.5 in, never past -6 dBFS
    assert np.abs(audio[:, RATE + 4800 :]).max() == pytest.approx(ceiling, abs=0.01)  # it is limited, not muted
    # before the loud part (minus the 5 ms look-ahead) the quiet input passes untouched
    ref = quiet[: RATE - 300]
    assert np.abs(audio[0, : RATE - 300] - ref).max() < 1e-4


def test_mix_of_chunks_equals_the_whole_and_video_audio_is_an_input(tmp_path):
    make_av_clip(tmp_path / "clip.mkv", 48, [30000])  # a video whose track has one click
    t = np.arange(2 * RATE) / RATE
    write_audio(tmp_path / "a.wav", np.stack([0.8 * np.sin(2 * np.pi * 90 * t)] * 2))
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        duration = "2s"
        [nodes.a]
        type = "source.audio"
        path = "a.wav"
        [nodes.v]
        type = "source.video"
        path = "clip.mkv"
        [nodes.m]
        type = "audio.mix"
        inputs = ["a", { input = "v", gain = -6.0 }]
        threshold = -3.0
    """,
    )
    graph, mix = node_of(p, "m")
    try:
        whole = mix.audio_samples(0, 2 * RATE).samples
        parts = np.concatenate([mix.audio_samples(s, 4000).samples for s in range(0, 2 * RATE, 4000)], axis=1)
        backwards = [mix.audio_samples(s, 4000).samples for s in range(2 * RATE - 4000, -1, -24000)]
    finally:
        graph.close()
    assert np.array_equal(whole, parts)
    assert np.array_equal(backwards[0], whole[:, 2 * RATE - 4000 :])
    assert np.abs(whole).max() <= 10 ** (-3 / 20) + 1e-6
    # the video's click shows in the mix, at its time (the 90 Hz sine is smooth: its steps are small)
    steps = np.abs(np.diff(whole[0]))
    assert int(np.argmax(steps)) in (29999, 30000) and steps.max() > 0.2


# ------------------------------------------------------------------------------ sync through editors
EDIT = """
    [pipeline]
    width = 32
    height = 32
    fps = 24
    [nodes.src]
    type = "source.video"
    path = "clicks.mkv"
    {nodes}
    [nodes.out]
    type = "encode.video"
    input = "edit"
    codec = "ffv1"
    audio_codec = "pcm"
    path = "out.mkv"
"""


def _clicks(audio):
    mono = np.abs(audio).max(0)
    return [int(i) for i in np.flatnonzero(mono > 0.2)]


C1, C2 = 15 * FRAME + 700, 40 * FRAME + 100  # the source's clicks (in source frames 15 and 40)


@pytest.mark.parametrize(
    "nodes,frames,expected",
    [
        # trim from frame 10: the click of source frame 15 lands at output frame 5; 40 is cut off
        ('[nodes.edit]\ntype = "editor.trim"\ninput = "src"\nstart = 10\nduration = 20', 20, [(C1 - 10 * FRAME, 15)]),
        # concat of the clip and a trim of it from frame 12: its clicks, then the trim's after 48 frames
        (
            '[nodes.t]\ntype = "editor.trim"\ninput = "src"\nstart = 12\n'
            '[nodes.edit]\ntype = "editor.concat"\ninputs = ["src", "t"]',
            84,
            [(C1, 15), (C2, 40), (36 * FRAME + C1, 15), (36 * FRAME + C2, 40)],
        ),
        # twice as fast: every sample position halves
        ('[nodes.edit]\ntype = "editor.speed"\ninput = "src"\nfactor = 2.0', 24, [(C1 // 2, 15), (C2 // 2, 40)]),
        # a crossfade of 8 frames (output frames 40-47) into a trim from frame 30: the outgoing click
        # at 40 (nearly full weight), and the incoming clip's click of source frame 40 at 40 + 10
        (
            '[nodes.t]\ntype = "editor.trim"\ninput = "src"\nstart = 30\n'
            '[nodes.edit]\ntype = "editor.crossfade"\ninputs = ["src", "t"]\nduration = 8',
            58,
            [(C1, 15), (C2, None), (C2 + 10 * FRAME, 40)],
        ),
    ],
)
def test_a_click_lands_where_its_frame_lands(tmp_path, nodes, frames, expected):
    make_av_clip(tmp_path / "clicks.mkv", 48, [C1, C2])
    p = write_pipeline(tmp_path, EDIT.format(nodes=nodes))
    render_file(p)
    audio = decode_audio(tmp_path / "out.mkv")
    video = decode_frames(tmp_path / "out.mkv")
    assert len(video) == frames and abs(audio.shape[1] - frames * FRAME) < FRAME
    found = _clicks(audio)
    clusters = [c for k, c in enumerate(found) if k == 0 or c - found[k - 1] > 10]
    assert len(clusters) == len(expected)
    for got, (want, source_frame) in zip(clusters, expected):
        assert abs(got - want) <= FRAME
        if source_frame is not None:  # the frame on screen with the click is the one it was recorded with
            assert abs(decode_index(video[got // FRAME]) - source_frame) <= 1


@pytest.mark.parametrize("audio_late,video_late,trim", [(12000, 0, 0), (12000, 0, 14), (0, 6, 0), (0, 6, 14)])
def test_a_video_files_audio_keeps_its_offset_from_the_picture(tmp_path, audio_late, video_late, trim):
    """Sound that starts after the picture (or a picture that starts after the sound) stays in
    sync: the output's audio is read against the video stream's start, also after a seek."""
    make_av_clip(tmp_path / "clicks.mkv", 48, [C1, C2], audio_late=audio_late, video_late=video_late)
    nodes = f'[nodes.edit]\ntype = "editor.trim"\ninput = "src"\nstart = {trim}\nduration = 30'
    render_file(write_pipeline(tmp_path, EDIT.format(nodes=nodes)))
    audio = decode_audio(tmp_path / "out.mkv")
    assert abs(audio.shape[1] - 30 * FRAME) < FRAME
    shift = audio_late - video_late * FRAME - trim * FRAME
    want = [c + shift for c in (C1, C2) if 0 <= c + shift < 30 * FRAME]
    found = _clicks(audio)
    assert want and [c for k, c in enumerate(found) if k == 0 or c - found[k - 1] > 10] == want
    if audio_late > trim * FRAME:  # silence where the file has no sound yet
        assert audio[:, : audio_late - trim * FRAME - 50].any() == 0


# ------------------------------------------------------------------------------ the encoded track
@pytest.mark.parametrize(
    "path,codec,frames",
    [("o.mp4", "aac", None), ("o.mkv", "pcm", None), ("o.mov", "pcm", (10, 30)), ("o.mp4", "aac", (7, 40))],
)
def test_audio_track_starts_at_zero_and_lasts_as_long_as_the_video(tmp_path, path, codec, frames):
    p = write_pipeline(
        tmp_path,
        f"""
        [pipeline]
        width = 32
        height = 32
        fps = 24
        duration = 48
        [nodes.music]
        type = "source.synth"
        duration = 60
        [nodes.bg]
        type = "source.color"
        [nodes.out]
        type = "encode.video"
        input = "bg"
        audio = "music"
        audio_codec = "{codec}"
        path = "{path}"
    """,
    )
    render_file(p, frames=frames)
    n = 48 if frames is None else frames[1] - frames[0]
    with av.open(str(tmp_path / path)) as c:
        a, v = c.streams.audio[0], c.streams.video[0]
        first_pts = next(iter(c.decode(audio=0))).pts
        assert (a.start_time or 0) * a.time_base == 0 and first_pts == 0
        assert (v.start_time or 0) == 0
        if a.duration:
            assert abs(float(a.duration * a.time_base) - n / 24) <= 1 / 24
    audio = decode_audio(tmp_path / path)
    assert abs(audio.shape[1] - n * FRAME) <= FRAME
    assert len(decode_frames(tmp_path / path)) == n


# ------------------------------------------------------------------------------ synth and visualiser
def test_synth_is_deterministic_in_any_order_and_hits_its_beats(tmp_path):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        duration = "3s"
        seed = 5
        [nodes.s]
        type = "source.synth"
        bpm = 100
        snare = "................"
        hat = "................"
        bass = "................"
        pad_level = -96
    """,
    )
    graph, synth = node_of(p, "s")
    n = synth.audio.sample_count
    whole = synth.audio_samples(0, n).samples
    pieces = [synth.audio_samples(s, 7000).samples for s in reversed(range(0, n, 7000))][::-1]
    assert np.array_equal(np.concatenate(pieces, axis=1)[:, :n], whole)
    assert np.abs(whole).max() < 1.0
    beat = 60 / 100 * RATE
    env = np.abs(whole[0])
    for k in range(5):  # a kick at every beat: loud right after, quiet before
        at = int(round(k * beat))
        assert env[at : at + 2000].max() > 0.2
        if k:
            assert env[at - 3000 : at - 100].max() < 0.5 * env[at : at + 2000].max()


def test_visualizer_bars_and_waveform(tmp_path):
    t = np.arange(RATE) / RATE
    write_audio(tmp_path / "tone.wav", np.stack([0.5 * np.sin(2 * np.pi * 1500 * t)] * 2))
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 32
        duration = 24
        [nodes.a]
        type = "source.audio"
        path = "tone.wav"
        [nodes.bars]
        type = "source.audio_visualizer"
        input = "a"
        bars = 8
        gap = 0.0
        fmin = 100
        fmax = 10000
        smoothing = 0
        color = "white"
        [nodes.wave]
        type = "source.audio_visualizer"
        input = "a"
        mode = "waveform"
        color = "#ff0000"
    """,
    )
    graph = build_for_preview(load(p))
    try:
        bars = graph.nodes["bars"].frames([12]).pixels[0].numpy()  # (4, H, W)
        wave = graph.nodes["wave"].frames([12]).pixels[0].numpy()
    finally:
        graph.close()
    heights = (bars[3] > 0.5).sum(axis=0)  # per column
    bar_of_1k = int(np.log(1500 / 100) / np.log(100) * 8)  # log-spaced: bar 4 of 8
    per_bar = heights.reshape(8, 8).max(axis=1)
    assert per_bar.argmax() == bar_of_1k and per_bar[bar_of_1k] > 26
    assert bars[3, 0, 0] == 0  # transparent background
    # the waveform of a 0.5 sine spans the middle half of the height, in red
    rows = np.flatnonzero(wave[3].max(axis=1) > 0.5)
    assert 6 <= rows.min() <= 9 and 22 <= rows.max() <= 25
    assert wave[0].max() > 0.9 and wave[1].max() == 0


def test_audio_reader_steps_back_without_seeking(tmp_path):
    """Mixes with a limiter and analysis windows read a little before where the last read ended:
    the reader keeps the last second instead of reopening the file, and reads what a fresh seek reads."""
    from vfx.media.decode import AudioReader

    t = np.arange(RATE * 6) / RATE
    path = write_audio(tmp_path / "tone.wav", np.stack([np.sin(2 * np.pi * 220 * t), np.cos(2 * np.pi * 330 * t)]))
    reader, fresh = AudioReader(path, RATE, 2), AudioReader(path, RATE, 2)
    seeks = []
    seek = reader._seek
    reader._seek = lambda start: seeks.append(start) or seek(start)
    for b in range(1, 10):
        start = b * RATE // 2 - RATE // 20  # 50 ms before the previous read ended
        got = reader.read(start, RATE // 2 + RATE // 10)
        fresh._seek(start)
        assert np.array_equal(got, fresh.read(start, RATE // 2 + RATE // 10)), b
    assert len(seeks) == 1
