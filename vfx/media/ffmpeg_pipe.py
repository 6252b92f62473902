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
from .. import color


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
        text = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True,
                              timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*V[.A-Z]{5}\s+(\S+)\s+(.*)$", line)
        if m and m.group(1) != "=":
            out[m.group(1)] = m.group(2).strip()
    return out


_FF_MATRIX = {"bt601": ("bt601", "smpte170m"), "bt709": ("bt709", "bt709"), "bt2020": ("bt2020", "bt2020nc")}


def colour_filters(pix_fmt: str, color_matrix: str = "auto", color_range: str = "auto",
                   sar: Fraction | None = None) -> list[tuple[str, dict]]:
    """The ffmpeg filters that convert graph RGB to ``pix_fmt`` and tag it as ``VideoWriter`` does.

    (The ffmpeg CLI converts with the encoder's ``-colorspace`` but drops primaries and transfer
    unless ``setparams`` sets them on the frames.)
    """
    filters = []
    if pix_fmt.startswith("yuv"):
        scale_name, tag_name = _FF_MATRIX["bt709" if color_matrix == "auto" else color_matrix]
        full = color_range == "full" or (color_range == "auto" and pix_fmt.startswith("yuvj"))
        rng = "pc" if full else "tv"
        filters += [("scale", {"out_color_matrix": scale_name, "out_range": rng, "flags": "bicubic"}),
                    ("setparams", {"colorspace": tag_name, "color_primaries": "bt709",
                                   "color_trc": "iec61966-2-1", "range": rng})]
    if sar is not None and sar > 0 and sar != 1:
        filters.append(("setsar", {"sar": f"{Fraction(sar).numerator}/{Fraction(sar).denominator}"}))
    return filters


class FfmpegPipeWriter:
    """Same interface as ``VideoWriter``; encodes with an ffmpeg subprocess (graph RGB in, 16-bit
    RGB for pix_fmts deeper than 8 bits), tagged as ``VideoWriter`` tags graph output."""

    def __init__(self, path: Path, *, encoder: str, width: int, height: int, fps: Fraction, pix_fmt: str,
                 crf: int | None, bitrate: str | None, preset: str | None, audio_codec: str | None,
                 sample_rate: int, channels: int, audio_bitrate: str = "192k", color_matrix: str = "auto",
                 color_range: str = "auto", sar: Fraction | None = None):
        import ffmpeg
        from .encode import container_options, high_bit_depth
        exe = ffmpeg_binary()
        if not exe:
            raise MediaError("no ffmpeg binary found (set VFX_FFMPEG or install imageio-ffmpeg)")
        self.path = Path(path)
        self.width, self.height = width, height
        self.deep = high_bit_depth(pix_fmt)
        self.video_tmp = self.path.with_name(self.path.stem + ".video" + self.path.suffix)
        kwargs = {"vcodec": encoder, "pix_fmt": pix_fmt, "r": str(fps)}
        filters = colour_filters(pix_fmt, color_matrix, color_range, sar)
        if pix_fmt.startswith("yuv"):
            tags = dict(filters[1][1])
            kwargs.update(colorspace=tags["colorspace"], color_primaries=tags["color_primaries"],
                          color_trc=tags["color_trc"], color_range=tags["range"])
        if crf is not None:
            kwargs["cq" if "nvenc" in encoder else "crf"] = crf
        if bitrate:
            kwargs["b:v"] = bitrate
        if preset:
            kwargs["preset"] = preset
        if encoder == "libx265":
            kwargs["x265-params"] = "log-level=error"
        kwargs.update(container_options(self.path))
        stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb48le" if self.deep else "rgb24",
                              s=f"{width}x{height}", framerate=str(fps))
        for name, args in filters:
            stream = stream.filter(name, **args)
        stream = stream.output(str(self.video_tmp), **kwargs).overwrite_output().global_args("-loglevel", "error")
        self.process = stream.run_async(cmd=exe, pipe_stdin=True, pipe_stderr=True)
        self.audio_codec = audio_codec
        self.audio_bitrate = audio_bitrate
        self.sample_rate, self.channels = sample_rate, channels
        self.audio_tmp = self.path.with_name(self.path.stem + ".audio.f32")
        self._audio_file = open(self.audio_tmp, "wb") if audio_codec else None

    def prepare(self, batch: FrameBatch) -> bytes:
        """The batch as packed RGB bytes for the pipe (16-bit little-endian for deep pix_fmts)."""
        return color.from_linear(batch.pixels, alpha=False, bits=16 if self.deep else 8).astype("<u2" if self.deep
                                                                                             else np.uint8).tobytes()

    def write(self, frames, audio: np.ndarray | None = None) -> None:
        data = self.prepare(frames) if isinstance(frames, FrameBatch) else frames
        try:
            self.process.stdin.write(data)
        except BrokenPipeError:
            raise MediaError(f"ffmpeg stopped: {self.process.stderr.read().decode(errors='replace')[-800:]}")
        if audio is not None and self._audio_file is not None:
            self._audio_file.write(np.ascontiguousarray(audio.T, dtype=np.float32).tobytes())

    def close(self) -> None:
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
        with av.open(str(self.video_tmp)) as src, \
                av.open(str(self.path), "w", options=container_options(self.path)) as dst:
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
            self.process.kill()
        except Exception:
            pass
        if self._audio_file is not None:
            self._audio_file.close()
        for p in (self.video_tmp, self.audio_tmp):
            p.unlink(missing_ok=True)
