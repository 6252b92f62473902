"""Footage colour as the ffmpeg CLI sees it: matrix, range and depth in; tags, precision and containers out.

Every clip is made by the ffmpeg binary (``media_corpus``), and every comparison is against the
ffmpeg CLI's own RGB conversion of the same file (per-channel PSNR) or its own stream line.
"""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import vfx

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.pipeline import load

from conftest import run_vfx, stream_info, write_pipeline
from media_corpus import encode, ffmpeg_exe, ffmpeg_frames, ffprobe_line

X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"]
CLIPS = {  # name: (size, rate, ffmpeg output args)
    "pal.mp4": (
        (720, 576),
        "25",
        X264
        + [
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "scale=out_color_matrix=bt601:out_range=tv,"
            "setparams=colorspace=bt470bg:color_primaries=bt470bg:color_trc=bt470bg",
        ],
    ),
    "ntsc.mp4": (
        (720, 480),
        "30000/1001",
        X264 + ["-pix_fmt", "yuv420p", "-colorspace", "smpte170m", "-color_range", "tv"],
    ),
    "untagged.mp4": ((320, 240), "24", X264 + ["-pix_fmt", "yuv420p"]),
    "full.mp4": ((320, 240), "24", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_range", "pc"]),
    "yuvj.mp4": ((320, 240), "24", X264 + ["-pix_fmt", "yuvj420p"]),
    "mjpeg.avi": ((320, 240), "24", ["-c:v", "mjpeg", "-q:v", "2"]),
    "yuv444.mp4": ((320, 240), "24", X264 + ["-pix_fmt", "yuv444p", "-colorspace", "bt709", "-color_range", "tv"]),
    "anim.gif": ((320, 240), "24", []),
    "hevc10.mp4": (
        (320, 240),
        "24",
        [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:lossless=1",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ],
    ),
    "prores.mov": (
        (320, 240),
        "24",
        [
            "-c:v",
            "prores_ks",
            "-profile:v",
            "3",
            "-pix_fmt",
            "yuv422p10le",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ],
    ),
    "hd_untagged.mp4": ((1280, 720), "24", X264 + ["-pix_fmt", "yuv420p"]),
    "wide_sd.mp4": ((852, 480), "25", X264 + ["-pix_fmt", "yuv420p", "-colorspace", "smpte170m"]),
    "bt2020.mkv": (
        (320, 240),
        "24",
        [
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv444p10le",
            "-vf",
            "scale=out_color_matrix=bt2020:out_range=tv,setparams=colorspace=bt2020nc",
        ],
    ),
    "prores4444.mov": (
        (320, 240),
        "24",
        [
            "-c:v",
            "prores_ks",
            "-profile:v",
            "4",
            "-pix_fmt",
            "yuva444p12le",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
        ],
    ),
    "pq.mp4": (
        (320, 240),
        "24",
        [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
        ],
    ),
}
FRAMES = 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("colour")
    for name, (size, rate, args) in CLIPS.items():
        encode(folder / name, FRAMES, rate=rate, size=size, args=args)
    return folder


def psnr(a: np.ndarray, b: np.ndarray, peak: int = 255) -> list[float]:
    """Per-channel PSNR in dB (99 for identical channels)."""
    out = []
    for c in range(3):
        mse = ((a[..., c].astype(np.float64) - b[..., c].astype(np.float64)) ** 2).mean()
        out.append(99.0 if mse == 0 else float(10 * np.log10(peak * peak / mse)))
    return out


def _render(
    folder: Path,
    src: Path,
    out: str,
    *,
    graph: bool,
    size,
    rate="24",
    source_extra="",
    encode_extra="",
    frames=FRAMES,
    bits=8,
) -> Path:
    """``src`` into ``out``: straight through, or through a grade that changes nothing visible."""
    w, h = size
    image = out.endswith(".png")
    grade = '[nodes.g]\ntype = "effect.grade"\ninput = "src"\nexposure = 1e-6\n' if graph else ""
    target = (
        f'type = "encode.image_sequence"\npath = "{out}"\nbits = "{bits}"\n'
        if image
        else f'type = "encode.video"\npath = "{out}"\n{encode_extra}\n'
    )
    body = (
        f'[pipeline]\nwidth = {w}\nheight = {h}\nfps = "{rate}"\nduration = {frames}\n'
        f'[nodes.src]\ntype = "source.video"\npath = "{src}"\n{source_extra}\n{grade}'
        f'[nodes.out]\ninput = "{"g" if graph else "src"}"\n{target}'
    )
    p = write_pipeline(folder, body, Path(out).stem.replace("%", "") + ".toml")
    render(build(load(p)), RenderOptions(device="cpu"))
    return folder / (out.replace("%04d", "0000") if image else out)


def _png_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        deep = frame.format.name.startswith(("rgb48", "rgba64"))
        return frame.to_ndarray(format="rgb48le" if deep else "rgb24")


# --- colour in: what the graph receives -------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "pal.mp4",
        "ntsc.mp4",
        "untagged.mp4",
        "full.mp4",
        "yuvj.mp4",
        "mjpeg.avi",
        "yuv444.mp4",
        "anim.gif",
        "prores.mov",
        "wide_sd.mp4",
    ],
)
def test_graph_input_matches_the_ffmpeg_cli(corpus, tmp_path, name):
    """BT.601 SD, untagged SD (601), full range, MJPEG (both), 4:4:4, GIF (no matrix), 10-bit 4:2:2,
    and 852-wide SD, whose right edge swscale's 8-bit YUV-to-RGBA path leaves unwritten."""
    size, rate, _ = CLIPS[name]
    png = _render(tmp_path, corpus / name, "f_%04d.png", graph=True, size=size, rate=rate)
    got = _png_rgb(png)[..., :3]
    ref = ffmpeg_frames(corpus / name)[0]
    assert min(psnr(got, ref)) >= 40, (name, psnr(got, ref))
    edge = np.abs(got[:, -8:].astype(int) - ref[:, -8:].astype(int))  # the last columns too
    assert edge.mean() < 2, (name, edge.mean())


