"""Rendered outputs decoded and checked: counts, sizes, fps, audio, frame-exact edits, ranges."""

from __future__ import annotations

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_audio, decode_frames, decode_index, make_video, run_vfx, stream_info, write_pipeline


def render_file(path, overrides=None, **opts):
    graph = build(load(path, overrides))
    return render(graph, RenderOptions(device="cpu", **opts))


def test_transcode_keeps_frames_size_fps_and_audio(tmp_path, clip):
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        fps = 24
        [nodes.src]
        type = "source.video"
        path = "clip.mp4"
        [nodes.out]
        type = "encode.video"
        input = "src"
        path = "out/t.mp4"
        crf = 12
        preset = "ultrafast"
    """,
    )
    res = run_vfx("render", p, "--quiet")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out" / "t.mp4"
    info = stream_info(out)
    assert (info["frames"], info["width"], info["height"], info["fps"]) == (48, 128, 72, 24)
    assert info["audio_codec"] == "aac" and info["sample_rate"] == 48000
    audio = decode_audio(out)
    assert abs(audio.shape[1] / 48000 - 2.0) <= 1 / 24
    assert [decode_index(f) for f in decode_frames(out)] == list(range(48))
    assert np.abs(audio[:, 4800:48000]).max() == pytest.approx(0.3, abs=0.03)


@pytest.mark.parametrize("source", ["clip.mp4", "clip.mkv"])
def test_trim_is_frame_exact(tmp_path, source):
    if source.endswith("mkv"):
        make_video(tmp_path / source, codec="ffv1", pix_fmt="yuv444p", gop=None)
    else:
        make_video(tmp_path / source)
    p = write_pipeline(
        tmp_path,
        f"""
        [nodes.src]
        type = "source.video"
        path = "{source}"
        [nodes.cut]
        type = "editor.trim"
        input = "src"
        start = 17
        duration = "0.5s"
        [nodes.out]
        type = "encode.video"
        input = "cut"
        codec = "ffv1"
        path = "cut.mkv"
    """,
    )
    render_file(p)
    frames = decode_frames(tmp_path / "cut.mkv")
    assert [decode_index(f) for f in frames] == list(range(17, 29))
    audio = decode_audio(tmp_path / "cut.mkv")
    assert abs(audio.shape[1] - 12 / 24 * 48000) <= 48000 / 24
    # the audio is the source's audio from 17/24 s on, sample-aligned (a 440 Hz sine: any offset shows)
    source = decode_audio(tmp_path / source)[0, 34000 : 34000 + 20000]
    got = audio[0, :20000]
    assert np.corrcoef(source, got)[0, 1] > 0.98


NOISE = """
    [pipeline]
    width = 96
    height = 64
    duration = 30
    seed = {seed}
    [nodes.noise]
    type = "source.testpattern"
    pattern = "noise"
    [nodes.bars]
    type = "source.testpattern"
    pattern = "bars"
    size = [48, 32]
    [nodes.comp]
    type = "editor.composite"
    layers = ["noise", {{ input = "bars", position = [20, 10], opacity = 0.6, blend = "screen" }}]
    [nodes.out]
    type = "encode.video"
    input = "comp"
    codec = "ffv1"
    path = "{name}.mkv"
"""


def test_range_render_equals_whole_render_and_seed_matters(tmp_path):
    whole = write_pipeline(tmp_path, NOISE.format(seed=7, name="whole"), "whole.toml")
    part = write_pipeline(tmp_path, NOISE.format(seed=7, name="part"), "part.toml")
    other = write_pipeline(tmp_path, NOISE.format(seed=8, name="other"), "other.toml")
    render_file(whole, batch_size=4)
    assert run_vfx("render", part, "--frames", "13-22", "--batch-size", "3", "--quiet").returncode == 0
    render_file(other)
    a = decode_frames(tmp_path / "whole.mkv")
    b = decode_frames(tmp_path / "part.mkv")
    c = decode_frames(tmp_path / "other.mkv")
    assert len(a) == 30 and len(b) == 10
    for k in range(10):
        assert np.array_equal(a[13 + k], b[k])
    assert not np.array_equal(a[5], c[5])
    assert not np.array_equal(a[5], a[6])


def test_range_of_a_seeking_video_render(tmp_path, clip):
    p = write_pipeline(
        tmp_path,
        """
        [nodes.src]
        type = "source.video"
        path = "clip.mp4"
        [nodes.slow]
        type = "editor.speed"
        input = "src"
        factor = 0.5
        [nodes.out]
        type = "encode.video"
        input = "slow"
        codec = "ffv1"
        path = "${name}.mkv"
    """,
    )
    render_file(p, ["name=whole"])
    render_file(p, ["name=part"], frames=(61, 80))
    a = decode_frames(tmp_path / "whole.mkv")
    b = decode_frames(tmp_path / "part.mkv")
    assert len(a) == 96 and len(b) == 19
    assert [decode_index(f) for f in a[:6]] == [0, 0, 1, 1, 2, 2]
    for k in range(19):
        assert np.array_equal(a[61 + k], b[k])


def test_concat_crossfade_resize(tmp_path, clip):
    make_video(tmp_path / "small.mp4", frames=24, size=(64, 36), audio_freq=None)
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 128
        height = 72
        [nodes.a]
        type = "source.video"
        path = "clip.mp4"
        [nodes.b]
        type = "source.video"
        path = "small.mp4"
        [nodes.big]
        type = "editor.resize"
        input = "b"
        mode = "stretch"
        [nodes.joined]
        type = "editor.concat"
        inputs = ["a", "big"]
        [nodes.black]
        type = "source.color"
        color = "black"
        duration = 12
        [nodes.fade]
        type = "editor.crossfade"
        inputs = ["black", "joined"]
        duration = 12
        [nodes.out]
        type = "encode.video"
        input = "fade"
        audio = "joined"
        codec = "ffv1"
        path = "o.mkv"
    """,
    )
    render_file(p)
    frames = decode_frames(tmp_path / "o.mkv")
    assert len(frames) == 72
    assert frames[0].shape == (72, 128, 3)
    # fade-in from black: brightness rises monotonically over the first 12 frames
    means = [f.astype(float).mean() for f in frames[:13]]
    assert all(x < y for x, y in zip(means, means[1:]))
    assert [decode_index(f) for f in frames[12:48]] == list(range(12, 48))
    assert [decode_index(f) for f in frames[48:]] == list(range(24))
    audio = decode_audio(tmp_path / "o.mkv")
    assert abs(audio.shape[1] - 3 * 48000) <= 2000
    # the second clip has no audio: silence after the first clip's 2 s
    assert np.abs(audio[:, int(2.05 * 48000) :]).max() < 1e-3
    assert np.abs(audio[:, int(1.0 * 48000) : int(1.9 * 48000)]).max() > 0.2


