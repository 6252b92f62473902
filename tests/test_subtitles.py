"""source.subtitles: cue timing to the frame (decoded from a lossless render), styled runs, WebVTT,
safe-area placement, caching, and bad files."""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vfx.node import ConfigureError, NodeContext, PipelineSettings
from vfx.options import ParseContext
from vfx_plugins.text import text_layout as tl
from vfx_plugins.text.subtitles import Subtitles, cue_frames, styled_runs

from conftest import decode_frames, run_vfx, write_pipeline

SRT = """1
00:00:01,000 --> 00:00:02,500
First <i>caption</i>
on two lines

2
00:00:02,600 --> 00:00:02,750
<b>Bold</b> one
"""

VTT = """WEBVTT
Kind: captions

NOTE a comment that is not a cue

STYLE
::cue { color: yellow }

intro
00:00.500 --> 00:01.000 align:start position:10%
<v Ann>Hello <i>there</i> &amp; welcome

second-id
00:00:01.000 --> 00:00:01.500
Next &lt;cue&gt;
"""


def make_subs(path: Path, width=320, height=180, fps=24, duration=72, **options):
    settings = PipelineSettings(width=width, height=height, fps=Fraction(fps), duration=duration)
    parsed = Subtitles.Options.from_mapping(
        {"path": str(path), **options}, ParseContext(fps=Fraction(fps), base_dir=path.parent)
    )
    node = Subtitles("subs", parsed, NodeContext("subs", settings))
    node.configure()
    return node


def alpha(node, indices):
    return node.frames(list(indices)).pixels[:, 3].numpy()


def test_cue_frames_follow_the_documented_rule():
    assert cue_frames(1000, 2500, Fraction(24)) == (24, 60)  # 1.0 s .. 2.5 s: frames 24..59
    assert cue_frames(40, 120, Fraction(25)) == (1, 3)  # boundaries exactly on frames
    assert cue_frames(1001, 2002, Fraction(30000, 1001)) == (30, 60)  # NTSC: exact, no float drift
    assert cue_frames(1, 41, Fraction(25)) == (1, 2)  # 1 ms after frame 0 starts: frame 1