def test_untagged_hd_is_bt709_and_the_matrix_can_be_overridden(corpus, tmp_path):
    """Players read untagged 720p as BT.709 (the ffmpeg CLI reads any untagged file as 601)."""
    src = corpus / "hd_untagged.mp4"
    auto = _png_rgb(_render(tmp_path, src, "a_%04d.png", graph=True, size=(1280, 720), frames=1))
    forced = _png_rgb(
        _render(
            tmp_path, src, "b_%04d.png", graph=True, size=(1280, 720), frames=1, source_extra='color_matrix = "bt601"'
        )
    )
    as709 = ffmpeg_frames(src, vf="scale=in_color_matrix=bt709")[0]
    as601 = ffmpeg_frames(src)[0]
    assert min(psnr(auto, as709)) >= 40 and min(psnr(auto, as601)) < 35
    assert min(psnr(forced, as601)) >= 40


def test_range_override_reads_limited_codes_as_full(corpus, tmp_path):
    src = corpus / "untagged.mp4"
    full = _png_rgb(
        _render(tmp_path, src, "r_%04d.png", graph=True, size=(320, 240), frames=1, source_extra='color_range = "full"')
    )
    ref = ffmpeg_frames(src, vf="scale=in_range=pc")[0]
    assert min(psnr(full, ref)) >= 40