def _envelope(audio, rate=48000, hop=480):
    mono = np.abs(audio).mean(0)
    n = len(mono) // hop
    return mono[: n * hop].reshape(n, hop).max(1) > 0.05


BEEP = """
    [pipeline]
    width = 32
    height = 32
    duration = "4s"
    [nodes.tone]
    type = "source.testpattern"
    tone = 1000
    tone_level = -6
    beep = true
    [nodes.edit]
    {edit}
    [nodes.out]
    type = "encode.video"
    input = "edit"
    codec = "ffv1"
    audio_codec = "pcm"
    path = "{name}.mkv"
"""


@pytest.mark.parametrize(
    "name,edit,expected_onsets,length",
    [
        ("trim", 'type = "editor.trim"\ninput = "tone"\nstart = "0.5s"', [0.5, 1.5, 2.5], 3.5),
        ("speed", 'type = "editor.speed"\ninput = "tone"\nfactor = 2.0', [0.0, 0.5, 1.0, 1.5], 2.0),
        ("concat", 'type = "editor.concat"\ninputs = ["tone", "tone"]', [0, 1, 2, 3, 4, 5, 6, 7], 8.0),
    ],
)
def test_audio_stays_in_sync_through_editors(tmp_path, name, edit, expected_onsets, length):
    p = write_pipeline(tmp_path, BEEP.format(edit=edit, name=name))
    render_file(p)
    out = tmp_path / f"{name}.mkv"
    audio = decode_audio(out)
    assert abs(audio.shape[1] / 48000 - length) <= 1 / 24
    env = _envelope(audio)
    onsets = [i / 100 for i in range(1, len(env)) if env[i] and not env[i - 1]] + ([0.0] if env[0] else [])
    assert sorted(onsets) == pytest.approx(sorted(expected_onsets), abs=1 / 24)
    assert stream_info(out)["frames"] == round(length * 24)


@pytest.mark.parametrize(
    "audio",
    [
        "",
        '[nodes.music]\ntype = "source.synth"',
        '[nodes.music]\ntype = "source.audio"\npath = "in.mp4"\ngain = -6.0',
    ],
)
def test_a_transcode_with_trim_never_imports_torch(tmp_path, audio):
    """Decoded frames pass through trim and concat to the encoder without becoming pixels, and
    audio made or read on the side (synth, an audio file) needs no torch either."""
    import subprocess
    import sys
    from conftest import make_video, write_pipeline

    make_video(tmp_path / "in.mp4", frames=24)
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 128
        height = 72
        fps = 24
        [nodes.clip]
        type = "source.video"
        path = "in.mp4"
        [nodes.cut]
        type = "editor.trim"
        input = "clip"
        start = 4
        [nodes.out]
        type = "encode.video"
        input = "cut"
        path = "out.mp4"
        """
        + ('audio = "music"\n' + audio if audio else ""),
    )
    code = (
        "import sys; from vfx.pipeline import load; from vfx.graph import build; from vfx.engine import render; "
        f"render(build(load({str(p)!r}))); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert (tmp_path / "out.mp4").exists()


def test_loading_the_built_in_plugins_never_imports_torch():
    """`vfx nodes`, `vfx validate` and a plain transcode load every plugin: none may pull in torch
    (about a second) at import time; a node imports it when it first renders pixels."""
    import subprocess
    import sys

    code = (
        "import sys; from vfx.plugins import get_registry; r = get_registry(); "
        "assert len(r.nodes) > 30; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("when", ["before the first batch", "after the first batch"])
def test_a_cancelled_render_leaves_no_output(tmp_path, when):
    """A cancel the producer sees first (it stops making frames) must not finish a short file."""
    import threading

    from vfx.errors import RenderError

    path = write_pipeline(tmp_path, NOISE.format(seed=7, name="cancelled"), "p.toml")
    cancel = threading.Event()
    if when == "before the first batch":
        cancel.set()

    def progress(node, done, total):
        cancel.set()

    graph = build(load(path))
    with pytest.raises(RenderError, match="cancelled"):
        render(graph, RenderOptions(device="cpu", batch_size=2), progress=progress, cancel=cancel)
    assert not (tmp_path / "cancelled.mkv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["p.toml"]  # no partial left behind either
