"""Encoding through PyAV: codec presets, pixel conversion out of the graph, audio muxing.

``VideoWriter`` takes ``FrameBatch`` objects and float32 audio and writes one container.
Frames still holding their decoded YUV (a plain transcode) skip the RGB round trip and keep
their matrix and range tags (converted only when the output asks for others); frames from the
graph are written BT.709 limited range (sRGB transfer, BT.709 primaries) unless it asks otherwise.
A batch that carries its 8-bit encoding (``vfx.ops.codes.EncodedBatch``) hands that over to an 8-bit
output instead of its float pixels; otherwise the float pixels are encoded to 8 bits in strips of
``STRIP_ROWS`` rows, whose scratch planes stay in the processor's cache.
MP4/MOV files are fast-start (the index before the media data).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..frames import FrameBatch
from ..ops import color
from ..ops.codes import encoded_frames
from . import colorspace as cs

#: rows per strip of the 8-bit output conversion (at 1080p its scratch planes then fit a core's
#: L2 cache: twice as fast as whole frames, the same codes)
STRIP_ROWS = 8


@dataclass(frozen=True)
class CodecPreset:
    """How a user-facing codec name maps onto an FFmpeg encoder."""

    encoder: str
    pix_fmt: str
    alpha_pix_fmt: str | None
    containers: tuple[str, ...]
    supports_crf: bool = True
    options: tuple[tuple[str, str], ...] = ()


CODECS: dict[str, CodecPreset] = {
    "h264": CodecPreset("libx264", "yuv420p", None, (".mp4", ".mov", ".mkv")),
    "h265": CodecPreset(
        "libx265",
        "yuv420p",
        None,
        (".mp4", ".mov", ".mkv"),
        options=(("tag", "hvc1"), ("x265-params", "log-level=error")),
    ),
    "prores": CodecPreset("prores_ks", "yuv422p10le", "yuva444p10le", (".mov", ".mkv"), supports_crf=False),
    "vp9": CodecPreset("libvpx-vp9", "yuv420p", "yuva420p", (".webm", ".mkv")),
    "ffv1": CodecPreset("ffv1", "bgr0", "bgra", (".mkv", ".avi", ".mov"), supports_crf=False),
}

AUDIO_CODECS = {"aac": "aac", "opus": "libopus", "pcm": "pcm_s16le"}
AUDIO_CONTAINERS = {"aac": (".mp4", ".mov", ".mkv"), "opus": (".webm", ".mkv", ".mp4"), "pcm": (".mov", ".mkv", ".avi")}
#: the sample format each audio codec is fed
_AUDIO_FORMAT = {"aac": "fltp", "opus": "flt", "pcm": "s16"}
_OPUS_RATES = (48000, 24000, 16000, 12000, 8000)
FASTSTART = {".mp4", ".mov"}


def default_audio_codec(path: Path) -> str:
    """The audio codec an output file gets when none is named: Opus in WebM, AAC elsewhere."""
    return "opus" if Path(path).suffix.lower() == ".webm" else "aac"


def audio_codecs_for(ext: str) -> list[str]:
    """The audio codecs that fit a container extension."""
    return [name for name, exts in AUDIO_CONTAINERS.items() if ext.lower() in exts]


def audio_rate(codec: str, sample_rate: int) -> int:
    """The rate ``codec`` encodes at for a pipeline at ``sample_rate`` (Opus takes 48 kHz and a few others)."""
    if codec == "opus" and sample_rate not in _OPUS_RATES:
        return 48000
    return sample_rate


def container_options(path: Path) -> dict:
    """Muxer options: MP4/MOV are written fast-start, the moov index ahead of the media data."""
    return {"movflags": "+faststart"} if Path(path).suffix.lower() in FASTSTART else {}


def high_bit_depth(pix_fmt: str) -> bool:
    return any(tag in pix_fmt for tag in ("10le", "12le", "16le", "48le", "64le", "p10", "p12", "p16"))


class VideoWriter:
    """One output container with a video stream and an optional audio stream."""

    def __init__(
        self,
        path: Path,
        *,
        codec: str,
        encoder: str | None = None,
        width: int,
        height: int,
        fps: Fraction,
        alpha: bool,
        crf: int | None,
        bitrate: str | None,
        preset: str | None,
        pix_fmt: str | None,
        audio_codec: str | None,
        sample_rate: int,
        channels: int,
        threads: int = 0,
        audio_bitrate: str = "192k",
        color_matrix: str = "auto",
        color_range: str = "auto",
        hdr: str = "none",
        primaries: str = "auto",
        hdr_metadata: dict | None = None,
        sar: Fraction | None = None,
        extra_options: dict | None = None,
    ):
        import av

        p = CODECS[codec]
        self.width, self.height, self.fps = width, height, fps
        self.pix_fmt = pix_fmt or (p.alpha_pix_fmt if alpha and p.alpha_pix_fmt else p.pix_fmt)
        self.keep_alpha = alpha and any(c.is_alpha for c in av.VideoFormat(self.pix_fmt).components)
        self.deep = high_bit_depth(self.pix_fmt)
        self.rgb_in = (
            "rgba64le"
            if (self.deep and self.keep_alpha)
            else "rgb48le"
            if self.deep
            else "rgba"
            if self.keep_alpha
            else "rgb24"
        )  # (the 8-bit CPU path always hands over RGBA)
        self.yuv = self.pix_fmt.startswith("yuv")
        self._color_matrix, self._color_range = color_matrix, color_range
        self._hdr, self._primaries = hdr, primaries
        self.colour: cs.FrameColour | None = None  # the stream's matrix and range, set by the first frame
        try:
            self.container = av.open(
                str(path), mode="w", format=_container_format(path), options=container_options(path)
            )
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"cannot write {path}: {exc}") from None
        options = dict(p.options)
        options.pop("tag", None)
        if crf is not None and p.supports_crf:
            options["crf"] = str(crf)
        if codec == "vp9":
            options.setdefault("row-mt", "1")
            if crf is not None and not bitrate:
                options["b"] = "0"
        if preset:
            if codec == "prores":
                options["profile"] = preset
            elif codec == "vp9":
                options["deadline"] = preset
            else:
                options["preset"] = preset
        if codec == "prores" and "profile" not in options:
            options["profile"] = "4" if self.keep_alpha else "3"
        if hdr_metadata:  # SMPTE ST 2086 mastering display and content light level, as x265 takes them
            params = [options.get("x265-params", "")] + [f"{k}={v}" for k, v in hdr_metadata.items()]
            options["x265-params"] = ":".join(p for p in params if p)
        options.update(extra_options or {})
        stream = self.container.add_stream(encoder or p.encoder, rate=fps, options=options)
        stream.width, stream.height = width, height
        stream.pix_fmt = self.pix_fmt
        self._time_base = Fraction(fps.denominator, fps.numerator)
        stream.time_base = self._time_base
        cc = stream.codec_context
        cc.thread_type = "AUTO"
        cc.thread_count = threads
        if bitrate:
            cc.bit_rate = parse_bitrate(bitrate)
        if sar is not None and sar > 0 and sar != 1:
            cc.sample_aspect_ratio = Fraction(sar)
        if dict(p.options).get("tag"):
            stream.codec_tag = dict(p.options)["tag"]
        self.video = stream
        self.audio = None
        self._fifo = None
        self._samples_written = 0
        if audio_codec:
            rate = audio_rate(audio_codec, sample_rate)
            a = self.container.add_stream(AUDIO_CODECS[audio_codec], rate=rate)
            a.layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
            if audio_codec in ("aac", "opus"):
                a.bit_rate = parse_bitrate(audio_bitrate)
            self._audio_format = _AUDIO_FORMAT[audio_codec]
            a.format = self._audio_format
            self.audio = a
            self._fifo = av.AudioFifo()
            self._sample_rate = sample_rate
            self._resampler = (
                av.AudioResampler(format=self._audio_format, layout=a.layout.name, rate=rate)
                if rate != sample_rate
                else None
            )
        self._frame_number = 0
        self._held: list = []  # video packets held until their dts is known to be sane
        self._dts_shift: int | None = None

    def prepare(self, batch: FrameBatch) -> list:
        """The batch as AVFrames in the output pixel format (the costly conversion, no encoding)."""
        return list(self._frames_of(batch))

    def write(self, frames, audio: np.ndarray | None = None) -> None:
        """Encode frames (a ``FrameBatch``, or what ``prepare`` made of one) and their audio (channels, n)."""
        if isinstance(frames, FrameBatch):
            frames = self._frames_of(frames)
        for frame in frames:
            frame.pts = self._frame_number
            frame.time_base = self._time_base
            self._frame_number += 1
            for packet in self.video.encode(frame):
                self._mux_video(packet)
        if audio is not None and self.audio is not None:
            self._write_audio(audio)

    def _passes_through(self, batch: FrameBatch) -> bool:
        """Whether the batch's decoded YUV frames go to the encoder without the graph's RGB."""
        return (
            batch.native is not None
            and batch.width == self.width
            and batch.height == self.height
            and self.yuv
            and not self.keep_alpha
            and all(cs.format_kind(f.format.name)[0] for f in batch.native)
        )

    def _settle_colour(self, first) -> None:
        """Fix the stream's colour tags from its first frame, before anything is encoded (``output_colour``)."""
        self.colour, primaries, trc = cs.output_colour(
            first, self.pix_fmt, self._color_matrix, self._color_range, self._hdr, self._primaries
        )
        cc = self.video.codec_context
        cc.colorspace, cc.color_range = self.colour.matrix, self.colour.range
        cc.color_primaries, cc.color_trc = primaries, trc

    def _frames_of(self, batch: FrameBatch):
        passes = self._passes_through(batch)
        if self.colour is None and self.yuv:
            self._settle_colour(batch.native[0] if passes else None)
        encoded = encoded_frames(batch)
        if (
            encoded is not None
            and not self.deep
            and not self.keep_alpha
            and (batch.width, batch.height) == (self.width, self.height)
        ):
            for frame in encoded:
                yield self._from_rgb(frame)
            return
        if passes:
            out = self.colour
            for frame in batch.native:
                have = cs.colour_of(frame)
                if have != out:
                    frame = frame.reformat(
                        format=self.pix_fmt,
                        src_colorspace=have.sws,
                        dst_colorspace=out.sws,
                        src_color_range=have.sws_range,
                        dst_color_range=out.sws_range,
                        interpolation="BICUBIC",
                    )
                elif frame.format.name != self.pix_fmt:
                    frame = (
                        chroma_box_420(frame, self.pix_fmt)
                        if (frame.format.name, self.pix_fmt) in _BOX_420
                        else frame.reformat(format=self.pix_fmt, interpolation="BICUBIC")
                    )
                yield frame
            return
        pixels = batch.pixels
        if (pixels.shape[2], pixels.shape[3]) != (self.height, self.width):
            raise MediaError(
                f"frame size {pixels.shape[3]}x{pixels.shape[2]} does not match the encoder's "
                f"{self.width}x{self.height}"
            )
        for frame in self._rgb_frames(pixels):
            yield self._from_rgb(frame)

    def _from_rgb(self, frame):
        """An RGB(A) AVFrame of graph output in the output pixel format (BT.709 or as asked)."""
        if self.yuv:
            out = self.colour
            return frame.reformat(
                format=self.pix_fmt, dst_colorspace=out.sws, dst_color_range=out.sws_range, interpolation="BICUBIC"
            )
        return frame.reformat(format=self.pix_fmt)

    def _rgb_frames(self, pixels):
        """AVFrames in RGB(A); 8-bit frames are encoded straight into the AVFrame's own buffer."""
        import av

        if self.deep or pixels.device.type != "cpu":
            for arr in color.from_linear(pixels, alpha=self.keep_alpha, bits=16 if self.deep else 8):
                yield av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=self.rgb_in)
            return
        nhwc = pixels.permute(0, 2, 3, 1).numpy()
        for linear in nhwc:
            frame = av.VideoFrame(self.width, self.height, "rgba")
            plane = frame.planes[0]
            rows = np.frombuffer(plane, np.uint8).reshape(self.height, plane.line_size)
            dst = rows[:, : self.width * 4].reshape(self.height, self.width, 4)
            for y in range(0, self.height, STRIP_ROWS):
                color.linear_to_srgba8(linear[y : y + STRIP_ROWS], self.keep_alpha, out=dst[y : y + STRIP_ROWS])
            yield frame

    def _write_audio(self, samples: np.ndarray):
        import av

        data = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)
        fmt = self._audio_format
        if fmt == "s16":
            data = (data * 32767).round().astype(np.int16).T.reshape(1, -1).copy()
        elif fmt == "flt":
            data = data.T.reshape(1, -1).copy()
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=self.audio.layout.name)
        frame.sample_rate = self._sample_rate
        frame.pts = None
        for f in self._resampler.resample(frame) if self._resampler else [frame]:
            f.pts = None
            self._fifo.write(f)
        self._drain_audio(final=False)

    def _drain_audio(self, final: bool):
        size = self.audio.codec_context.frame_size or 1024
        while self._fifo.samples >= size or (final and self._fifo.samples > 0):
            frame = self._fifo.read(min(size, self._fifo.samples) if final else size)
            if frame is None:
                break
            frame.pts = self._samples_written
            frame.time_base = Fraction(1, self.audio.rate)
            self._samples_written += frame.samples
            for packet in self.audio.encode(frame):
                self.container.mux(packet)

    def _mux_video(self, packet) -> None:
        """Mux one video packet, with its dts re-based if the encoder left the first one unset.

        On a stream shorter than its look-ahead, libx265 (FFmpeg 8) now and then starts the dts at
        an uninitialised value (all later ones follow it), which the MP4 muxer refuses. Packets
        are held until the first one shows a sane dts or, if it does not, until the end (or 256
        packets), and then re-based so that every dts is at most its pts."""
        if self._dts_shift is not None:
            if self._dts_shift and packet.dts is not None:
                packet.dts += self._dts_shift
            self.container.mux(packet)
            return
        self._held.append(packet)
        first = self._held[0]
        if first.dts is not None and first.pts is not None and first.pts - first.dts <= _MAX_REORDER:
            self._release(0)
        elif len(self._held) >= 256:
            self._settle()

    def _settle(self) -> None:
        held = self._held
        if not held or held[0].dts is None or held[0].pts is None:
            return self._release(0)
        delay = max(0, max(k - p.pts for k, p in enumerate(held) if p.pts is not None))
        self._release(-held[0].dts - delay)

    def _release(self, shift: int) -> None:
        self._dts_shift = shift
        held, self._held = self._held, []
        for packet in held:
            self._mux_video(packet)

    def close(self) -> None:
        """Flush encoders and write the trailer."""
        for packet in self.video.encode(None):
            self._mux_video(packet)
        if self._dts_shift is None:
            self._settle()
        if self.audio is not None:
            for f in self._resampler.resample(None) if self._resampler else []:
                f.pts = None
                self._fifo.write(f)
            self._drain_audio(final=True)
            for packet in self.audio.encode(None):
                self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