def test_a_yuvj_stream_can_be_read_as_limited_range(corpus, tmp_path):
    """A mis-flagged camera file: yuvj420p whose codes are really limited range."""
    src = corpus / "yuvj.mp4"
    got = _png_rgb(
        _render(
            tmp_path, src, "j_%04d.png", graph=True, size=(320, 240), frames=1, source_extra='color_range = "limited"'
        )
    )
    plain = tmp_path / "plain.mkv"  # the same samples relabelled yuv420p: ffmpeg reads them as limited
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(src),
            "-c:v",
            "ffv1",
            "-vf",
            "scale=in_range=pc:out_range=pc,format=yuv420p,setparams=range=tv",
            str(plain),
        ],
        check=True,
    )
    ref = ffmpeg_frames(plain)[0]
    assert min(psnr(got, ref)) >= 40 and min(psnr(got, ffmpeg_frames(src)[0])) < 35
    out = _render(
        tmp_path,
        src,
        "j.mp4",
        graph=False,
        size=(320, 240),
        frames=1,
        source_extra='color_range = "limited"',
        encode_extra='crf = 0\naudio_codec = "none"',
    )
    assert "yuv420p(tv" in ffprobe_line(out) and min(psnr(ffmpeg_frames(out)[0], ref)) >= 40


@pytest.mark.parametrize(
    "name,vf", [("hevc10.mp4", "scale=in_chroma_loc=left"), ("bt2020.mkv", None), ("prores4444.mov", None)]
)
def test_deep_sources_keep_their_depth_into_the_graph(corpus, tmp_path, name, vf):
    """16-bit PNGs out of a 10/12-bit source match ffmpeg's rgb48 closer than an 8-bit step.

    HEVC says 4:2:0 chroma is left-sited when the stream does not say; the ffmpeg CLI assumes
    centre for an unflagged stream, so for it the reference is told left (PyAV's swscale and
    ffmpeg then agree bit for bit; without it they differ by a quarter chroma sample at edges).
    """
    got = _png_rgb(_render(tmp_path, corpus / name, "d_%04d.png", graph=True, size=(320, 240), bits=16))
    ref = ffmpeg_frames(corpus / name, vf=vf, deep=True)[0]
    assert got.dtype == np.uint16 and min(psnr(got, ref, peak=65535)) >= 40, psnr(got, ref, peak=65535)
    ramp = slice(60, 120)  # the grey ramp: an 8-bit step is 257 here
    err = np.abs(got[ramp].astype(int) - ref[ramp]).mean()
    assert err < 257 / 8, err


# --- colour out: tags and pixels of what is written --------------------------------------------------


@pytest.mark.parametrize(
    "name,tags",
    [
        ("pal.mp4", "yuv420p(tv, bt470bg, "),
        ("ntsc.mp4", "yuv420p(tv, smpte170m/"),
        ("untagged.mp4", "yuv420p(tv, smpte170m/"),
        ("full.mp4", "yuvj420p(pc, bt709/"),
        ("mjpeg.avi", "yuvj420p(pc, bt470bg/"),
    ],
)
def test_pass_through_keeps_matrix_and_range(corpus, tmp_path, name, tags):
    """Decoded frames go straight to the encoder with their own tags (untagged SD written as 601)."""
    size, rate, _ = CLIPS[name]
    out = _render(
        tmp_path,
        corpus / name,
        "o.mp4",
        graph=False,
        size=size,
        rate=rate,
        encode_extra='crf = 0\naudio_codec = "none"',
    )
    assert tags in ffprobe_line(out), ffprobe_line(out)
    reference = tmp_path / "ff.mp4"  # the ffmpeg CLI's own transcode to 4:2:0
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(corpus / name),
            *X264,
            "-pix_fmt",
            "yuv420p",
            str(reference),
        ],
        check=True,
    )
    assert min(psnr(ffmpeg_frames(out)[0], ffmpeg_frames(reference)[0])) >= 40


@pytest.mark.parametrize("name", ["pal.mp4", "full.mp4", "mjpeg.avi"])
def test_graph_output_is_bt709_limited_and_looks_like_the_source(corpus, tmp_path, name):
    size, rate, _ = CLIPS[name]
    out = _render(
        tmp_path,
        corpus / name,
        "g.mkv",
        graph=True,
        size=size,
        rate=rate,
        encode_extra='crf = 0\npix_fmt = "yuv444p"\naudio_codec = "none"',
    )
    assert "yuv444p(tv, bt709/bt709/iec61966-2-1" in ffprobe_line(out), ffprobe_line(out)
    assert min(psnr(ffmpeg_frames(out)[0], ffmpeg_frames(corpus / name)[0])) >= 40


