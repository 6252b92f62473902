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


class FfmpegPipeWriter:
    """Same interface as ``VideoWriter``; encodes with an ffmpeg subprocess."""

    def __init__(self, path: Path, *, encoder: str, width: int, height: int, fps: Fraction, pix_fmt: str,
                 crf: int | None, bitrate: str | None, preset: str | None, audio_codec: str | None,
                 sample_rate: int, channels: int, audio_bitrate: str = "192k"):
        import ffmpeg
        exe = ffmpeg_binary()
        if not exe:
            raise MediaError("no ffmpeg binary found (set VFX_FFMPEG or install imageio-ffmpeg)")
        self.path = Path(path)
        self.width, self.height = width, height
        self.video_tmp = self.path.with_name(self.path.stem + ".video" + self.path.suffix)
        kwargs = {"vcodec": encoder, "pix_fmt": pix_fmt, "r": str(fps), "colorspace": "bt709",
                  "color_primaries": "bt709", "color_trc": "iec61966-2-1"}
        if crf is not None:
            kwargs["cq" if "nvenc" in encoder else "crf"] = crf
        if bitrate:
            kwargs["b:v"] = bitrate
        if preset:
            kwargs["preset"] = preset
        stream = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                               framerate=str(fps))
                  .output(str(self.video_tmp), **kwargs).overwrite_output().global_args("-loglevel", "error"))
        self.process = stream.run_async(cmd=exe, pipe_stdin=True, pipe_stderr=True)
        self.audio_codec = audio_codec
        self.audio_bitrate = audio_bitrate
        self.sample_rate, self.channels = sample_rate, channels
        self.audio_tmp = self.path.with_name(self.path.stem + ".audio.f32")
        self._audio_file = open(self.audio_tmp, "wb") if audio_codec else None

    def prepare(self, batch: FrameBatch) -> bytes:
        """The batch as packed RGB bytes for the pipe."""
        return color.from_linear(batch.pixels, alpha=False).tobytes()

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
        from .encode import AUDIO_CODECS
        samples = np.fromfile(self.audio_tmp, dtype=np.float32).reshape(-1, self.channels).T
        with av.open(str(self.video_tmp)) as src, av.open(str(self.path), "w") as dst:
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            a = dst.add_stream(AUDIO_CODECS[self.audio_codec], rate=self.sample_rate)
            a.layout = "stereo" if self.channels == 2 else "mono"
            fmt = "fltp" if self.audio_codec == "aac" else "s16"
            a.format = fmt
            if self.audio_codec == "aac":
                from .encode import parse_bitrate
                a.bit_rate = parse_bitrate(self.audio_bitrate)
            for packet in src.demux(vin):
                if packet.dts is None:
                    continue
                packet.stream = vout
                dst.mux(packet)
            data = np.clip(samples, -1, 1)
            if fmt == "s16":
                data = (data * 32767).round().astype(np.int16).T.reshape(1, -1).copy()
            fifo = av.AudioFifo()
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=a.layout.name)
            frame.sample_rate = self.sample_rate
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