_BOX_420 = {("yuv444p", "yuv420p"), ("yuvj444p", "yuvj420p"), ("yuvj444p", "yuv420p"), ("yuv444p", "yuvj420p")}


def chroma_box_420(frame, pix_fmt: str):
    """An 8-bit 4:4:4 frame as 4:2:0, each chroma sample the mean of its 2x2 block (centre siting).

    As sharp as the ffmpeg CLI's own 4:4:4 to 4:2:0 (swscale in PyAV's FFmpeg filters chroma
    with left siting, a little softer). Tags and the sample values' range are kept.
    """
    import av
    import cv2

    w, h = frame.width, frame.height
    out = av.VideoFrame(w, h, pix_fmt)
    for k in range(3):
        sp, dp = frame.planes[k], out.planes[k]
        src = np.frombuffer(sp, np.uint8).reshape(h, sp.line_size)[:, :w]
        dst = np.frombuffer(dp, np.uint8).reshape(dp.height, dp.line_size)[:, : dp.width]
        dst[:] = src if k == 0 else cv2.resize(src, (dp.width, dp.height), interpolation=cv2.INTER_AREA)
    out.colorspace, out.color_range = frame.colorspace, frame.color_range
    out.color_primaries, out.color_trc = frame.color_primaries, frame.color_trc
    return out