def test_gif_straight_to_h264_is_converted_as_graph_output(corpus, tmp_path):
    """An RGB stream is not handed to swscale's BT.601 default and then tagged BT.709."""
    out = _render(
        tmp_path,
        corpus / "anim.gif",
        "gif.mkv",
        graph=False,
        size=(320, 240),
        encode_extra='crf = 0\npix_fmt = "yuv444p"\naudio_codec = "none"',
    )
    assert "yuv444p(tv, bt709/bt709/iec61966-2-1" in ffprobe_line(out), ffprobe_line(out)
    assert min(psnr(ffmpeg_frames(out)[0], ffmpeg_frames(corpus / "anim.gif")[0])) >= 40


BARS = """
[pipeline]
width = 160
height = 120
fps = 24
duration = 6
[nodes.bars]
type = "source.testpattern"
pattern = "bars"
tone = 440
[nodes.out]
type = "encode.video"
input = "bars"
path = "{path}"
codec = "{codec}"
{extra}
"""


def _bars(folder: Path, path: str, codec: str = "h264", extra: str = "", name: str | None = None) -> Path:
    p = write_pipeline(folder, BARS.format(path=path, codec=codec, extra=extra), name or Path(path).stem + ".toml")
    render(build(load(p)), RenderOptions(device="cpu"))
    return folder / path


@pytest.mark.parametrize("matrix,tag", [("auto", "bt709"), ("bt601", "smpte170m")])
def test_both_backends_write_the_same_tags_and_pixels(tmp_path, matrix, tag):
    extra = f'crf = 0\ncolor_matrix = "{matrix}"'
    pyav = _bars(tmp_path, "a.mp4", extra=extra)
    pipe = _bars(tmp_path, "b.mp4", extra=extra + '\nbackend = "ffmpeg"')
    for out in (pyav, pipe):
        assert f"yuv420p(tv, {tag}/bt709/iec61966-2-1" in ffprobe_line(out), ffprobe_line(out)
    assert min(psnr(ffmpeg_frames(pyav)[3], ffmpeg_frames(pipe)[3])) >= 40


def _tags(path: Path) -> str:
    """The colour part of ffmpeg's stream line: ``yuv420p(tv, bt470bg, progressive)`` -> ``tv, bt470bg``."""
    found = re.search(r"yuv\w+\(([^)]*)\)", ffprobe_line(path)).group(1)
    return found.replace(", progressive", "")


@pytest.mark.parametrize("name", ["pal.mp4", "full.mp4"])
def test_both_backends_keep_a_passed_through_sources_tags(corpus, tmp_path, name):
    size, rate, _ = CLIPS[name]
    outs = [
        _render(
            tmp_path,
            corpus / name,
            f"{backend}.mp4",
            graph=False,
            size=size,
            rate=rate,
            encode_extra=f'crf = 0\naudio_codec = "none"\nbackend = "{backend}"',
        )
        for backend in ("pyav", "ffmpeg")
    ]
    assert _tags(outs[0]) == _tags(outs[1]) == _tags(corpus / name), [_tags(p) for p in outs]
    assert min(psnr(ffmpeg_frames(outs[0])[0], ffmpeg_frames(outs[1])[0])) >= 40


def test_bt601_output_converts_instead_of_retagging(corpus, tmp_path):
    """A 709 source written with color_matrix = "bt601" looks the same to the ffmpeg CLI."""
    out = _render(
        tmp_path,
        corpus / "full.mp4",
        "c.mp4",
        graph=False,
        size=(320, 240),
        encode_extra='crf = 0\ncolor_matrix = "bt601"\ncolor_range = "limited"\naudio_codec = "none"',
    )
    assert "yuv420p(tv, smpte170m/" in ffprobe_line(out)
    assert min(psnr(ffmpeg_frames(out)[0], ffmpeg_frames(corpus / "full.mp4")[0])) >= 35


