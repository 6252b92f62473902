"""OpenTimelineIO: EDL and .otio timelines imported as pipelines, rendered frame-exactly, and the
edit exported back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.ops.color import srgb_to_linear
from vfx.pipeline import load
from vfx.timeline import TimelineError, import_timeline

from conftest import decode_frames, run_vfx
from media_corpus import encode, ffmpeg_frames, read_index

otio = pytest.importorskip("opentimelineio")
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATE = 24
SIZE = (80, 48)


@pytest.fixture
def media(tmp_path) -> dict[str, Path]:
    """Three lossless clips whose frames carry their index: a from 0, b from 100, c from 200."""
    folder = tmp_path / "media"
    folder.mkdir()
    args = ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"]
    return {name: encode(folder / f"{name}.mp4", 40, size=SIZE, first=first, args=args) for name, first in
            (("a", 0), ("b", 100), ("c", 200))}  # fmt: skip


def clip(name: str, url: str, start: int, duration: int, available: bool = True) -> object:
    ref = otio.schema.ExternalReference(
        target_url=url, available_range=TR(RT(0, RATE), RT(40, RATE)) if available else None
    )
    return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(start, RATE), RT(duration, RATE)))


def three_clips_a_dissolve_and_a_gap() -> object:
    """a[2, 12) -- dissolve 3+3 -- b[5, 17), a 6-frame gap, c[0, 8): 36 frames."""
    timeline = otio.schema.Timeline(name="edit")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(clip("a", "media/a.mp4", 2, 10))
    track.append(
        otio.schema.Transition(
            transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=RT(3, RATE), out_offset=RT(3, RATE)
        )
    )
    track.append(clip("b", "media/b.mp4", 5, 12))
    track.append(otio.schema.Gap(source_range=TR(RT(0, RATE), RT(6, RATE))))
    track.append(clip("c", "media/c.mp4", 0, 8))
    track[0].markers.append(otio.schema.Marker(name="fix sky", marked_range=TR(RT(4, RATE), RT(0, RATE)), color="RED"))
    return timeline


def rendered(folder: Path) -> list[np.ndarray]:
    return [decode_frames(f)[0] for f in sorted(folder.iterdir())]


def test_an_edl_from_otios_cmx_adapter_renders_the_frames_it_names(tmp_path, media):
    edl = tmp_path / "edit.edl"
    otio.adapters.write_to_file(three_clips_a_dissolve_and_a_gap(), str(edl), adapter_name="cmx_3600")
    assert " D " in edl.read_text()  # the dissolve is in the EDL
    res = run_vfx("import", edl, "-o", tmp_path / "cut/edit.toml", "--render-to", "frames/f_%04d.png")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "cut/edit.toml").read_text()
    assert 'path = "../media/a.mp4"' in text  # media relative to the pipeline, found relative to the EDL
    assert "# marker 'FIX SKY' (RED) at frame 2" in text  # markers kept as comments
    render(build(load(tmp_path / "cut/edit.toml")), RenderOptions(device="cpu"))
    frames = rendered(tmp_path / "cut/frames")
    assert len(frames) == 36 and frames[0].shape == (SIZE[1], SIZE[0], 3)
    # the edit, frame by frame: a from its frame 2, b (cut at record 10) from its frame 5, gap, c
    expected = {i: 2 + i for i in range(7)}
    expected |= {i: 100 + 5 + (i - 10) for i in range(13, 22)}
    expected |= {i: 200 + (i - 28) for i in range(28, 36)}
    for i, index in expected.items():
        assert read_index(frames[i]) == index, f"record frame {i}"
    for i in range(22, 28):
        assert frames[i].max() == 0  # the gap is empty (black once encoded)
    # the dissolve, record frames 7..12: a's frames 9..14 into b's frames 2..7, weight rising
    src_a, src_b = ffmpeg_frames(media["a"]).astype(float), ffmpeg_frames(media["b"]).astype(float)
    weights = []
    for k, i in enumerate(range(7, 13)):
        fa, fb, got = src_a[9 + k], src_b[2 + k], frames[i].astype(float)
        differ = np.abs(fa - fb) > 100  # index blocks that change between the two frames
        assert differ.any()
        lo, hi = np.minimum(fa, fb) - 2, np.maximum(fa, fb) + 2
        assert ((got >= lo) & (got <= hi)).all(), f"record frame {i} is not a mix of a[{9 + k}] and b[{2 + k}]"
        la, lb, lg = (srgb_to_linear(x / 255) for x in (fa, fb, got))  # the mix is in linear light
        weights.append(float(np.mean((lg - la)[differ] / (lb - la)[differ])))
    assert all(0 < w < 1 for w in weights) and weights == sorted(weights)


def test_the_otio_edit_exports_back_to_the_same_structure(tmp_path, media):
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(three_clips_a_dissolve_and_a_gap(), str(path))
    pipeline = tmp_path / "edit.toml"
    pipeline.write_text(import_timeline(path, pipeline))
    res = run_vfx("export-timeline", pipeline, "-o", tmp_path / "back/edit.otio")
    assert res.returncode == 0, res.stderr
    back = otio.adapters.read_from_file(str(tmp_path / "back/edit.otio"))
    (track,) = back.tracks
    got = []
    for item in track:
        if isinstance(item, otio.schema.Transition):
            got.append(("dissolve", item.in_offset.to_frames(), item.out_offset.to_frames()))
        elif isinstance(item, otio.schema.Gap):
            got.append(("gap", item.source_range.duration.to_frames()))
        else:
            rng = item.source_range
            got.append((item.media_reference.target_url, rng.start_time.to_frames(), rng.duration.to_frames()))
    assert got == [
        ("../media/a.mp4", 2, 10),
        ("dissolve", 3, 3),
        ("../media/b.mp4", 5, 12),
        ("gap", 6),
        ("../media/c.mp4", 0, 8),
    ]
    assert back.duration().to_frames() == 36


def test_speed_and_stacked_tracks(tmp_path, media):
    timeline = otio.schema.Timeline(name="stack")
    low = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    fast = clip("a", "media/a.mp4", 4, 10)
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    low.append(fast)
    low.append(clip("b", "media/b.mp4", 0, 6))
    high = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    high.append(otio.schema.Gap(source_range=TR(RT(0, RATE), RT(12, RATE))))
    high.append(clip("c", "media/c.mp4", 30, 4))
    timeline.tracks.extend([low, high])
    timeline.tracks.append(otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio))
    path = tmp_path / "stack.otio"
    otio.adapters.write_to_file(timeline, str(path))
    pipeline = tmp_path / "stack.toml"
    text = import_timeline(path, pipeline, render_to="frames/f_%04d.png")
    assert 'type = "editor.speed"' in text and 'type = "editor.composite"' in text
    assert "# Audio track 'A1' not carried over" in text
    pipeline.write_text(text)
    render(build(load(pipeline)), RenderOptions(device="cpu"))
    frames = rendered(tmp_path / "frames")
    assert len(frames) == 16
    indices = [read_index(f) for f in frames]
    assert indices[:10] == [4 + 2 * i for i in range(10)]  # twice as fast from a's frame 4
    assert indices[10:12] == [100, 101]  # the bottom track shows through the top one's gap
    assert indices[12:16] == [230, 231, 232, 233]  # the top track over it


def test_missing_media_is_one_clear_error(tmp_path):
    timeline = otio.schema.Timeline(name="lost")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(clip("one", "gone/one.mov", 0, 5))
    track.append(clip("two", "gone/two.mov", 0, 5))
    path = tmp_path / "lost.otio"
    otio.adapters.write_to_file(timeline, str(path))
    with pytest.raises(TimelineError) as err:
        import_timeline(path, tmp_path / "p.toml")
    assert "missing media" in str(err.value) and "one.mov" in str(err.value) and "two.mov" in str(err.value)
    res = run_vfx("import", path, "-o", tmp_path / "p.toml")
    assert res.returncode == 2 and "Traceback" not in res.stderr and "gone/two.mov" in res.stderr
    assert not (tmp_path / "p.toml").exists()
    res = run_vfx("import", path, "-o", path)
    assert res.returncode == 2 and "refusing to overwrite" in res.stderr


def test_the_pipeline_from_an_otio_file_keeps_the_cut_points(tmp_path, media):
    """The .otio (handles on both sides) and its EDL (handles after the cut) give the same frames."""
    path = tmp_path / "edit.otio"
    otio.adapters.write_to_file(three_clips_a_dissolve_and_a_gap(), str(path))
    pipeline = tmp_path / "edit.toml"
    pipeline.write_text(import_timeline(path, pipeline))
    graph = build(load(pipeline))
    top = graph.nodes["out"].input("input")
    assert top.video.frame_count == 36
    assert graph.nodes["a_cut"].options.start == 2 and graph.nodes["a_cut"].video.frame_count == 13
    assert graph.nodes["b_cut"].options.start == 2 and graph.nodes["b_cut"].video.frame_count == 15


def test_an_exr_sequence_clip_is_cut_by_frame_number_and_exported_back(tmp_path):
    from vfx.media.exr import read_exr, write_exr

    (tmp_path / "plates").mkdir()
    for n in range(1001, 1013):  # frame n holds the value n / 10000
        write_exr(
            tmp_path / f"plates/sh010.{n}.exr", {"": np.full((16, 32, 4), n / 10000, np.float32)}, pixel_type="float"
        )
    ref = otio.schema.ImageSequenceReference(
        target_url_base="plates/",
        name_prefix="sh010.",
        name_suffix=".exr",
        start_frame=1001,
        rate=RATE,
        frame_zero_padding=4,
        available_range=TR(RT(1001, RATE), RT(12, RATE)),
    )
    timeline = otio.schema.Timeline(name="plates")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(name="sh010", media_reference=ref, source_range=TR(RT(1004, RATE), RT(5, RATE))))
    path = tmp_path / "plates.otio"
    otio.adapters.write_to_file(timeline, str(path))
    pipeline = tmp_path / "plates.toml"
    text = import_timeline(path, pipeline, render_to="out/o_%02d.exr")
    assert 'type = "source.exr_sequence"' in text and "start_number = 1001" in text
    pipeline.write_text(
        text.replace('type = "encode.exr_sequence"', 'type = "encode.exr_sequence"\npixel_type = "float"')
    )
    render(build(load(pipeline)), RenderOptions(device="cpu"))
    values = [float(read_exr(tmp_path / f"out/o_{k:02d}.exr")[0, 0, 0]) for k in range(5)]
    assert values == [np.float32(n / 10000) for n in range(1004, 1009)]
    from vfx.timeline import export_timeline

    back = export_timeline(build(load(pipeline)), tmp_path / "back.otio")
    (clip_back,) = back.tracks[0]
    assert clip_back.media_reference.start_frame == 1001 and clip_back.media_reference.name_prefix == "sh010."
    assert (clip_back.source_range.start_time.to_frames(), clip_back.source_range.duration.to_frames()) == (1004, 5)


def test_moved_media_is_found_by_name_in_media_folders(tmp_path, media):
    timeline = otio.schema.Timeline(name="moved")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    track.append(clip("a", "/old/server/a.mp4", 0, 4, available=False))
    track.append(otio.schema.Clip(name="b", source_range=TR(RT(3, RATE), RT(4, RATE))))  # no reference at all
    path = tmp_path / "moved.otio"
    otio.adapters.write_to_file(timeline, str(path))
    with pytest.raises(TimelineError, match="give --media DIR"):
        import_timeline(path, tmp_path / "p.toml")
    res = run_vfx("import", path, "-o", tmp_path / "p.toml", "--media", tmp_path / "media")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "p.toml").read_text()
    assert 'path = "media/a.mp4"' in text and 'path = "media/b.mp4"' in text
    graph = build(load(tmp_path / "p.toml"))
    assert graph.nodes["b_cut"].options.start == 3 and graph.nodes["out"].video.frame_count == 8
