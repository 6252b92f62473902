"""The second encoder backend: raw frames piped to an ffmpeg binary through ffmpeg-python.

For encoders PyAV's bundled FFmpeg lacks (``h264_nvenc``/``hevc_nvenc`` on GPU machines). Video
goes to a temporary file via the pipe; audio is collected in a temporary WAV and muxed at the
end by PyAV with the video packets copied, so the result is one file like the PyAV backend's.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..frames import FrameBatch
from ..ops import color
from ..util.atomic import sidecar
from .colorspace import PRIMARIES


def ffmpeg_binary() -> str | None:
    """``$VFX_FFMPEG``, else ``ffmpeg`` on PATH, else the one imageio-ffmpeg ships."""
    env = os.environ.get("VFX_FFMPEG")
    if env:
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return None


@functools.cache
def available_encoders() -> dict[str, str]:
    """Video encoders the ffmpeg binary lists (name -> description)."""
    exe = ffmpeg_binary()
    if not exe:
        return {}
    try:
        text = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*V[.A-Z]{5}\s+(\S+)\s+(.*)$", line)
        if m and m.group(1) != "=":
            out[m.group(1)] = m.group(2).strip()
    return out


#: AVColorSpace -> (the scale filter's matrix, the tag's name); AVColorTransferCharacteristic -> name
_FF_SPACE = {
    1: ("bt709", "bt709"),
    5: ("bt601", "bt470bg"),
    6: ("bt601", "smpte170m"),
    4: ("fcc", "fcc"),
    7: ("smpte240m", "smpte240m"),
    9: ("bt2020", "bt2020nc"),
    10: ("bt2020", "bt2020c"),
}
_FF_TRC = {
    1: "bt709",
    4: "bt470m",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    18: "arib-std-b67",
}


def colour_args(
    pix_fmt: str, colour, primaries: int, trc: int, sar: Fraction | None = None
) -> tuple[list[tuple[str, dict]], dict]:
    """The ffmpeg filters and output options that convert graph RGB to ``pix_fmt`` in ``colour``
    (a ``FrameColour``) and tag it as ``VideoWriter`` does (unknown primaries/transfer stay unknown).

    (The ffmpeg CLI converts with the encoder's ``-colorspace`` but drops primaries and transfer
    unless ``setparams`` sets them on the frames.)
    """
    filters, options = [], {}
    if pix_fmt.startswith("yuv"):
        scale_name, tag_name = _FF_SPACE.get(colour.matrix, ("bt709", "bt709"))
        rng = "pc" if colour.range == 2 else "tv"
        tags = {"colorspace": tag_name, "range": rng}
        if primaries in PRIMARIES:
            tags["color_primaries"] = PRIMARIES[primaries]
        if trc in _FF_TRC:
            tags["color_trc"] = _FF_TRC[trc]
        filters += [
            ("scale", {"out_color_matrix": scale_name, "out_range": rng, "flags": "bicubic"}),
            ("setparams", tags),
        ]
        options = {("color_range" if k == "range" else k): v for k, v in tags.items()}
    if sar is not None and sar > 0 and sar != 1:
        filters.append(("setsar", {"sar": f"{Fraction(sar).numerator}/{Fraction(sar).denominator}"}))
    return filters, options


class FfmpegPipeWriter:
    """Same interface as ``VideoWriter``; encodes with an ffmpeg subprocess (graph RGB in, 16-bit
    RGB for pix_fmts deeper than 8 bits), with the colour tags ``VideoWriter`` would write.

    The subprocess starts with the first batch, whose frames decide the tags (a source going
    straight to the output keeps its matrix, range, primaries and transfer).
    """

    def __init__(
        self,
        path: Path,
        *,
        encoder: str,
        width: int,
        height: int,
        fps: Fraction,
        pix_fmt: str,
        crf: int | None,
        bitrate: str | None,
        preset: str | None,
        audio_codec: str | None,
        sample_rate: int,
        channels: int,
        audio_bitrate: str = "192k",
        color_matrix: str = "auto",
        color_range: str = "auto",
        sar: Fraction | None = None,
    ):
        from .encode import container_options, high_bit_depth

        self.exe = ffmpeg_binary()
        if not self.exe:
            raise MediaError("no ffmpeg binary found (set VFX_FFMPEG or install imageio-ffmpeg)")
        self.path = Path(path)
        self.width, self.height, self.fps, self.pix_fmt = width, height, fps, pix_fmt
        self.deep = high_bit_depth(pix_fmt)
        self.video_tmp = sidecar(self.path, "video")
        kwargs = {"vcodec": encoder, "pix_fmt": pix_fmt, "r": str(fps)}
        if crf is not None:
            kwargs["cq" if "nvenc" in encoder else "crf"] = crf
        if bitrate:
            kwargs["b:v"] = bitrate
        if preset:
            kwargs["preset"] = preset
        if encoder == "libx265":
            kwargs["x265-params"] = "log-level=error"
        kwargs.update(container_options(self.path))
        self._kwargs, self._sar = kwargs, sar
        self._color_matrix, self._color_range = color_matrix, color_range
        self._first = None  # (colour, primaries, transfer), from the first batch prepared
        self.process = None
        self.audio_codec = audio_codec
        self.audio_bitrate = audio_bitrate
        self.sample_rate, self.channels = sample_rate, channels
        self.audio_tmp = sidecar(self.path, "audio", ".f32")
        self._audio_file = open(self.audio_tmp, "wb") if audio_codec else None

    def _start(self) -> None:
        import ffmpeg
        from .colorspace import output_colour

        colour, primaries, trc = self._first or output_colour(None, self.pix_fmt, self._color_matrix, self._color_range)
        filters, options = colour_args(self.pix_fmt, colour, primaries, trc, self._sar)
        stream = ffmpeg.input(
            "pipe:",
            format="rawvideo",
            pix_fmt="rgb48le" if self.deep else "rgb24",
            s=f"{self.width}x{self.height}",
            framerate=str(self.fps),
        )
        for name, args in filters:
            stream = stream.filter(name, **args)
        stream = (
            stream.output(str(self.video_tmp), **self._kwargs, **options)
            .overwrite_output()
            .global_args("-loglevel", "error")
        )
        self.process = stream.run_async(cmd=self.exe, pipe_stdin=True, pipe_stderr=True)

    def prepare(self, batch: FrameBatch) -> bytes:
        """The batch as packed RGB bytes for the pipe (16-bit little-endian for deep pix_fmts)."""
        if self._first is None:
            from .colorspace import format_kind, output_colour

            native = (
                batch.native
                if (batch.native is not None and (batch.width, batch.height) == (self.width, self.height))
                else None
            )
            first = native[0] if native and format_kind(native[0].format.name)[0] else None
            self._first = output_colour(first, self.pix_fmt, self._color_matrix, self._color_range)
        data = color.from_linear(batch.pixels, alpha=False, bits=16 if self.deep else 8)
        return data.astype("<u2" if self.deep else np.uint8, copy=False).tobytes()

    def write(self, frames, audio: np.ndarray | None = None) -> None:
        data = self.prepare(frames) if isinstance(frames, FrameBatch) else frames
        if self.process is None:
            self._start()
        try:
            self.process.stdin.write(data)
        except BrokenPipeError:
            raise MediaError(f"ffmpeg stopped: {self.process.stderr.read().decode(errors='replace')[-800:]}") from None
        if audio is not None and self._audio_file is not None:
            self._audio_file.write(np.ascontiguousarray(audio.T, dtype=np.float32).tobytes())

    def close(self) -> None:
        if self.process is None:
            self._start()
        self.process.stdin.close()
        err = self.process.stderr.read().decode(errors="replace")
        if self.process.wait() != 0:
            raise MediaError(f"ffmpeg failed: {err[-800:]}")
        if self._audio_file is None:
            os.replace(self.video_tmp, self.path)
            return
        self._audio_file.close()
        self._mux()
        self.video_tmp.unlink(missing_ok=True)
        self.audio_tmp.unlink(missing_ok=True)

    def _mux(self) -> None:
        import av
        from .encode import _AUDIO_FORMAT, AUDIO_CODECS, audio_rate, container_options, parse_bitrate

        samples = np.fromfile(self.audio_tmp, dtype=np.float32).reshape(-1, self.channels).T
        with (
            av.open(str(self.video_tmp)) as src,
            av.open(str(self.path), "w", options=container_options(self.path)) as dst,
        ):
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            rate = audio_rate(self.audio_codec, self.sample_rate)
            a = dst.add_stream(AUDIO_CODECS[self.audio_codec], rate=rate)
            a.layout = "stereo" if self.channels == 2 else "mono"
            fmt = _AUDIO_FORMAT[self.audio_codec]
            a.format = fmt
            if self.audio_codec in ("aac", "opus"):
                a.bit_rate = parse_bitrate(self.audio_bitrate)
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
            data = np.clip(samples, -1, 1)
            if fmt == "s16":
                data = (data * 32767).round().astype(np.int16).T.reshape(1, -1).copy()
            elif fmt == "flt":
                data = data.astype(np.float32).T.reshape(1, -1).copy()
            fifo = av.AudioFifo()
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=a.layout.name)
            frame.sample_rate = self.sample_rate
            if rate != self.sample_rate:
                resampler = av.AudioResampler(format=fmt, layout=a.layout.name, rate=rate)
                for f in resampler.resample(frame) + resampler.resample(None):
                    f.pts = None
                    fifo.write(f)
            else:
                fifo.write(frame)
            size = a.codec_context.frame_size or 1024
            pts = 0
            while fifo.samples:
                f = fifo.read(min(size, fifo.samples))
                f.pts = pts
                pts += f.samples
                for packet in a.encode(f):
                    dst.mux(packet)
            for packet in a.encode(None):
                dst.mux(packet)

    def abort(self) -> None:
        try:
            if self.process is not None:
                self.process.kill()
        except Exception:
            pass
        if self._audio_file is not None:
            self._audio_file.close()
        for p in (self.video_tmp, self.audio_tmp):
            p.unlink(missing_ok=True)