def test_444_to_420_chroma_as_sharp_as_ffmpeg(corpus, tmp_path):
    src = corpus / "yuv444.mp4"
    reference = tmp_path / "ff420.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(src), *X264, "-pix_fmt", "yuv420p", str(reference)],
        check=True,
    )
    truth = ffmpeg_frames(src)[0]
    theirs = psnr(ffmpeg_frames(reference)[0], truth)
    for graph in (False, True):
        out = _render(tmp_path, src, f"v{int(graph)}.mp4", graph=graph, size=(320, 240), encode_extra="crf = 0")
        ours = psnr(ffmpeg_frames(out)[0], truth)
        assert all(o >= t - 0.1 for o, t in zip(ours, theirs)), (graph, ours, theirs)


# --- precision ----------------------------------------------------------------------------------------


def test_16bit_input_decodes_through_a_16bit_table():
    from vfx.ops import color

    codes = np.arange(65536, dtype=np.uint16)
    rgba = np.stack([codes, codes[::-1], codes, np.full(65536, 65535, np.uint16)], -1).reshape(1, 256, 256, 4)
    linear = color.to_linear(rgba, premultiply=False).permute(0, 2, 3, 1).numpy()
    x = codes.astype(np.float64) / 65535
    exact = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    assert np.abs(linear[0, ..., 0].reshape(-1) - exact).max() < 1e-6
    assert len(np.unique(linear[..., 0])) == 65536 and np.all(linear[..., 3] == 1)
    back = color.from_linear(color.to_linear(rgba), alpha=False, bits=16)
    assert np.abs(back.astype(int) - rgba[..., :3]).max() <= 8  # the 16-bit linear step at black


@pytest.mark.gpu
def test_16bit_input_on_cuda_matches_the_cpu():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from vfx.ops import color

    rgba = np.random.default_rng(1).integers(0, 65536, (2, 32, 48, 4)).astype(np.uint16)
    cpu = color.to_linear(rgba)
    gpu = color.to_linear(rgba, device="cuda").cpu()
    assert torch.allclose(cpu, gpu, atol=1e-6)


RAMP_W, RAMP_H = 1024, 16


@pytest.fixture(scope="module")
def ramp(tmp_path_factory) -> Path:
    """ProRes 4:2:2 10-bit whose luma runs through all 877 limited-range codes (64..940)."""
    path = tmp_path_factory.mktemp("ramp") / "ramp.mov"
    y = (64 + np.round(np.arange(RAMP_W) * 876 / (RAMP_W - 1))).astype("<u2")
    planes = np.tile(y, (RAMP_H, 1)).tobytes() + np.full((2, RAMP_H, RAMP_W // 2), 512, "<u2").tobytes()
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv422p10le",
            "-s",
            f"{RAMP_W}x{RAMP_H}",
            "-r",
            "24",
            "-i",
            "-",
            "-c:v",
            "prores_ks",
            "-profile:v",
            "3",
            "-colorspace",
            "bt709",
            "-color_range",
            "tv",
            str(path),
        ],
        input=planes * 2,
        check=True,
    )
    return path


def _luma_codes(path: Path) -> int:
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        plane = frame.planes[0]
        y = np.frombuffer(plane, "<u2").reshape(RAMP_H, plane.line_size // 2)[:, :RAMP_W]
        return len(np.unique(y))


@pytest.mark.parametrize("codec,ext", [("prores", ".mov"), ("ffv1", ".mkv")])
def test_10bit_ramp_keeps_its_levels_through_a_grade(ramp, tmp_path, codec, ext):
    """All 877 luma codes of a 10-bit ramp survive an identity grade into a 10-bit file, as with ffmpeg."""
    ffmpeg_out = tmp_path / f"ff{ext}"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-y",
            "-loglevel",
            "error",
            "-i",
            str(ramp),
            "-c:v",
            {"prores": "prores_ks", "ffv1": "ffv1"}[codec],
            "-pix_fmt",
            "yuv422p10le",
            str(ffmpeg_out),
        ],
        check=True,
    )
    assert _luma_codes(ramp) == 877 and _luma_codes(ffmpeg_out) >= 870
    for graph in (False, True):
        out = _render(
            tmp_path,
            ramp,
            f"r{int(graph)}{ext}",
            graph=graph,
            size=(RAMP_W, RAMP_H),
            encode_extra=f'codec = "{codec}"\npix_fmt = "yuv422p10le"\naudio_codec = "none"',
        )
        assert _luma_codes(out) >= 870, (graph, _luma_codes(out))


