"""Every codec and both backends write files that decode to the right frames, sizes and audio."""

from __future__ import annotations

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.pipeline import load

from conftest import decode_audio, decode_frames, run_vfx, stream_info, write_pipeline

PIPE = """
    [pipeline]
    width = 96
    height = 64
    duration = 12
    [nodes.bars]
    type = "source.testpattern"
    pattern = "gradient"
    tone = 440
    [nodes.logo]
    type = "source.color"
    color = "#ff000080"
    size = [32, 32]
    [nodes.comp]
    type = "editor.composite"
    layers = [{{ input = "logo", position = [10, 10] }}]
    [nodes.pick]
    type = "editor.trim"
    input = "{input}"
    [nodes.out]
    type = "encode.video"
    input = "pick"
    audio = "bars"
    path = "{path}"
    codec = "{codec}"
    {extra}
"""


@pytest.mark.parametrize(
    "codec,path,extra,pix_fmt,alpha",
    [
        ("h264", "o.mp4", "crf = 18", "yuv420p", False),
        ("h265", "o.mp4", 'crf = 28\npreset = "ultrafast"', "yuv420p", False),
        ("prores", "o.mov", "", "yuv422p10le", False),
        ("prores", "a.mov", "", "yuva444p12le", True),
        ("vp9", "o.webm", 'crf = 40\npreset = "realtime"\naudio_codec = "none"', "yuv420p", False),
        ("ffv1", "o.mkv", 'audio_codec = "pcm"', "bgr0", False),
        ("ffv1", "a.mkv", 'audio_codec = "pcm"', "bgra", True),
    ],
)
def test_codecs(tmp_path, codec, path, extra, pix_fmt, alpha):
    p = write_pipeline(tmp_path, PIPE.format(input="comp" if alpha else "bars", path=path, codec=codec, extra=extra))
    render(build(load(p)), RenderOptions(device="cpu"))
    info = stream_info(tmp_path / path)
    assert (info["frames"], info["width"], info["height"]) == (12, 96, 64)
    assert info["pix_fmt"] == pix_fmt  # as the decoder reports it (ProRes 4444 decodes to 12 bits)
    if "none" not in extra:
        assert abs(decode_audio(tmp_path / path).shape[1] - 24000) <= 2048
    if alpha:
        rgba = decode_frames(tmp_path / path, fmt="rgba")[0]
        assert abs(int(rgba[20, 20, 3]) - 128) <= 2 and rgba[50, 80, 3] == 0
        assert rgba[20, 20, 0] > 240 and rgba[20, 20, 1] < 15


def test_png_sequence_8_and_16_bit(tmp_path):
    for bits in ("8", "16"):
        p = write_pipeline(
            tmp_path,
            PIPE.format(input="comp", path="x.mp4", codec="h264", extra="")
            .replace('type = "encode.video"', 'type = "encode.image_sequence"')
            .replace('path = "x.mp4"', f'path = "seq{bits}/f_%04d.png"\nbits = "{bits}"')
            .replace('audio = "bars"\n', "")
            .replace('codec = "h264"\n', ""),
        )
        render(build(load(p)), RenderOptions(device="cpu"))
        files = sorted((tmp_path / f"seq{bits}").iterdir())
        assert [f.name for f in files] == [f"f_{i:04d}.png" for i in range(12)]
        img = decode_frames(files[3], fmt="rgba64le" if bits == "16" else "rgba")[0]
        top = 65535 if bits == "16" else 255
        assert img[20, 20, 3] == pytest.approx(top * 128 / 255, abs=top / 255)
        assert img[0, 0, 3] == 0


def test_format_and_option_mismatches_are_validation_errors(tmp_path):
    cases = [
        ('codec = "prores"', "path", "prores goes in .mov, .mkv"),
        ('codec = "h264"\npix_fmt = "rgb565"', "pix_fmt", "cannot encode pix_fmt"),
        ('codec = "h264"\naudio_codec = "pcm"', "audio_codec", "pcm audio cannot go in '.mp4'"),
        ('codec = "h264"\ncrf = 20\nbitrate = "4M"', "bitrate", "crf or bitrate"),
        ('codec = "h264"\nbitrate = "fast"', "bitrate", "expected a bitrate"),
    ]
    for extra, option, message in cases:
        p = write_pipeline(
            tmp_path, PIPE.format(input="bars", path="o.mp4", codec="h264", extra="").replace('codec = "h264"', extra)
        )
        res = run_vfx("validate", p)
        assert res.returncode == 2, extra
        assert f"option '{option}'" in res.stderr and message in res.stderr, res.stderr


def test_ffmpeg_binary_backend(tmp_path):
    p = write_pipeline(
        tmp_path, PIPE.format(input="bars", path="f.mp4", codec="h264", extra='backend = "ffmpeg"\ncrf = 18')
    )
    render(build(load(p)), RenderOptions(device="cpu"))
    info = stream_info(tmp_path / "f.mp4")
    assert (info["frames"], info["width"], info["codec"], info["audio_codec"]) == (12, 96, "h264", "aac")
    a = decode_frames(tmp_path / "f.mp4")[5].astype(int)
    p2 = write_pipeline(tmp_path, PIPE.format(input="bars", path="g.mp4", codec="h264", extra="crf = 18"), "g.toml")
    render(build(load(p2)), RenderOptions(device="cpu"))
    b = decode_frames(tmp_path / "g.mp4")[5].astype(int)
    assert np.abs(a - b).mean() < 2.0
    bad = write_pipeline(
        tmp_path,
        PIPE.format(
            input="bars", path="n.mp4", codec="h264", extra='backend = "ffmpeg"\nffmpeg_encoder = "no_such_enc"'
        ),
        "n.toml",
    )
    res = run_vfx("validate", bad)
    assert res.returncode == 2 and "option 'ffmpeg_encoder'" in res.stderr


def test_a_garbage_first_dts_from_the_encoder_is_rebased_before_muxing():
    """libx265 (FFmpeg 8) on a stream shorter than its look-ahead now and then starts the dts at an
    uninitialised value; the writer re-bases the run so that every dts is at most its pts, in order."""
    import av

    from vfx.media.encode import VideoWriter

    class Recorder:
        def __init__(self):
            self.muxed = []

        def mux(self, packet):
            self.muxed.append((packet.pts, packet.dts))

    def run(stamps):
        writer = VideoWriter.__new__(VideoWriter)
        writer.container, writer._held, writer._dts_shift = Recorder(), [], None
        for pts, dts in stamps:
            packet = av.Packet(b"\0")
            packet.pts, packet.dts = pts, dts
            writer._mux_video(packet)
        if writer._dts_shift is None:
            writer._settle()
        return writer.container.muxed

    garbage = -8725857424048159
    got = run([(0, garbage), (4, garbage + 1), (2, garbage + 2), (1, garbage + 3), (3, garbage + 4)])
    assert [p for p, _ in got] == [0, 4, 2, 1, 3]
    dts = [d for _, d in got]
    assert dts == sorted(dts) and len(set(dts)) == 5 and all(d <= p for p, d in got)
    assert dts == [-2, -1, 0, 1, 2]
    sane = [(0, -2), (4, -1), (2, 0), (1, 1), (3, 2)]
    assert run(sane) == sane  # a sane stream is muxed as it came