def test_captions_show_exactly_within_their_cue_times(tmp_path):
    (tmp_path / "subs.srt").write_text(SRT)
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 160
        height = 90
        fps = 24
        duration = 72
        [nodes.bg]
        type = "source.color"
        color = "black"
        [nodes.subs]
        type = "source.subtitles"
        input = "bg"
        path = "subs.srt"
        size = 12
        [nodes.out]
        type = "encode.video"
        input = "subs"
        codec = "ffv1"
        path = "out.mkv"
    """,
    )
    res = run_vfx("render", "-q", p)
    assert res.returncode == 0, res.stderr
    lit = [int((f.max(axis=2) > 64).sum()) for f in decode_frames(tmp_path / "out.mkv")]
    assert len(lit) == 72
    shown = [i for i, n in enumerate(lit) if n > 0]
    # cue 1: 1.000 <= f/24 < 2.500 -> 24..59; cue 2: 2.600 <= f/24 < 2.750 -> 63..65
    assert shown == list(range(24, 60)) + [63, 64, 65]
    assert lit[24] == lit[59] and lit[63] != lit[24]


def test_italic_and_bold_runs_use_the_other_faces(tmp_path):
    faces = {k: tl.Face(v) for k, v in tl.DEFAULT_FACES.items()}
    runs = styled_runs("a {\\i1}b{\\i0} {\\b1}c{\\i1}d{\\b0}{\\i0}\\Ne", faces)
    assert runs == [
        ("a ", faces["regular"]),
        ("b", faces["italic"]),
        (" ", faces["regular"]),
        ("c", faces["bold"]),
        ("d", faces["bold_italic"]),
        ("\ne", faces["regular"]),
    ]
    (tmp_path / "a.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nWord\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\n<b>Word</b>\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\n<i>Word</i>\n"
    )
    node = make_subs(tmp_path / "a.srt", size=40, outline=0)
    assert [r[0][1].path.name for r in (c.runs for c in node.cues)] == [
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
    ]
    regular, bold, italic = alpha(node, [0, 30, 60])
    assert bold.sum() > 1.15 * regular.sum()
    assert not np.array_equal(regular, italic) and italic.sum() == pytest.approx(regular.sum(), rel=0.1)
    # a user-given bold face is used for <b>
    custom = make_subs(tmp_path / "a.srt", size=40, outline=0, font_bold="DejaVuSans-Oblique.ttf")
    assert np.array_equal(alpha(custom, [30])[0], italic)


def test_webvtt_cues_ids_notes_and_entities(tmp_path):
    (tmp_path / "a.vtt").write_text(VTT)
    node = make_subs(tmp_path / "a.vtt")
    texts = ["".join(t for t, _ in c.runs) for c in node.cues]
    assert texts == ["Hello there & welcome", "Next <cue>"]
    assert [(c.first, c.stop) for c in node.cues] == [(12, 24), (24, 36)]
    assert node.cues[0].runs[1] == ("there", node.faces["italic"])
    a = alpha(node, [11, 12, 23, 24, 35, 36])
    assert a[0].max() == 0 and a[1].max() > 0 and np.array_equal(a[1], a[2])
    assert a[3].max() > 0 and not np.array_equal(a[2], a[3]) and a[5].max() == 0


def test_safe_area_placement_and_box(tmp_path):
    (tmp_path / "a.srt").write_text(
        "1\n00:00:00,000 --> 00:00:05,000\nA caption that is long enough to wrap onto a second line here\n"
    )
    node = make_subs(tmp_path / "a.srt", width=320, height=180, size=16, background="#000000ff", padding=4, outline=0)
    a = alpha(node, [0])[0]
    ys, xs = np.nonzero(a > 0.5)
    assert ys.max() + 1 == pytest.approx(180 * 0.95, abs=1)  # box bottom on the safe area's bottom
    assert xs.min() >= 320 * 0.05 - 1 and xs.max() < 320 * 0.95 + 1
    assert abs((xs.min() + xs.max() + 1) / 2 - 160) <= 1  # centred
    assert a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].min() > 0.99  # an opaque box
    assert len(tl.layout(node.cues[0].runs, 16, wrap=320 * 0.9 - 8).lines) == 2
    top = make_subs(
        tmp_path / "a.srt",
        width=320,
        height=180,
        size=16,
        background="#000000ff",
        padding=4,
        placement="top",
        safe_area=[0.8, 0.8],
    )
    ys = np.nonzero(alpha(top, [0])[0] > 0.5)[0]
    assert ys.min() == pytest.approx(18, abs=1)


def test_each_caption_is_rasterised_once(tmp_path):
    (tmp_path / "a.srt").write_text(SRT)
    node = make_subs(tmp_path / "a.srt")
    for start in range(0, 72, 5):
        node.frames(list(range(start, min(72, start + 5))))
    assert node.rasterizer.calls == 2


def test_missing_glyphs_in_captions_warn(tmp_path):
    (tmp_path / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\n中文 ok\n")
    with pytest.warns(tl.MissingGlyphWarning, match="'中' \\(U\\+4E2D\\)"):
        make_subs(tmp_path / "a.srt")
    (tmp_path / "b.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nÇa va — ½\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_subs(tmp_path / "b.srt")


def test_bad_subtitle_files(tmp_path):
    (tmp_path / "bad.srt").write_text("this is not\na subtitle file\n")
    with pytest.raises(ConfigureError, match="bad.srt"):
        make_subs(tmp_path / "bad.srt")
    (tmp_path / "empty.vtt").write_text("WEBVTT\n\nNOTE nothing here\n")
    with pytest.raises(ConfigureError, match="no cues"):
        make_subs(tmp_path / "empty.vtt")
    p = write_pipeline(
        tmp_path,
        """
        [pipeline]
        width = 64
        height = 36
        duration = 4
        [nodes.captions]
        type = "source.subtitles"
        path = "bad.srt"
        [nodes.out]
        type = "encode.video"
        input = "captions"
        path = "o.mp4"
    """,
    )
    res = run_vfx("render", p)
    assert res.returncode == 2
    assert "bad.srt" in res.stderr and "captions" in res.stderr and "Traceback" not in res.stderr


def test_font_index_padding_and_encoding_are_checked(tmp_path):
    (tmp_path / "subs.srt").write_text(SRT)
    with pytest.raises(ConfigureError, match="font_index 2 is out of range") as err:
        make_subs(tmp_path / "subs.srt", font="DejaVuSans.ttf", font_index=2)
    assert err.value.option == "font_index"
    with pytest.raises(ConfigureError, match="no room for text") as err:
        make_subs(tmp_path / "subs.srt", padding=200)
    assert err.value.option == "padding"
    with pytest.raises(ConfigureError, match="unknown text encoding") as err:
        make_subs(tmp_path / "subs.srt", encoding="utf-9")
    assert err.value.option == "encoding"