# --- containers -----------------------------------------------------------------------------------------


def _top_level_boxes(path: Path) -> list[str]:
    data = Path(path).read_bytes()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        pos += size
    return boxes


@pytest.mark.parametrize(
    "path,backend", [("f.mp4", "pyav"), ("f.mov", "pyav"), ("g.mp4", "ffmpeg"), ("n.mp4", "ffmpeg")]
)
def test_mp4_and_mov_are_fast_start(tmp_path, path, backend):
    extra = f'backend = "{backend}"' + ('\naudio_codec = "none"' if path.startswith("n") else "")
    boxes = _top_level_boxes(_bars(tmp_path, path, extra=extra))
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_farm_join_is_fast_start(corpus, tmp_path):
    from vfx.farm.join import remux

    parts = [encode(tmp_path / f"s{k}.mp4", 6, first=6 * k, args=X264 + ["-g", "6"]) for k in range(2)]
    assert remux(parts, [0, 6], [6, 6], Fraction(24), tmp_path / "j.mp4") == 12
    boxes = _top_level_boxes(tmp_path / "j.mp4")
    assert boxes.index("moov") < boxes.index("mdat"), boxes


def test_webm_gets_opus_audio_by_default(tmp_path):
    out = _bars(tmp_path, "w.webm", codec="vp9", extra='crf = 40\npreset = "realtime"')
    info = stream_info(out)
    assert (info["codec"], info["audio_codec"], info["sample_rate"]) == ("vp9", "opus", 48000)
    with av.open(str(out)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert abs(samples / 48000 - 0.25) < 0.03  # 6 frames at 24 fps


def test_opus_resamples_a_44k_pipeline(tmp_path):
    body = BARS.format(path="w.mkv", codec="h264", extra='audio_codec = "opus"').replace(
        "duration = 6", "duration = 6\nsample_rate = 44100"
    )
    render(build(load(write_pipeline(tmp_path, body))), RenderOptions(device="cpu"))
    with av.open(str(tmp_path / "w.mkv")) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    assert stream_info(tmp_path / "w.mkv")["sample_rate"] == 48000 and np.abs(audio).max() > 0.05


def test_audio_codec_errors_suggest_one_that_fits(tmp_path):
    p = write_pipeline(tmp_path, BARS.format(path="w.webm", codec="vp9", extra='audio_codec = "aac"'))
    res = run_vfx("validate", p)
    assert res.returncode == 2 and "option 'audio_codec'" in res.stderr
    assert 'audio_codec = "opus"' in res.stderr and 'audio_codec = "aac"' not in res.stderr, res.stderr


def test_x265_is_quiet(tmp_path):
    p = write_pipeline(tmp_path, BARS.format(path="h.mp4", codec="h265", extra='preset = "ultrafast"'))
    res = run_vfx("render", p, "--quiet")
    assert res.returncode == 0, res.stderr
    assert "x265 [" not in res.stderr, res.stderr


@pytest.mark.parametrize("backend", ["pyav", "ffmpeg"])
def test_sample_aspect_ratio_is_written(tmp_path, backend):
    from vfx.frames import FrameBatch
    from vfx.plugins import get_registry
    import torch

    writer = (
        get_registry()
        .backends[backend]
        .open_writer(
            tmp_path / "s.mp4",
            codec="h264",
            encoder=None,
            width=64,
            height=48,
            fps=Fraction(24),
            alpha=False,
            crf=None,
            bitrate=None,
            preset=None,
            pix_fmt=None,
            audio_codec=None,
            audio_bitrate="192k",
            sample_rate=48000,
            channels=2,
            threads=0,
            color_matrix="auto",
            color_range="auto",
            sar=Fraction(16, 15),
        )
    )
    writer.write(FrameBatch([0, 1], torch.full((2, 4, 48, 64), 0.5)))
    writer.close()
    assert "SAR 16:15" in ffprobe_line(tmp_path / "s.mp4"), ffprobe_line(tmp_path / "s.mp4")


@pytest.mark.parametrize("graph", [False, True])
def test_anamorphic_source_kept_anamorphic_writes_its_sar(tmp_path, graph):
    src = encode(tmp_path / "ana.mp4", 2, rate="25", size=(320, 240), args=X264 + ["-vf", "setsar=16/15"])
    assert "SAR 16:15" in ffprobe_line(src)
    for backend in ("pyav", "ffmpeg"):
        out = _render(
            tmp_path,
            src,
            f"a{backend}{int(graph)}.mp4",
            graph=graph,
            size=(320, 240),
            rate="25",
            source_extra='pixel_aspect = "keep"',
            encode_extra=f'backend = "{backend}"',
        )
        assert "SAR 16:15" in ffprobe_line(out), (backend, ffprobe_line(out))


def test_hdr_is_refused_in_the_graph_and_kept_on_pass_through(corpus, tmp_path):
    """The graph works in SDR: PQ pictures that a node would change are refused by name (exit 2),
    while a transcode that only passes them through keeps them and their tags."""
    size, rate, _ = CLIPS["pq.mp4"]
    with pytest.raises(vfx.MediaError) as info:
        _render(tmp_path, corpus / "pq.mp4", "graded.mp4", graph=True, size=size, rate=rate)
    assert info.value.exit_code == 2
    assert all(f in str(info.value) for f in ("node 'src'", "pq.mp4", "HDR", "smpte2084"))
    assert not (tmp_path / "graded.mp4").exists()
    out = _render(
        tmp_path,
        corpus / "pq.mp4",
        "copy.mp4",
        graph=False,
        size=size,
        rate=rate,
        encode_extra='codec = "h265"\npix_fmt = "yuv420p10le"\naudio_codec = "none"',
    )
    assert "bt2020nc/bt2020/smpte2084" in ffprobe_line(out)
    # a file mis-tagged as HDR can be read as SDR: the grade renders, a pass-through writes the new tag
    graded = _render(
        tmp_path,
        corpus / "pq.mp4",
        "sdr.mp4",
        graph=True,
        size=size,
        rate=rate,
        source_extra='color_transfer = "bt709"',
    )
    assert graded.exists()
    out = _render(
        tmp_path,
        corpus / "pq.mp4",
        "copy709.mp4",
        graph=False,
        size=size,
        rate=rate,
        source_extra='color_transfer = "bt709"',
        encode_extra='codec = "h265"\npix_fmt = "yuv420p10le"\naudio_codec = "none"',
    )
    assert "bt2020nc/bt2020/bt709" in ffprobe_line(out)


def test_a_jpeg_of_any_width_is_read_to_its_right_edge(tmp_path):
    """At widths that are not a multiple of 16, swscale's 8-bit YUV-to-RGBA leaves the row ends unwritten."""
    from PIL import Image

    from vfx.media.images import read_image

    x = np.linspace(0, 255, 226)
    smooth = np.stack([np.tile(x, (64, 1)), np.tile(x[::-1], (64, 1)), np.full((64, 226), 128.0)], -1)
    Image.fromarray(smooth.round().astype(np.uint8)).save(tmp_path / "w226.jpg", quality=100)
    ref = np.asarray(Image.open(tmp_path / "w226.jpg").convert("RGB")).astype(int)
    got = read_image(tmp_path / "w226.jpg")
    assert got.shape == (64, 226, 4) and (got[..., 3] == 255).all()
    assert np.abs(got[..., :3].astype(int) - ref).max() <= 4