#: the most ticks a sane first packet's dts lies before its pts (the encoder's reorder delay)
_MAX_REORDER = 1000


def _container_format(path: Path) -> str | None:
    return {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".mp4": "mp4", ".avi": "avi"}.get(path.suffix.lower())


def parse_bitrate(text: str) -> int:
    """``"8M"``, ``"800k"`` or ``"1500000"`` to bits per second; ValueError otherwise."""
    t = str(text).strip().lower()
    mult = {"k": 1000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise ValueError(f'expected a bitrate like "8M" or "800k", got {text!r}') from None
    if value <= 0:
        raise ValueError(f"bitrate must be positive, got {text!r}")
    return value


def write_png(path: Path, rgb: np.ndarray) -> None:
    """One PNG through PyAV's png encoder; uint8 or uint16 (N.B. 16-bit goes big-endian)."""
    import av

    h, w, c = rgb.shape
    if rgb.dtype == np.uint16:
        fmt = "rgba64be" if c == 4 else "rgb48be"
        src = av.VideoFrame.from_ndarray(rgb, format="rgba64le" if c == 4 else "rgb48le").reformat(format=fmt)
    else:
        fmt = "rgba" if c == 4 else "rgb24"
        src = av.VideoFrame.from_ndarray(rgb, format=fmt)
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, fmt
    ctx.time_base = Fraction(1, 25)
    data = b"".join(bytes(p) for p in ctx.encode(src)) + b"".join(bytes(p) for p in ctx.encode(None))
    Path(path).write_bytes(data)
