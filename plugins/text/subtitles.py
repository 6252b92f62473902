"""``source.subtitles``: SRT and WebVTT captions, timed to the frame, styled and safe-area placed."""

from __future__ import annotations

import codecs
import html
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

import vfx
from vfx import ConfigureError, opt

try:
    from . import text_layout as tl
except ImportError:  # imported as a plain module (tests, docs tools)
    import text_layout as tl  # type: ignore[no-redef]


@dataclass
class Cue:
    """One caption: its styled runs and the frames [first, stop) that show it."""

    runs: list[tuple[str, "tl.Face"]]
    first: int
    stop: int


_OVERRIDE = re.compile(r"\{([^}]*)\}")
_STYLE_TAG = re.compile(r"\\(?:(b|i)(\d*)|(r))")
_MARKUP = re.compile(r"<[^>]*>")


def read_subtitles(path: Path, encoding: str = "utf-8"):
    """The file's events (pysubs2), WebVTT cleaned of cue ids, NOTE/STYLE/REGION blocks first."""
    import pysubs2

    try:
        raw = path.read_bytes().decode(encoding)
    except (OSError, UnicodeDecodeError, LookupError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    raw = raw.lstrip("\ufeff")
    vtt = raw.lstrip().startswith("WEBVTT")
    if vtt:
        text = raw.replace("\r\n", "\n").replace("\r", "\n")
        blocks = ["WEBVTT"]
        for block in re.split(r"\n[ \t]*\n", text):
            lines = block.split("\n")
            for k, line in enumerate(lines):
                if "-->" in line:  # a cue: drop its id line, keep timing and text
                    blocks.append("\n".join(lines[k:]))
                    break
        raw = "\n\n".join(blocks) + "\n"
    try:
        subs = pysubs2.SSAFile.from_string(raw, format_="vtt" if vtt else None)
    except Exception as exc:  # pysubs2 raises its own errors, ValueError and worse on garbage
        raise ValueError(
            f"cannot read subtitles from {path}: {type(exc).__name__}: {exc} (expected SRT or WebVTT)"
        ) from None
    events = [e for e in subs.events if not e.is_comment and e.end > e.start]
    return sorted(events, key=lambda e: (e.start, e.end)), vtt


def styled_runs(text: str, faces: dict[str, "tl.Face"], vtt: bool = False) -> list[tuple[str, "tl.Face"]]:
    """pysubs2 event text (ASS overrides: {\\i1}, {\\b1}, \\N) -> runs of (text, face)."""
    bold = italic = False
    runs: list[tuple[str, tl.Face]] = []

    def add(segment: str):
        segment = segment.replace("\\N", "\n").replace("\\n", "\n").replace("\\h", "\u00a0")
        segment = _MARKUP.sub("", segment)
        if vtt:
            segment = html.unescape(segment)
        if segment:
            face = faces["bold_italic" if bold and italic else "bold" if bold else "italic" if italic else "regular"]
            if runs and runs[-1][1] == face:
                runs[-1] = (runs[-1][0] + segment, face)
            else:
                runs.append((segment, face))

    pos = 0
    for m in _OVERRIDE.finditer(text):
        add(text[pos : m.start()])
        for tag in _STYLE_TAG.finditer(m.group(1)):
            if tag.group(3):
                bold = italic = False
                continue
            value = tag.group(2)
            on = bool(value) and value != "0" and (tag.group(1) == "i" or value == "1" or int(value) >= 600)
            if tag.group(1) == "b":
                bold = on
            else:
                italic = on
        pos = m.end()
    add(text[pos:])
    # no blank lines at the ends of a caption
    if runs:
        runs[0] = (runs[0][0].lstrip("\n"), runs[0][1])
        runs[-1] = (runs[-1][0].rstrip("\n "), runs[-1][1])
    return [r for r in runs if r[0]]


def cue_frames(start_ms: int, end_ms: int, fps: Fraction) -> tuple[int, int]:
    """Frames [first, stop) with start <= f / fps < end, in exact integer arithmetic."""
    num, den = fps.numerator, fps.denominator
    first = -((-start_ms * num) // (1000 * den))  # ceil(start * fps)
    stop = -((-end_ms * num) // (1000 * den))  # ceil(end * fps)
    return max(0, first), max(0, stop)


class Subtitles(tl.TextSource):
    """Captions from an SRT or WebVTT file, drawn bottom-centre inside the title-safe area.

    Frame ``f`` shows a cue exactly when ``cue.start <= f / fps < cue.end`` (cue times in the file's
    millisecond precision, after ``time_offset``): a cue from 1.000 s to 2.500 s at 24 fps is on
    frames 24..59. Line breaks are kept; ``<i>`` and ``<b>`` runs use the italic and bold faces.
    Captions shown at once stack upwards, the earliest at the bottom. Long lines wrap to the safe
    area's width. Each caption is rasterised once and reused while it shows.

    Without ``input`` the node is a transparent layer for ``editor.composite``; with ``input`` the
    captions are drawn straight over that clip (fastest).
    """

    type = "source.subtitles"
    animated_batches = True

    class Options(vfx.Options):
        path = opt.InputPath(doc="the .srt or .vtt file, relative to the pipeline file")
        input = tl.over_input_option()
        encoding = opt.Str("utf-8", doc="text encoding of the file")
        time_offset = opt.Float(0.0, animate=False, doc="seconds added to every cue time")
        font = tl.FontPath(None, doc="regular face (default: the bundled DejaVuSans.ttf)")
        font_bold = tl.FontPath(None, doc="face for <b> (default: bundled DejaVuSans-Bold.ttf, or font if set)")
        font_italic = tl.FontPath(None, doc="face for <i> (default: bundled DejaVuSans-Oblique.ttf, or font if set)")
        font_bold_italic = tl.FontPath(
            None, doc="face for <b><i> (default: bundled DejaVuSans-BoldOblique.ttf, or font_bold if set)"
        )
        font_index = opt.Int(0, min=0, animate=False, doc="face index in font collections (.ttc)")
        layout_engine = opt.Choice("auto", choices=("auto", "basic", "raqm"), doc="text shaping engine")
        size = opt.Float(
            None, min=1.0, max=1000.0, animate=False, doc="font size in pixels (default: 5.5% of the frame height)"
        )
        color = opt.Color("white", animate=False, doc="text colour")
        outline = opt.Float(2.0, min=0.0, max=100.0, animate=False, doc="outline width in pixels (0: none)")
        outline_color = opt.Color("black", animate=False, doc="outline colour")
        background = opt.Color(
            "transparent", animate=False, doc='box behind each caption, e.g. "#000000a0" (transparent: no box)'
        )
        padding = opt.Float(8.0, min=0.0, max=500.0, animate=False, doc="space between the text and its box, px")
        shadow_color = opt.Color("transparent", animate=False, doc="drop shadow colour (transparent: none)")
        shadow_offset = opt.Vec([2.0, 2.0], animate=False, doc="[x, y] shadow offset in pixels")
        shadow_blur = opt.Float(2.0, min=0.0, max=100.0, animate=False, doc="shadow softness (Gaussian sigma)")
        line_spacing = opt.Float(1.0, min=0.3, max=10.0, animate=False, doc="line distance, times the line height")
        align = opt.Choice("center", choices=("left", "center", "right"), doc="alignment of a caption's lines")
        placement = opt.Choice("bottom", choices=("bottom", "top"), doc="captions sit at the bottom or the top")
        safe_area = opt.Vec(
            [0.9, 0.9],
            animate=False,
            doc="[width, height] of the centred safe area as fractions of the frame "
            "(title-safe 0.9; use [0.8, 0.8] for a stricter margin)",
        )
        opacity = opt.Float(1.0, min=0.0, max=1.0, doc="opacity of the captions")
        duration, layer_size = tl.layer_options()

    def configure(self):
        o = self.options
        if not all(0.1 <= v <= 1.0 for v in o.safe_area):
            raise ConfigureError(f"fractions between 0.1 and 1 expected, got {list(o.safe_area)}", option="safe_area")
        defaults = tl.DEFAULT_FACES
        regular = o.font or defaults["regular"]
        bold = o.font_bold or (o.font or defaults["bold"])
        italic = o.font_italic or (o.font or defaults["italic"])
        bold_italic = o.font_bold_italic or (o.font_bold or (o.font or defaults["bold_italic"]))
        self.faces = {}
        for name, path, option in (
            ("regular", regular, "font"),
            ("bold", bold, "font_bold"),
            ("italic", italic, "font_italic"),
            ("bold_italic", bold_italic, "font_bold_italic"),
        ):
            try:
                count = tl.face_count(path)
            except OSError as exc:
                raise ConfigureError(f"cannot read font {path}: {exc}", option=option) from None
            # font_index is checked against the user's regular font; the other faces (bundled
            # defaults, a separate bold file...) may hold fewer and then use their first
            if option == "font" and o.font is not None and o.font_index >= count:
                raise ConfigureError(
                    f"font {path.name} holds {count} face(s); font_index {o.font_index} is out of range",
                    option="font_index",
                )
            index = o.font_index if count > o.font_index else 0
            try:
                tl.check_font(path, index)
            except ValueError as exc:
                raise ConfigureError(str(exc), option=option) from None
            self.faces[name] = tl.Face(path, index, o.layout_engine)
        try:
            codecs.lookup(o.encoding)
        except LookupError:
            raise ConfigureError(
                f'unknown text encoding {o.encoding!r} (such as "utf-8", "cp1252", "latin-1")', option="encoding"
            ) from None
        try:
            events, vtt = read_subtitles(o.path, o.encoding)
        except ValueError as exc:
            raise ConfigureError(str(exc), option="path") from None
        if not events:
            raise ConfigureError(f"{o.path} holds no cues (expected SRT or WebVTT captions)", option="path")
        self.configure_stream()
        if self.video.width * o.safe_area[0] - 2 * o.padding < 1:
            raise ConfigureError(
                f"padding {o.padding} px on both sides leaves no room for text in the "
                f"{self.video.width * o.safe_area[0]:.0f} px wide safe area",
                option="padding",
            )
        shift = round(o.time_offset * 1000)
        self.cues: list[Cue] = []
        missing: dict[str, list[str]] = {}
        for e in events:
            runs = styled_runs(e.text, self.faces, vtt)
            if not runs:
                continue
            first, stop = cue_frames(e.start + shift, e.end + shift, self.video.fps)
            self.cues.append(Cue(runs, first, stop))
            for text, face in runs:
                for ch in tl.missing_chars(text, face.path, face.index):
                    missing.setdefault(face.path.name, [])
                    if ch not in missing[face.path.name]:
                        missing[face.path.name].append(ch)
        for font, chars in missing.items():
            warnings.warn(
                tl.MissingGlyphWarning(
                    f"node '{self.id}': font {font} has no glyph for {tl.describe_chars(chars)} (in {o.path.name}); "
                    "they would draw as empty boxes"
                ),
                stacklevel=2,
            )
        self._first = np.array([c.first for c in self.cues])
        self._stop = np.array([c.stop for c in self.cues])
        self.rasterizer = tl.Rasterizer(capacity=32)
        self._layers = vfx.LRU(32)

    def input_files(self):
        return [self.options.path]

    def visible(self, frame: int) -> tuple[int, ...]:
        """Indices of the cues frame ``frame`` shows, earliest first."""
        return tuple(np.nonzero((self._first <= frame) & (frame < self._stop))[0].tolist())

    def cue_layer(self, k: int) -> "tl.Layer | None":
        """Caption ``k`` as a coloured layer (box, outline, shadow), its block's top-left at (0, 0)."""
        if k in self._layers:
            return self._layers.get(k)
        o = self.options
        W, H = self.video.width, self.video.height
        size = o.size or max(8.0, round(H * 0.055))
        wrap = W * o.safe_area[0] - 2 * o.padding
        lay = tl.layout(self.cues[k].runs, size, wrap=wrap, line_spacing=o.line_spacing, align=o.align, hug=True)
        masks = self.rasterizer.masks(("cue", k), lay, o.outline)
        layer = None
        if masks is not None:
            layer = tl.colorize(masks, o.color, o.outline_color)
            layer = tl.add_shadow(layer, o.shadow_color, o.shadow_offset, o.shadow_blur)
        p = o.padding
        if tl.premultiplied_linear(o.background)[3] > 0:
            box = (-p, -p, lay.width + p, lay.height + p)
            if layer is None:
                layer = tl.Layer(np.zeros((1, 1, 4), np.float32), 0, 0)
            layer = tl.add_box(layer, o.background, box)
        if layer is not None:
            layer.block = (lay.width, lay.height + 2 * p)
        return self._layers.put(k, layer)

    def placements(self, frame: int) -> list[tuple["tl.Layer", int, int]]:
        """(layer, x, y) of every caption on ``frame``."""
        o = self.options
        W, H = self.video.width, self.video.height
        layers = [layer for layer in map(self.cue_layer, self.visible(frame)) if layer is not None]
        out = []
        gap = round(H * 0.01)
        if o.placement == "bottom":
            y = H * (1 + o.safe_area[1]) / 2 - o.padding  # y is the text's edge; boxes pad around it
            for layer in layers:
                bw, bh = layer.block
                y -= bh - 2 * o.padding
                out.append((layer, int(round(W / 2 - bw / 2)), int(round(y))))
                y -= 2 * o.padding + gap
        else:
            y = H * (1 - o.safe_area[1]) / 2 + o.padding
            for layer in layers:
                bw, bh = layer.block
                out.append((layer, int(round(W / 2 - bw / 2)), int(round(y))))
                y += bh + gap
        return out

    def render(self, indices):
        opacity = self.values("opacity", indices)
        runs: list[list] = []  # [(visible cues, opacity), first j, last j]
        for j, i in enumerate(indices):
            key = (self.visible(i), float(opacity[j]))
            if not key[0] or key[1] <= 0:
                continue
            if runs and runs[-1][0] == key and runs[-1][2] == j - 1:
                runs[-1][2] = j
            else:
                runs.append([key, j, j])
        draws = [
            (layer, x, y, alpha, j0, j1) for (_, alpha), j0, j1 in runs for layer, x, y in self.placements(indices[j0])
        ]
        return self.draw(indices, draws)
