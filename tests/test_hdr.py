"""HDR deliverables: Rec.2100 PQ and HLG video from a [color] pipeline, tagged, with mastering
metadata, their code values those OpenColorIO computes, and an SDR deliverable beside them."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.media.exr import write_exr
from vfx.pipeline import load

from conftest import run_vfx, write_pipeline
from media_corpus import ffmpeg_exe, ffprobe_line

ocio = pytest.importorskip("PyOpenColorIO")
CONFIG = "studio-config-latest"
PQ_VIEW = "ACES 2.0 - HDR 1000 nits (P3 D65)"
MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
GREY = 0.18


def pipeline(tmp_path, encoders: str) -> object:
    grey = np.full((48, 64, 4), GREY, np.float32)
    grey[..., 3] = 1
    write_exr(tmp_path / "grey.exr", {"": grey}, pixel_type="float")
    return write_pipeline(
        tmp_path,
        f"""
        format = 1
        [pipeline]
        width = 64
        height = 48
        fps = 24
        [color]
        config = "{CONFIG}"
        working_space = "ACEScg"
        [nodes.plate]
        type = "source.exr_sequence"
        path = "grey.exr"
        alpha = false
        duration = 6
        {encoders}
        """,
    )


def expected_code(display: str, view: str) -> float:
    """The display's code value (0..1) of ACEScg grey through this display and view, by OCIO itself."""
    config = ocio.Config.CreateFromBuiltinConfig(CONFIG)
    t = ocio.DisplayViewTransform(src="ACEScg", display=display, view=view)
    rgb = np.full((1, 1, 3), GREY, np.float32)
    config.getProcessor(t).getDefaultCPUProcessor().applyRGB(rgb)
    assert np.ptp(rgb) < 1e-6  # grey stays grey
    return float(rgb[0, 0, 0])


def luma_codes(path) -> tuple[np.ndarray, object]:
    """The 10-bit Y' plane of the first frame, and the frame (PyAV)."""
    import av

    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
    assert frame.format.name == "yuv420p10le"
    y = np.frombuffer(frame.planes[0], np.uint16).reshape(frame.height, -1)[:, : frame.width]
    return y, frame


def showinfo(path) -> str:
    """What the ffmpeg CLI reports of the first frame, side data included."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-i", str(path), "-vf", "showinfo", "-frames:v", "1", "-f", "null", "-"]
    return subprocess.run(cmd, capture_output=True, text=True).stderr


def test_pq_and_hlg_outputs_are_tagged_with_their_metadata_and_codes(tmp_path):
    p = pipeline(
        tmp_path,
        f"""
        [nodes.pq]
        type = "encode.video"
        input = "plate"
        path = "pq.mp4"
        codec = "h265"
        crf = 4
        display = "Rec.2100-PQ - Display"
        view = "{PQ_VIEW}"
        mastering_display = "{MASTERING}"
        max_cll = "1000,400"
        [nodes.hlg]
        type = "encode.video"
        input = "plate"
        path = "hlg.mov"
        codec = "prores"
        display = "Rec.2100-HLG - Display"
        view = "{PQ_VIEW}"
        [nodes.sdr]
        type = "encode.video"
        input = "plate"
        path = "sdr.mp4"
        crf = 4
        display = "sRGB - Display"
        view = "ACES 2.0 - SDR 100 nits (Rec.709)"
        """,
    )
    render(build(load(p)), RenderOptions(device="cpu"))
    pq_line = ffprobe_line(tmp_path / "pq.mp4")
    assert "yuv420p10le" in pq_line and "bt2020nc/bt2020/smpte2084" in pq_line, pq_line
    assert "bt2020nc/bt2020/arib-std-b67" in ffprobe_line(tmp_path / "hlg.mov")
    assert "bt2020" not in ffprobe_line(tmp_path / "sdr.mp4")  # the tone-mapped SDR deliverable
    info = showinfo(tmp_path / "pq.mp4")
    assert "mastering display" in info.lower() and "content light level" in info.lower(), info
    assert "MaxCLL=1000" in info.replace(" ", "") or "max_content=1000" in info.replace(" ", ""), info

    y, frame = luma_codes(tmp_path / "pq.mp4")
    assert (frame.color_trc, frame.color_primaries, frame.colorspace) == (16, 9, 9)
    kinds = {str(sd.type).lower() for sd in frame.side_data}
    assert any("mastering" in k for k in kinds) and any("light" in k for k in kinds), kinds
    want = 64 + 876 * expected_code("Rec.2100-PQ - Display", PQ_VIEW)  # limited-range 10-bit Y'
    assert abs(float(y.mean()) - want) < 1.5, (float(y.mean()), want)
    y_hlg, _ = luma_codes_prores(tmp_path / "hlg.mov")
    want_hlg = 64 + 876 * expected_code("Rec.2100-HLG - Display", PQ_VIEW)
    assert abs(float(y_hlg.mean()) - want_hlg) < 1.5, (float(y_hlg.mean()), want_hlg)


def luma_codes_prores(path) -> tuple[np.ndarray, object]:
    import av

    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.color_trc == 18  # (ProRes frames do not carry it)
        frame = next(c.decode(video=0))
    y = np.frombuffer(frame.planes[0], np.uint16).reshape(frame.height, -1)[:, : frame.width]
    return y, frame


@pytest.mark.parametrize(
    "options, option",
    [
        ('codec = "h264"\nhdr = "pq"', "codec"),
        ('codec = "h265"\nhdr = "pq"\npix_fmt = "yuv420p"', "pix_fmt"),
        ('codec = "h265"\nmax_cll = "1000,400"', "max_cll"),
        ('codec = "h265"\nhdr = "pq"\nmastering_display = "1000 nits"', "mastering_display"),
        ('codec = "h265"\nprimaries = "bt2020"\nbackend = "ffmpeg"', "primaries"),
        ('codec = "h265"\nhdr = "pq"\nbackend = "ffmpeg"', "backend"),
    ],
)
def test_bad_hdr_settings_name_the_node_and_option(tmp_path, options, option):
    p = pipeline(tmp_path, f'[nodes.out]\ntype = "encode.video"\ninput = "plate"\npath = "o.mp4"\n{options}\n')
    res = run_vfx("validate", p)
    assert res.returncode == 2 and f"node 'out': option '{option}'" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


def test_hdr_without_a_color_table_is_refused(tmp_path):
    """Without OCIO's display codes the encoder would write sRGB-encoded values tagged PQ."""
    p = write_pipeline(
        tmp_path,
        """
        format = 1
        [pipeline]
        width = 64
        height = 48
        [nodes.plate]
        type = "source.color"
        [nodes.out]
        type = "encode.video"
        input = "plate"
        path = "o.mp4"
        codec = "h265"
        hdr = "pq"
        """,
    )
    res = run_vfx("validate", p)
    assert res.returncode == 2 and "node 'out': option 'hdr': hdr needs a [color] table" in res.stderr, res.stderr
    assert not (tmp_path / "o.mp4").exists()
