"""Footage as users have it (made by the ffmpeg binary): the right frame at the right time, upright.

Every frame carries its own index (``media_corpus.read_index``), so a wrong seek, a held
keyframe or a slipped VFR section shows as a wrong number; pictures are compared with what the
ffmpeg CLI shows for the same file (autorotate, ``scale=iw*sar:ih``, the ``fps`` filter).
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build, build_for_preview
from vfx.pipeline import load

from conftest import run_vfx
from media_corpus import encode, ffmpeg_frames, read_index, remux, run_ffmpeg

SIZE = (160, 120)
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]
OPEN_GOP = ["-x264-params", "open-gop=1:keyint=30:min-keyint=30:scenecut=0", "-bf", "3"]


class Corpus:
    """Files made on first use, once per test module."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, name: str) -> Path:
        path = self.folder / name
        if not path.exists():
            getattr(self, "make_" + name.replace(".", "_"))(path)
        return path

    def make_b_ts(self, p):  # B-frames, 12-frame GOPs, a start offset, audio
        encode(
            p,
            120,
            rate="30",
            size=SIZE,
            audio="sine=f=440:d=4",
            args=[*X264, "-bf", "3", "-g", "12", "-output_ts_offset", "5"],
        )

    def make_og_mp4(self, p):  # x264 open GOP
        encode(p, 120, rate="30", size=SIZE, args=[*X264, *OPEN_GOP])

    def make_og_ts(self, p):
        encode(p, 120, rate="30", size=SIZE, args=[*X264, *OPEN_GOP, "-output_ts_offset", "2"])

    def make_og_mkv(self, p):
        encode(p, 120, rate="30", size=SIZE, args=[*X264, *OPEN_GOP])

    def make_b_mxf(self, p):  # MPEG-2 with B-frames in MXF
        encode(p, 120, rate="25", size=SIZE, args=["-c:v", "mpeg2video", "-g", "12", "-bf", "2", "-b:v", "4M"])

    def make_b_avi(self, p):  # H.264 with B-frames in AVI: packets stamped in decode order
        encode(p, 120, rate="30", size=SIZE, args=[*X264, "-bf", "3", "-g", "12"])

    def make_il_ts(self, p):  # broadcast: interlaced MPEG-2 (top field first) with B-frames in TS
        encode(
            p,
            120,
            rate="30",
            size=SIZE,
            args=[
                "-vf",
                "setfield=tff",
                "-pix_fmt",
                "yuv420p",
                "-c:v",
                "mpeg2video",
                "-flags",
                "+ildct+ilme",
                "-g",
                "15",
                "-bf",
                "2",
                "-b:v",
                "4M",
                "-output_ts_offset",
                "3",
            ],
        )

    def make_il264_mp4(self, p):  # interlaced H.264 (MBAFF), top field first
        encode(p, 120, rate="30", size=SIZE, args=[*X264, "-flags", "+ildct+ilme", "-x264-params", "tff=1"])

    def make_og265_mp4(self, p):  # x265's defaults are open GOP
        encode(
            p,
            120,
            rate="30",
            size=SIZE,
            args=["-c:v", "libx265", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error:keyint=30"],
        )

    def make_vfr_mp4(self, p):  # 48 frames at 24 fps, then 60 at 30 fps
        encode(
            p,
            108,
            rate="24",
            size=SIZE,
            args=[
                "-vf",
                "settb=1/120,setpts='if(lt(N,48),N*5,240+(N-48)*4)'",
                "-fps_mode",
                "vfr",
                "-enc_time_base",
                "1/120",
                *X264,
            ],
        )

    def make_drop_mp4(self, p):  # 30 fps, every 7th frame (from the 4th) dropped
        encode(p, 120, rate="30", size=SIZE, args=["-vf", r"select='not(eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", *X264])

    def make_drop_avi(self, p):  # a capture's MJPEG AVI with dropped frames (empty slots)
        encode(
            p,
            120,
            rate="30",
            size=SIZE,
            args=["-vf", r"select='not(eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", "-c:v", "mjpeg"],
        )

    def make_drop264_avi(self, p):  # the same with H.264 B-frames: chunks stamped in decode order
        encode(
            p,
            120,
            rate="30",
            size=SIZE,
            args=["-vf", r"select='not(eq(mod(n\,7)\,3))'", "-fps_mode", "vfr", *X264, "-bf", "3"],
        )

    def make_phone_mov(self, p):  # 29.97 fps on a 600-tick clock: average 36000/1201
        encode(p, 90, rate="30000/1001", size=SIZE, args=[*X264, "-video_track_timescale", "600"])

    def make_plain_mp4(self, p):
        encode(p, 30, rate="30", size=SIZE, args=X264)

    def _rotated(self, p, *flags):
        remux(self("plain.mp4"), p, input_args=list(flags))

    def make_rot90_mp4(self, p):
        self._rotated(p, "-display_rotation", "90")

    def make_rot180_mp4(self, p):
        self._rotated(p, "-display_rotation", "180")

    def make_rot270_mp4(self, p):
        self._rotated(p, "-display_rotation", "-90")

    def make_rot90flip_mp4(self, p):
        self._rotated(p, "-display_rotation", "90", "-display_hflip")

    def make_sar_mp4(self, p):  # anamorphic: 160x120 stored, 64:45 pixels
        encode(p, 30, rate="30", size=SIZE, args=["-vf", "setsar=64/45", *X264])

    def make_two_audio_mkv(self, p):
        run_ffmpeg(
            "-i",
            self("plain.mp4"),
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1:sample_rate=48000",
            "-f",
            "lavfi",
            "-i",
            "sine=f=1500:d=1:sample_rate=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            "-c:v",
            "copy",
            "-c:a",
            "flac",
            p,
        )

    def make_late_video_mkv(self, p):  # the picture starts 0.5 s after the sound; a click at 1.0 s
        run_ffmpeg(
            "-itsoffset",
            "0.5",
            "-i",
            self("plain.mp4"),
            "-f",
            "lavfi",
            "-i",
            "aevalsrc='if(between(t,1,1.002),0.9,0)':d=2:s=48000",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "copy",
            "-c:a",
            "pcm_s16le",
            p,
        )

    def make_opaque_gif(self, p):
        encode(p, 10, rate="10", size=(80, 60))

    def _png_mov(self, p, alpha):
        run_ffmpeg("-f", "lavfi", "-i", f"color=c=red@{alpha}:s=64x48:d=1:r=10,format=rgba", "-c:v", "png", p)

    def make_opaque_rgba_mov(self, p):
        self._png_mov(p, "1.0")

    def make_alpha_rgba_mov(self, p):
        self._png_mov(p, "0.5")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return Corpus(tmp_path_factory.mktemp("footage"))


def source(path: Path, fps: str = "30", **options):
    """The ``source.video`` node of a one-node pipeline beside ``path``, configured."""
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    toml = path.parent / f"src_{path.stem}_{abs(hash((fps, extra)))}.toml"
    toml.write_text(
        f'[pipeline]\nfps = "{fps}"\nwidth = 160\nheight = 120\n'
        f'[nodes.src]\ntype = "source.video"\npath = "{path.name}"\n{extra}'
    )
    return build_for_preview(load(toml)).nodes["src"]


def indices_of(node, frames) -> list[int]:
    return [read_index(f.to_ndarray(format="rgb24")) for f in node.frames(list(frames)).native]


def rgb_of(node, frames) -> np.ndarray:
    """Frames as the graph sees them, back in 8-bit sRGB (H, W, 3) each."""
    from vfx.ops import color

    pixels = node.frames(list(frames)).pixels
    return np.stack([np.asarray(a)[..., :3] for a in color.from_linear(pixels, alpha=False, bits=8)])


SEEKING = ["b.ts", "og.mp4", "og.ts", "og265.mp4", "og.mkv", "b.mxf", "il.ts", "il264.mp4", "b.avi"]
RATE = {"b.mxf": "25"}


@pytest.mark.parametrize("name", SEEKING)
def test_every_frame_in_order_is_the_one_ffmpeg_decodes(corpus, name):
    path = corpus(name)
    reference = [read_index(f) for f in ffmpeg_frames(path)]
    node = source(path, RATE.get(name, "30"))
    assert node.video.frame_count == len(reference) == 120
    assert indices_of(node, range(120)) == reference == list(range(120))


@pytest.mark.parametrize("name", SEEKING)
def test_random_seeks_return_exactly_the_frame_asked_for(corpus, name):
    node = source(corpus(name), RATE.get(name, "30"))
    rng = random.Random(name)
    wanted = [rng.randrange(120) for _ in range(40)]
    got = [indices_of(node, [k])[0] for k in wanted]
    assert got == wanted
    # leading pictures of an open GOP (keyframes at 30, 60, 90), asked for right after a far seek
    node = source(corpus(name), RATE.get(name, "30"))
    assert indices_of(node, [100]) == [100]
    assert indices_of(node, [58, 59, 60, 61]) == [58, 59, 60, 61]
    assert indices_of(node, [28, 29, 30]) == [28, 29, 30]


def test_trims_of_a_ts_file_render_exact_frames_also_in_its_last_gop(corpus, tmp_path):
    path = corpus("b.ts")
    for start, end in ((5, 10), (110, 120)):
        p = path.parent / f"trim_{start}.toml"
        p.write_text(
            f"[pipeline]\nfps = 30\nwidth = 160\nheight = 120\n"
            f'[nodes.src]\ntype = "source.video"\npath = "b.ts"\n'
            f'[nodes.cut]\ntype = "editor.trim"\ninput = "src"\nstart = {start}\nend = {end}\n'
            f'[nodes.out]\ntype = "encode.video"\ninput = "cut"\ncodec = "ffv1"\n'
            f'path = "{tmp_path / f"cut_{start}.mkv"}"\n'
        )
        render(build(load(p)), RenderOptions(device="cpu"))
        assert [read_index(f) for f in ffmpeg_frames(tmp_path / f"cut_{start}.mkv")] == list(range(start, end))


@pytest.mark.parametrize("name", ["vfr.mp4", "drop.mp4", "drop.avi"])
def test_variable_frame_rate_is_placed_by_presentation_time(corpus, name):
    path = corpus(name)
    node = source(path, "30")
    # the frame on screen at each output frame's time: ffmpeg's fps filter rounding timestamps up
    reference = [read_index(f) for f in ffmpeg_frames(path, vf="fps=30:round=up")]
    got = indices_of(node, range(node.video.frame_count))
    # 4 s of presentation time at 30 fps (the muxer may stamp the last frame a frame longer)
    assert 120 <= node.video.frame_count <= 121
    assert len(reference) - 1 <= node.video.frame_count <= len(reference)
    assert got == reference[: len(got)]
    assert got[-1] == (107 if name == "vfr.mp4" else 119)  # the last frame is shown


def test_an_avi_with_dropped_frames_stamped_in_decode_order_is_refused_by_name(corpus):
    """Not "the file is cut short" (an AVI's length counts its empty slots), and no frame misplaced."""
    res = run_vfx("probe", corpus("drop264.avi"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "17 of its 120 frame slots are dropped frames" in res.stderr and "transcode it first" in res.stderr
    assert "cut short" not in res.stderr and "Traceback" not in res.stderr


def test_a_phone_clip_on_a_600_tick_clock_keeps_every_frame(corpus):
    path = corpus("phone.mov")
    info = json.loads(run_vfx("probe", path, "--json", check=True).stdout)["video"]
    assert (info["fps"], info["vfr"], info["frames"]) == ("30000/1001", False, 90)
    assert info["average_fps"] != "30000/1001"  # the clock's average is not exact ...
    assert float(Fraction(info["average_fps"])) == pytest.approx(29.97, abs=0.01)  # ... the nominal rate is
    node = source(path, "30000/1001")
    assert node.video.frame_count == 90
    assert indices_of(node, range(90)) == list(range(90))
    assert [read_index(f) for f in ffmpeg_frames(path, vf="fps=30000/1001")] == list(range(90))


@pytest.mark.parametrize(
    "name,turned", [("rot90.mp4", True), ("rot180.mp4", False), ("rot270.mp4", True), ("rot90flip.mp4", True)]
)
def test_rotated_clips_are_upright_as_ffmpeg_shows_them(corpus, name, turned):
    path = corpus(name)
    node = source(path)
    w, h = SIZE
    assert (node.video.width, node.video.height) == ((h, w) if turned else (w, h))
    shown = ffmpeg_frames(path)  # the ffmpeg CLI autorotates
    ours = rgb_of(node, [0, 17])
    assert ours.shape[1:] == shown.shape[1:]
    assert np.abs(ours.astype(int) - shown[[0, 17]]).mean() < 2
    stored = source(path, rotate="none")
    assert (stored.video.width, stored.video.height) == (w, h)
    assert indices_of(stored, [0, 17]) == [0, 17]


def test_rotate_option_overrides_the_file(corpus):
    path = corpus("plain.mp4")
    node = source(path, rotate=90)
    assert (node.video.width, node.video.height) == (120, 160)
    turned = ffmpeg_frames(path, vf="transpose=clock")
    assert np.abs(rgb_of(node, [3]).astype(int) - turned[[3]]).mean() < 2
    flipped = source(corpus("rot90.mp4"), rotate="180")
    assert (flipped.video.width, flipped.video.height) == SIZE
    assert np.abs(rgb_of(flipped, [3]).astype(int) - ffmpeg_frames(path, vf="hflip,vflip")[[3]]).mean() < 2


def test_anamorphic_pixels_are_made_square_or_kept(corpus):
    path = corpus("sar.mp4")
    reference = ffmpeg_frames(path, vf="scale=iw*sar:ih")
    node = source(path)
    assert (node.video.height, node.video.width) == reference.shape[1:3] == (120, 227)
    assert node.video.sar == 1
    assert np.abs(rgb_of(node, [4]).astype(int) - reference[[4]]).mean() < 3
    assert indices_of(node, [4, 5]) == [4, 5]
    kept = source(path, pixel_aspect="keep")
    assert (kept.video.width, kept.video.height, kept.video.sar) == (160, 120, Fraction(64, 45))
    assert [(f.width, f.height) for f in kept.frames([4]).native] == [(160, 120)]


def _peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_a_second_audio_track_can_be_picked(corpus, tmp_path):
    path = corpus("two_audio.mkv")
    first, second = source(path), source(path, audio_track=1)
    assert _peak_hz(first.audio_samples(4800, 24000).samples[0], 48000) == pytest.approx(440, abs=5)
    assert _peak_hz(second.audio_samples(4800, 24000).samples[0], 48000) == pytest.approx(1500, abs=5)
    p = tmp_path / "bad.toml"
    p.write_text(
        f'[nodes.src]\ntype = "source.video"\npath = "{path}"\naudio_track = 2\n'
        f'[nodes.out]\ntype = "encode.video"\ninput = "src"\npath = "{tmp_path / "o.mp4"}"\n'
    )
    res = run_vfx("render", p, "--quiet")
    assert res.returncode == 2
    assert "audio_track" in res.stderr and "2 audio tracks" in res.stderr and "src" in res.stderr


def test_sound_that_starts_before_the_picture_stays_in_sync(corpus):
    node = source(corpus("late_video.mkv"))
    assert indices_of(node, [0, 15]) == [0, 15]
    audio = node.audio_samples(0, 48000).samples[0]
    click = int(np.argmax(np.abs(audio)))
    assert abs(click - 24000) <= 2  # 1.0 s on the sound's clock is 0.5 s into the picture


def test_alpha_only_when_the_pictures_use_it(corpus):
    assert source(corpus("opaque.gif")).video.has_alpha is False
    assert source(corpus("opaque_rgba.mov")).video.has_alpha is False
    assert source(corpus("opaque_rgba.mov"), alpha="on").video.has_alpha is True
    see_through = source(corpus("alpha_rgba.mov"))
    assert see_through.video.has_alpha is True
    assert float(see_through.frames([2]).pixels[0, 3].mean()) == pytest.approx(0.5, abs=0.01)
    opaque = source(corpus("alpha_rgba.mov"), alpha="off")
    assert opaque.video.has_alpha is False
    assert float(opaque.frames([2]).pixels[0, 3].min()) == 1.0


def test_probe_reports_rate_geometry_and_tracks(corpus):
    def probed(name):
        return json.loads(run_vfx("probe", corpus(name), "--json", check=True).stdout)

    vfr = probed("vfr.mp4")["video"]
    assert vfr["vfr"] is True and vfr["fps"] == "30" and vfr["frames"] == 108
    drop = probed("drop.mp4")["video"]
    assert drop["vfr"] is True and drop["fps"] == "30"
    assert probed("rot90.mp4")["video"]["rotation"] == 270  # shown turned 90 degrees counter-clockwise
    assert probed("sar.mp4")["video"]["sar"] == "64/45"
    ts = probed("b.ts")["video"]
    assert ts["start_time"] == pytest.approx(6.4) and ts["vfr"] is False
    assert probed("il.ts")["video"]["field_order"] == probed("il264.mp4")["video"]["field_order"] == "tt"
    assert probed("b.ts")["video"]["field_order"] == "progressive"
    tracks = probed("two_audio.mkv")["audio_tracks"]
    assert [t["track"] for t in tracks] == [0, 1]
    text = run_vfx("probe", corpus("vfr.mp4"), check=True).stdout
    assert "variable frame rate" in text
    text = run_vfx("probe", corpus("two_audio.mkv"), check=True).stdout
    assert "audio 1: flac" in text


def test_a_seek_that_lands_past_the_frame_backs_off_to_an_earlier_keyframe(corpus, monkeypatch):
    node = source(corpus("b.ts"))
    index = node.track.index
    honest = index.keyframes_before

    def too_late(k):  # the keyframe after frame k first, as an imprecise seek would land
        later = [(p, d) for p, d in zip(index.key_pts, index.key_dts) if p > index.pts[k]][:1]
        return later + honest(k)

    monkeypatch.setattr(index, "keyframes_before", too_late)
    rng = random.Random(3)
    wanted = [rng.randrange(110) for _ in range(10)]
    assert [indices_of(node, [k])[0] for k in wanted] == wanted


def test_a_slow_index_is_kept_in_the_cache_folder_not_beside_the_file(corpus, tmp_path, monkeypatch):
    from vfx.media import index as index_module

    path = corpus("og.mp4")
    monkeypatch.setenv("VFX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(index_module, "DISK_CACHE_MIN_SECONDS", 0.0)
    monkeypatch.setattr(index_module, "_CACHE", type(index_module._CACHE)(index_module._CACHE.maxsize))
    beside = set(path.parent.iterdir())
    built = index_module.frame_index(path)
    assert len(list((tmp_path / "cache" / "index").glob("*.json"))) == 1
    assert set(path.parent.iterdir()) == beside
    index_module._CACHE.clear()

    def no_demuxing(*args):
        raise AssertionError("the index was built again")

    monkeypatch.setattr(index_module, "build_index", no_demuxing)
    again = index_module.frame_index(path)
    assert (again.pts, again.key_pts, again.seek_by, again.time_base) == (
        built.pts,
        built.key_pts,
        built.seek_by,
        built.time_base,
    )
    path.touch()  # a changed file is indexed again
    index_module._CACHE.clear()
    with pytest.raises(AssertionError, match="built again"):
        index_module.frame_index(path)


def test_a_recording_that_starts_mid_gop_starts_at_its_first_keyframe(corpus, tmp_path):
    whole = corpus("b.ts").read_bytes()
    path = tmp_path / "mid.ts"
    path.write_bytes(whole[188 * 60 :])  # cut inside the first GOP, as a capture starts
    node = source(path)
    assert node.video.frame_count == 108
    assert indices_of(node, range(108)) == list(range(12, 120))
    assert indices_of(node, [50, 3]) == [62, 15]
