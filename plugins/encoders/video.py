"""``encode.video``: video files with audio, through PyAV or an ffmpeg binary (the two backends)."""

from __future__ import annotations

import vfx
from vfx import ConfigureError, opt
from vfx.media import (
    AUDIO_CODECS,
    AUDIO_CONTAINERS,
    CODECS,
    HDR_CHOICES,
    MATRIX_CHOICES,
    PRIMARIES_CHOICES,
    RANGE_CHOICES,
)

from ..audio.audio import check_frame_audio

#: the presets each codec's encoder takes (x264/x265 speeds, ProRes profiles, VP9 deadlines)
ENCODER_PRESETS = {
    "h264": ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"),
    "h265": ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"),
    "prores": ("0", "1", "2", "3", "4", "5", "proxy", "lt", "standard", "hq", "4444", "4444xq"),
    "vp9": ("good", "best", "realtime"),
}


class VideoEncoder(vfx.Encoder):
    """A video file (h264, h265, prores incl. 4444 with alpha, vp9, ffv1) with optional audio.

    Written to a hidden temporary name beside ``path`` and renamed when complete. A source going
    straight through keeps its colour tags (matrix, range, primaries, transfer); what went through
    the graph is written BT.709, limited range, unless ``color_matrix`` / ``color_range`` say
    otherwise. MP4 and MOV files are fast-start; WebM gets Opus audio.
    """

    type = "encode.video"
    needs_torch = False

    class Options(vfx.Options):
        input = opt.Input(doc="the video to encode")
        path = opt.OutputPath(doc="output file; the extension picks the container (.mp4 .mov .mkv .webm)")
        codec = opt.Choice("h264", choices=tuple(CODECS), doc="video codec")
        crf = opt.Int(
            None, min=0, max=63, animate=False, doc="constant quality (lower is better; h264/h265 0-51, vp9 0-63)"
        )
        bitrate = opt.Str(None, doc='target bitrate such as "8M" (instead of crf)')
        preset = opt.Str(None, doc="encoder preset: x264/x265 speed (veryfast...), prores profile 0-5, vp9 deadline")
        pix_fmt = opt.Str(None, doc="output pixel format (default: yuv420p; prores 4444 / vp9 / ffv1 keep alpha)")
        audio = opt.Input(None, kind="audio", doc="node whose audio is muxed (default: the input's own audio)")
        audio_codec = opt.Choice(
            "auto",
            choices=("auto", *AUDIO_CODECS, "none"),
            doc="audio codec (auto: opus in .webm, aac elsewhere), or none for no audio",
        )
        audio_bitrate = opt.Str("192k", doc='AAC / Opus bitrate such as "128k"')
        color_matrix = opt.Choice(
            "auto",
            choices=MATRIX_CHOICES,
            doc="YUV matrix written (auto: a passed-through source keeps its own; graph output is bt709)",
        )
        color_range = opt.Choice(
            "auto",
            choices=RANGE_CHOICES,
            doc="YUV range written (auto: a passed-through source keeps its own; graph "
            "output is limited, a yuvj pix_fmt full)",
        )
        hdr = opt.Choice(
            "none",
            choices=HDR_CHOICES,
            doc="write Rec.2100 PQ or HLG, 10-bit, BT.2020 primaries and matrix: set by an HDR display "
            "of the [color] table (whose code values the encoder then takes)",
        )
        primaries = opt.Choice(
            "auto", choices=PRIMARIES_CHOICES, doc="colour primaries tagged (auto: bt709, or bt2020 with hdr)"
        )
        mastering_display = opt.Str(
            None,
            doc="HDR mastering display (SMPTE ST 2086, h265), as x265 takes it: "
            '"G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"',
        )
        max_cll = opt.Str(None, doc='HDR content light level (h265): "MaxCLL,MaxFALL" in nits, such as "1000,400"')
        backend = opt.Str(
            "pyav",
            doc="encoder backend: pyav (in-process), ffmpeg (pipe to an ffmpeg binary, "
            "for encoders like h264_nvenc), or one a plugin registers",
        )
        ffmpeg_encoder = opt.Str(None, doc="FFmpeg encoder name such as h264_nvenc (default: from codec)")
        threads = opt.Int(0, min=0, max=64, animate=False, doc="encoder threads (0: automatic)")

    def configure(self):
        import av

        super().configure()
        o = self.options
        preset = CODECS[o.codec]
        ext = o.path.suffix.lower()
        if ext not in preset.containers:
            raise ConfigureError(
                f"{o.codec} goes in {', '.join(preset.containers)} files, not '{ext or o.path.name}'", option="path"
            )
        if o.pix_fmt is not None:
            supported = [f.name for f in av.codec.Codec(preset.encoder, "w").video_formats or []]
            if o.pix_fmt not in supported:
                raise ConfigureError(
                    f"{o.codec} cannot encode pix_fmt '{o.pix_fmt}'; it takes {', '.join(supported[:12])}",
                    option="pix_fmt",
                )
        if o.crf is not None and o.bitrate is not None:
            raise ConfigureError("give crf or bitrate, not both", option="bitrate")
        from vfx.media import parse_bitrate

        for name in ("bitrate", "audio_bitrate"):
            if getattr(o, name) is not None:
                try:
                    parse_bitrate(getattr(o, name))
                except ValueError as exc:
                    raise ConfigureError(str(exc), option=name) from None
        if o.preset is not None:
            allowed = ENCODER_PRESETS.get(o.codec, ())
            if o.preset not in allowed:
                hint = f"it takes {', '.join(allowed)}" if allowed else f"{o.codec} has no presets"
                raise ConfigureError(f"unknown {o.codec} preset '{o.preset}'; {hint}", option="preset")
        if o.crf is not None and not preset.supports_crf:
            raise ConfigureError(f"{o.codec} has no crf; use bitrate or preset", option="crf")
        if o.codec in ("h264", "h265") and o.crf is not None and o.crf > 51:
            raise ConfigureError(f"crf for {o.codec} is 0..51, got {o.crf}", option="crf")
        self._pix_fmt = o.pix_fmt
        self._hdr_metadata = self._check_hdr(preset)
        w, h = self.video.width, self.video.height
        chroma = self._pix_fmt or preset.pix_fmt
        if ("420" in chroma or "422" in chroma) and (w % 2 or h % 2):
            raise ConfigureError(
                f"{chroma} needs an even frame size, the input is {w}x{h}; add an editor.resize", option="input"
            )
        self._audio_node = None
        from vfx.media import audio_codecs_for, default_audio_codec

        self.audio_codec = default_audio_codec(o.path) if o.audio_codec == "auto" else o.audio_codec
        if o.audio_codec != "none":
            self._audio_node = self.input("audio") or (self.input("input") if self.input("input").audio else None)
        if self._audio_node is not None and ext not in AUDIO_CONTAINERS[self.audio_codec]:
            fits = audio_codecs_for(ext)
            hint = (
                " or ".join(f'audio_codec = "{c}"' for c in fits) if fits else f"no audio codec fits '{ext}' files"
            ) + ', or audio_codec = "none"'
            raise ConfigureError(
                f"{self.audio_codec} audio cannot go in '{ext}' files; it goes in "
                f"{', '.join(AUDIO_CONTAINERS[self.audio_codec])}; use {hint}",
                option="audio_codec",
            )
        if self._audio_node is not None:
            check_frame_audio(self)
        backends = vfx.encoder_backends()
        if o.backend not in backends:
            raise ConfigureError(f"unknown backend '{o.backend}'; registered: {', '.join(backends)}", option="backend")
        self._backend = backends[o.backend]
        if o.ffmpeg_encoder is not None or o.backend == "ffmpeg":
            name = o.ffmpeg_encoder or preset.encoder
            offered = self._backend.available_encoders()
            if not offered:
                raise ConfigureError(
                    f"backend '{o.backend}' offers no encoders here (no ffmpeg binary? install "
                    "imageio-ffmpeg or set VFX_FFMPEG)",
                    option="backend",
                )
            if name not in offered:
                raise ConfigureError(
                    f"backend '{o.backend}' has no encoder '{name}' (`vfx probe --encoders` lists them)",
                    option="ffmpeg_encoder",
                )
        self._writer = None
        self._target = None

    def _check_hdr(self, preset) -> dict:
        """Validate the HDR options; the x265 parameters for the mastering metadata."""
        import re

        o = self.options
        metadata = {}
        if o.primaries != "auto" and o.backend != "pyav":
            raise ConfigureError("primaries are tagged by the pyav backend", option="primaries")
        if o.mastering_display is not None:
            if not re.fullmatch(r"G\(\d+,\d+\)B\(\d+,\d+\)R\(\d+,\d+\)WP\(\d+,\d+\)L\(\d+,\d+\)", o.mastering_display):
                raise ConfigureError(
                    "mastering_display is G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min) in x265's units, such as "
                    '"G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"',
                    option="mastering_display",
                )
            metadata["master-display"] = o.mastering_display
        if o.max_cll is not None:
            if not re.fullmatch(r"\d+,\d+", o.max_cll):
                raise ConfigureError('max_cll is "MaxCLL,MaxFALL" in nits, such as "1000,400"', option="max_cll")
            metadata["max-cll"] = o.max_cll
        for name in ("mastering_display", "max_cll"):
            if getattr(o, name) is not None and (o.codec != "h265" or o.hdr == "none"):
                raise ConfigureError(f"{name} is HDR metadata for h265 with hdr = pq or hlg", option=name)
        if o.hdr == "none":
            return metadata
        if self.ctx.settings.color is None:
            raise ConfigureError(
                "hdr needs a [color] table: the encoder takes the code values of an HDR display "
                '(display = "Rec.2100-PQ - Display"), which set hdr for you',
                option="hdr",
            )
        if o.codec not in ("h265", "prores"):  # (this FFmpeg's libvpx has no 10-bit VP9)
            raise ConfigureError(f"HDR needs a 10-bit codec (h265, prores), not {o.codec}", option="codec")
        if o.backend != "pyav":
            raise ConfigureError("HDR output is written by the pyav backend", option="backend")
        if self._pix_fmt is None:
            self._pix_fmt = {"h265": "yuv420p10le"}.get(o.codec)
        from vfx.media import high_bit_depth

        if not high_bit_depth(self._pix_fmt or preset.pix_fmt):
            raise ConfigureError(f"HDR is written 10-bit or deeper; pix_fmt {self._pix_fmt} is 8-bit", option="pix_fmt")
        return metadata

    def output_paths(self):
        return [self.options.path]

    def audio_source(self):
        return self._audio_node

    def begin(self, start, stop):
        from vfx import AtomicFile

        o = self.options
        s = self.ctx.settings
        self._target = AtomicFile(o.path)
        self._writer = self._backend.open_writer(
            self._target.temp,
            codec=o.codec,
            encoder=o.ffmpeg_encoder,
            width=self.video.width,
            height=self.video.height,
            fps=self.video.fps,
            alpha=self.video.has_alpha,
            crf=o.crf,
            bitrate=o.bitrate,
            preset=o.preset,
            pix_fmt=self._pix_fmt,
            audio_codec=self.audio_codec if self._audio_node is not None else None,
            audio_bitrate=o.audio_bitrate,
            sample_rate=s.sample_rate,
            channels=s.channels,
            threads=o.threads,
            color_matrix=o.color_matrix,
            color_range=o.color_range,
            sar=getattr(self.video, "sar", None),
            **self._colour_settings(),
        )

    def _colour_settings(self) -> dict:
        """The HDR settings for the writer, only when set (a plugin's backend need not know them)."""
        o = self.options
        if o.hdr == "none" and o.primaries == "auto":
            return {}
        return {"hdr": o.hdr, "primaries": o.primaries, "hdr_metadata": self._hdr_metadata}

    def prepare(self, batch):
        return self._writer.prepare(batch) if hasattr(self._writer, "prepare") else batch

    def write(self, batch, audio):
        self._writer.write(batch, audio)

    def finish(self):
        self._writer.close()
        self._writer = None
        return [self._target.commit()]

    def abort(self):
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        if self._target is not None:
            self._target.discard()


class PyAVBackend:
    """Encoders of PyAV's bundled FFmpeg, in-process (the default)."""

    def open_writer(self, path, *, codec, encoder, **settings):
        from vfx.media import VideoWriter

        return VideoWriter(path, codec=codec, encoder=encoder, **settings)

    def available_encoders(self) -> dict[str, str]:
        import av

        out = {}
        for name in sorted(av.codecs_available):
            try:
                codec = av.codec.Codec(name, "w")
            except Exception:
                continue
            if codec.type == "video":
                out[name] = codec.long_name
        return out


class FfmpegBackend:
    """Encoders of the ffmpeg binary (``$VFX_FFMPEG``, PATH, or imageio-ffmpeg's), fed through a pipe."""

    def open_writer(self, path, *, codec, encoder, pix_fmt, alpha, threads, **settings):
        from vfx.media import FfmpegPipeWriter

        return FfmpegPipeWriter(
            path, encoder=encoder or CODECS[codec].encoder, pix_fmt=pix_fmt or CODECS[codec].pix_fmt, **settings
        )

    def available_encoders(self) -> dict[str, str]:
        from vfx.media import available_encoders

        return available_encoders()
