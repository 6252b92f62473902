"""Text machinery shared by ``source.text`` and ``source.subtitles``: fonts, layout, rasters, placing.

The steps, each cached so that static text is rasterised once and reused for every frame:

1. ``load_font`` / ``font_cmap``: Pillow FreeType fonts (TTF, OTF, TTC with a face index) and the
   set of characters each one maps (fontTools), so missing glyphs are reported by name;
2. ``layout``: styled runs -> wrapped, aligned lines of pieces, with the x of every character
   (pieces of one face on one line are drawn in one call, so kerning and shaping are kept);
3. ``rasterize``: the layout (or its first ``k`` characters, or one character) drawn into 8-bit
   coverage masks, fill and outline, cropped to what was drawn;
4. ``colorize`` / ``add_shadow``: masks -> premultiplied linear-light float RGBA (coverage is alpha,
   colours are linearised sRGB), with a blurred, offset drop shadow under it;
5. ``transform`` and ``blend``: scale/slide a small layer (sub-pixel, OpenCV) and blend it *over* the
   frame's pixels inside its own bounding box only; nothing touches the rest of the frame.

``TextSource`` is the node side both share: the ``input`` / ``duration`` / ``layer_size`` options,
the stream they give, and drawing a batch's layers over the input or a transparent canvas.

A ``Layer`` is a small patch with its top-left offset relative to some origin; coordinates are
pixels of the output frame.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import vfx
from vfx import FrameBatch, StreamInfo, opt

FONTS = Path(__file__).resolve().parent / "fonts"
DEFAULT_FONT = FONTS / "DejaVuSans.ttf"
DEFAULT_FACES = {
    "regular": FONTS / "DejaVuSans.ttf",
    "bold": FONTS / "DejaVuSans-Bold.ttf",
    "italic": FONTS / "DejaVuSans-Oblique.ttf",
    "bold_italic": FONTS / "DejaVuSans-BoldOblique.ttf",
}
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
ANCHORS = {
    "top_left": (0.0, 0.0),
    "top": (0.5, 0.0),
    "top_right": (1.0, 0.0),
    "left": (0.0, 0.5),
    "center": (0.5, 0.5),
    "right": (1.0, 0.5),
    "bottom_left": (0.0, 1.0),
    "bottom": (0.5, 1.0),
    "bottom_right": (1.0, 1.0),
}


class MissingGlyphWarning(UserWarning):
    """Some characters of the text have no glyph in the font (they would draw as boxes)."""


# --- fonts ---------------------------------------------------------------------------------------


class FontPath(opt.InputPath):
    """A font file (TTF, OTF, TTC) relative to the pipeline file, or the file name of a bundled font
    (``DejaVuSans-Bold.ttf``)."""

    type_name = "font file"

    def __init__(self, default=None, *, doc=""):
        super().__init__(default, doc=doc)

    def parse(self, value, ctx):
        if (
            isinstance(value, str)
            and value
            and "/" not in value
            and "\\" not in value
            and not (ctx.base_dir / value).exists()
            and (FONTS / value).is_file()
        ):
            return FONTS / value
        path = super().parse(value, ctx)
        if path.suffix.lower() not in FONT_SUFFIXES:
            raise ValueError(f"expected a TrueType/OpenType font ({', '.join(FONT_SUFFIXES)}), got {path.name}")
        return path


def face_count(path: Path) -> int:
    """How many faces a font file holds (1 for TTF/OTF, n for a collection)."""
    return _face_count(str(path))


@functools.lru_cache(maxsize=64)
def _face_count(path: str) -> int:
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[:4] == b"ttcf":
        return int.from_bytes(head[8:12], "big")
    return 1


def check_font(path: Path, index: int) -> None:
    """Raise ``ValueError`` saying what is wrong when the font cannot be used."""
    try:
        count = face_count(path)
    except OSError as exc:
        raise ValueError(f"cannot read font {path}: {exc}") from None
    if index >= count:
        raise ValueError(f"font {path.name} holds {count} face(s); font_index {index} is out of range")
    try:
        font_cmap(path, index)
        load_font(path, 12.0, index)
    except Exception as exc:
        raise ValueError(f"cannot load font {path}: {type(exc).__name__}: {exc}") from None


def font_cmap(path: Path, index: int = 0) -> frozenset[int]:
    """The code points the font (face ``index`` of a collection) maps to glyphs."""
    return _cmap(str(path), index)


@functools.lru_cache(maxsize=32)
def _cmap(path: str, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def missing_chars(text: str, path: Path, index: int = 0) -> list[str]:
    """Distinct characters of ``text`` (control and format characters aside) the font lacks."""
    cmap = font_cmap(path, index)
    out: dict[str, None] = {}
    for ch in text:
        if ord(ch) not in cmap and unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"):
            out.setdefault(ch)
    return list(out)


def describe_chars(chars: list[str]) -> str:
    """Characters as a message names them: ``'x' (U+0078), ...``."""
    return ", ".join(f"'{c}' (U+{ord(c):04X})" for c in chars)


def load_font(path: Path, size: float, index: int = 0, engine: str = "auto"):
    """A Pillow FreeType font at ``size`` pixels (sizes are kept to 1/64 px)."""
    return _font(str(path), round(size * 64) / 64, index, engine)


@functools.lru_cache(maxsize=64)
def _font(path: str, size: float, index: int, engine: str):
    from PIL import ImageFont

    kw = {}
    if engine == "basic":
        kw["layout_engine"] = ImageFont.Layout.BASIC
    elif engine == "raqm":
        kw["layout_engine"] = ImageFont.Layout.RAQM
    return ImageFont.truetype(path, size, index=index, **kw)


# --- layout --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """A font face: file, index in a collection, layout engine."""

    path: Path
    index: int = 0
    engine: str = "auto"

    def font(self, size: float):
        """This face at ``size`` pixels (cached)."""
        return load_font(self.path, size, self.index, self.engine)


@dataclass
class Piece:
    """Consecutive characters of one face on one line, drawn in one call."""

    text: str
    face: Face
    x: float  # pen position (left of the first character) in the block
    first: int  # global index of the piece's first character
    xs: list[float] = field(default_factory=list)  # pen x of each character


@dataclass
class Layout:
    """Wrapped, aligned lines: ``width`` x ``height`` block; baseline of line i at ``baselines[i]``."""

    lines: list[list[Piece]]
    baselines: list[float]
    width: float
    height: float
    size: float
    count: int  # characters that animate (every laid-out character)
    ascent: float
    descent: float


_TOKEN = re.compile(r"\n|[^\S\n]+|[^\s]+")


def layout(
    runs: list[tuple[str, Face]],
    size: float,
    *,
    wrap: float = 0.0,
    max_height: float = 0.0,
    overflow: str = "shrink",
    line_spacing: float = 1.0,
    align: str = "center",
    hug: bool = False,
) -> Layout:
    """Lay out styled ``runs`` ((text, face) pairs; ``\\n`` breaks lines).

    ``wrap`` > 0 wraps to that width (words, then characters for a word wider than the line);
    ``max_height`` > 0 either shrinks the size until the block fits (``overflow = "shrink"``) or
    drops the lines that do not fit (``"clip"``). The block is ``wrap`` wide (unless ``hug``)
    or as wide as its widest line.
    """
    out = _layout(runs, size, wrap, line_spacing, align, hug)
    if max_height > 0 and out.height > max_height + 0.5:
        if overflow == "shrink":
            lo, hi = 1.0, size
            for _ in range(12):  # bisect the largest size that fits
                mid = (lo + hi) / 2
                if _layout(runs, mid, wrap, line_spacing, align, hug).height <= max_height:
                    lo = mid
                else:
                    hi = mid
            out = _layout(runs, lo, wrap, line_spacing, align, hug)
        else:
            keep = 0
            while keep < len(out.lines) and out.baselines[keep] + out.descent <= max_height + 0.5:
                keep += 1
            keep = max(keep, 1)
            out.lines, out.baselines = out.lines[:keep], out.baselines[:keep]
            out.height = out.baselines[-1] + out.descent
            out.count = sum(len(p.text) for line in out.lines for p in line)
    return out


def _layout(runs, size, wrap, line_spacing, align, hug) -> Layout:
    first_face = runs[0][1] if runs else Face(DEFAULT_FONT)
    ascent, descent = first_face.font(size).getmetrics()
    # tokens with their faces; a line is a list of (token, face, width)
    lines: list[list[tuple[str, Face, float]]] = [[]]
    widths = [0.0]
    soft = [False]  # the line began at a wrap, not at a "\n"

    def new_line(wrapped=True):
        lines.append([])
        widths.append(0.0)
        soft.append(wrapped)

    for text, face in runs:
        font = face.font(size)
        for tok in _TOKEN.findall(text):
            if tok == "\n":
                new_line(False)
                continue
            w = font.getlength(tok)
            if wrap > 0 and widths[-1] + w > wrap and not tok.isspace():
                if any(not t.isspace() for t, _, _ in lines[-1]):
                    new_line()
                if w > wrap:  # a word wider than the line: break characters
                    for ch in tok:
                        cw = font.getlength(ch)
                        if widths[-1] + cw > wrap and lines[-1]:
                            new_line()
                        lines[-1].append((ch, face, cw))
                        widths[-1] += cw
                    continue
            if tok.isspace() and not lines[-1] and soft[-1]:
                continue  # no leading space on a wrapped line
            lines[-1].append((tok, face, w))
            widths[-1] += w
    # merge tokens into pieces of one face; measure them whole (kerning inside a piece)
    laid: list[list[Piece]] = []
    line_widths = []
    index = 0
    for line in lines:
        while line and line[-1][0].isspace():  # trailing spaces do not count for alignment
            line = line[:-1]
        pieces: list[Piece] = []
        for tok, face, _ in line:
            if pieces and pieces[-1].face == face:
                pieces[-1].text += tok
            else:
                pieces.append(Piece(tok, face, 0.0, 0))
        x = 0.0
        for p in pieces:
            font = p.face.font(size)
            p.x, p.first = x, index
            p.xs = [x + font.getlength(p.text[:i]) for i in range(len(p.text))]
            x += font.getlength(p.text)
            index += len(p.text)
        laid.append(pieces)
        line_widths.append(x)
    widest = max(line_widths, default=0.0)
    block_w = widest if (hug or wrap <= 0) else max(wrap, widest)
    for pieces, lw in zip(laid, line_widths):
        shift = {"left": 0.0, "center": (block_w - lw) / 2, "right": block_w - lw}[align]
        for p in pieces:
            p.x += shift
            p.xs = [v + shift for v in p.xs]
    step = (ascent + descent) * line_spacing
    baselines = [ascent + i * step for i in range(len(laid))]
    height = baselines[-1] + descent if laid else 0.0
    return Layout(laid, baselines, block_w, height, size, index, ascent, descent)


# --- rasters -------------------------------------------------------------------------------------


@dataclass
class Masks:
    """8-bit coverage of the fill and of fill+outline, cropped; top-left at (ox, oy) in the block."""

    fill: np.ndarray
    stroke: np.ndarray | None
    ox: int
    oy: int


class Rasterizer:
    """Draws layouts into masks, with an LRU cache and a count of real draws (``calls``)."""

    def __init__(self, capacity: int = 256):
        self.calls = 0
        self._cache = vfx.LRU(capacity)

    def masks(
        self, key, lay: Layout, outline: float, visible: int | None = None, char: int | None = None
    ) -> Masks | None:
        """Masks of the whole layout, of its first ``visible`` characters, or of character ``char``.

        ``key`` must identify everything the layout depends on; None is returned for nothing drawn.
        """
        full = (key, round(outline * 64), visible, char)
        if full in self._cache:
            return self._cache.get(full)
        self.calls += 1
        return self._cache.put(full, self._draw(lay, outline, visible, char))

    @staticmethod
    def _draw(lay: Layout, outline: float, visible, char) -> Masks | None:
        from PIL import Image, ImageDraw

        margin = int(math.ceil(outline + lay.size * 0.5)) + 2
        w = int(math.ceil(lay.width)) + 2 * margin
        h = int(math.ceil(lay.height)) + 2 * margin
        fill = Image.new("L", (w, h), 0)
        stroke = Image.new("L", (w, h), 0) if outline > 0 else None
        df = ImageDraw.Draw(fill)
        ds = ImageDraw.Draw(stroke) if stroke is not None else None
        drew = False
        for pieces, base in zip(lay.lines, lay.baselines):
            for p in pieces:
                if char is not None:
                    if not p.first <= char < p.first + len(p.text):
                        continue
                    i = char - p.first
                    text, x = p.text[i], p.xs[i]
                else:
                    n = len(p.text) if visible is None else max(0, min(len(p.text), visible - p.first))
                    text, x = p.text[:n], p.x
                if not text or text.isspace():
                    continue
                font = p.face.font(lay.size)
                xy = (x + margin, base + margin)
                df.text(xy, text, font=font, fill=255, anchor="ls")
                if ds is not None:
                    try:
                        ds.text(xy, text, font=font, fill=255, anchor="ls", stroke_width=outline, stroke_fill=255)
                    except TypeError:  # Pillow < 11 takes whole-pixel strokes only
                        ds.text(
                            xy,
                            text,
                            font=font,
                            fill=255,
                            anchor="ls",
                            stroke_width=max(1, round(outline)),
                            stroke_fill=255,
                        )
                drew = True
        if not drew:
            return None
        src = stroke if stroke is not None else fill
        box = src.getbbox()
        if box is None:
            return None
        x0, y0, x1, y1 = box
        f = np.asarray(fill)[y0:y1, x0:x1]
        s = np.asarray(stroke)[y0:y1, x0:x1] if stroke is not None else None
        return Masks(f, s, x0 - margin, y0 - margin)


@dataclass
class Layer:
    """A premultiplied linear float32 RGBA patch (h, w, 4) with its top-left at (ox, oy)."""

    pixels: np.ndarray
    ox: float
    oy: float
    tensor: object = None  # the patch as a torch tensor on the render device, once made
    block: tuple | None = None  # (width, height) of the laid-out block it shows, where that matters

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def height(self) -> int:
        return self.pixels.shape[0]


def premultiplied_linear(color) -> np.ndarray:
    """A straight sRGB colour option (r, g, b, a) as premultiplied linear float32 RGBA."""
    from vfx.ops.color import linear_rgba

    return np.asarray(linear_rgba(color), np.float32)


def colorize(masks: Masks, fill_color, outline_color) -> Layer:
    """Fill over outline: P = F m_f + O m_s (1 - m_f), colours premultiplied and linear."""
    f = masks.fill.astype(np.float32) * (1 / 255)
    F = premultiplied_linear(fill_color)
    out = f[..., None] * F
    if masks.stroke is not None:
        s = masks.stroke.astype(np.float32) * (1 / 255)
        O = premultiplied_linear(outline_color)
        out += (s * (1 - f * F[3]))[..., None] * O
    return Layer(out, masks.ox, masks.oy)


def add_shadow(layer: Layer, color, offset, blur: float) -> Layer:
    """``layer`` over its own alpha, blurred (Gaussian sigma ``blur`` px, zero outside the padded
    canvas), offset (bilinear) and tinted ``color``."""
    import torch

    from vfx.ops import filters, resample

    S = premultiplied_linear(color)
    if S[3] <= 0:
        return layer
    dx, dy = float(offset[0]), float(offset[1])
    pad = int(math.ceil(3 * blur)) + 1
    h, w = layer.height, layer.width
    ix0, iy0 = min(0, math.floor(dx)) - pad, min(0, math.floor(dy)) - pad
    ix1, iy1 = max(w, w + math.ceil(dx)) + pad, max(h, h + math.ceil(dy)) + pad
    W, H = ix1 - ix0, iy1 - iy0
    inverse = np.array([[[1.0, 0, ix0 - dx], [0, 1.0, iy0 - dy]]])  # canvas pixel -> layer pixel
    alpha = torch.from_numpy(np.ascontiguousarray(layer.pixels[..., 3]))[None, None]
    alpha = resample.warp_affine(alpha, inverse, (H, W), border="constant")
    if blur > 0:
        alpha = filters.gaussian_blur(alpha, blur, border="constant")
    out = alpha[0, 0].numpy()[..., None] * S
    region = out[-iy0 : -iy0 + h, -ix0 : -ix0 + w]
    region *= 1 - layer.pixels[..., 3:4]
    region += layer.pixels
    return Layer(out, layer.ox + ix0, layer.oy + iy0)


def add_box(layer: Layer, color, box: tuple[float, float, float, float]) -> Layer:
    """``layer`` over a filled rectangle ``box`` = (x0, y0, x1, y1) in the layer's coordinates."""
    B = premultiplied_linear(color)
    if B[3] <= 0:
        return layer
    x0, y0 = math.floor(min(box[0], layer.ox)), math.floor(min(box[1], layer.oy))
    x1 = math.ceil(max(box[2], layer.ox + layer.width))
    y1 = math.ceil(max(box[3], layer.oy + layer.height))
    out = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
    bx0, by0 = int(round(box[0])) - x0, int(round(box[1])) - y0
    bx1, by1 = int(round(box[2])) - x0, int(round(box[3])) - y0
    out[by0:by1, bx0:bx1] = B
    px, py = int(round(layer.ox)) - x0, int(round(layer.oy)) - y0
    region = out[py : py + layer.height, px : px + layer.width]
    region *= 1 - layer.pixels[..., 3:4]
    region += layer.pixels
    return Layer(out, x0, y0)


def transform(
    layer: Layer, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0, pivot: tuple[float, float] = (0.0, 0.0)
) -> Layer:
    """The layer scaled about ``pivot`` and moved by (dx, dy), resampled (bilinear) when needed."""
    if scale == 1.0 and float(dx).is_integer() and float(dy).is_integer():
        return Layer(layer.pixels, layer.ox + dx, layer.oy + dy, layer.tensor)
    import torch

    from vfx.ops import resample

    px, py = pivot
    # where the patch's top-left lands, in the same coordinates as ox/oy
    x0 = px + (layer.ox - px) * scale + dx
    y0 = py + (layer.oy - py) * scale + dy
    ix0, iy0 = math.floor(x0), math.floor(y0)
    W = max(1, math.ceil(x0 + layer.width * scale) - ix0 + 1)
    H = max(1, math.ceil(y0 + layer.height * scale) - iy0 + 1)
    planes = torch.from_numpy(np.ascontiguousarray(layer.pixels, np.float32))[None]  # (1, h, w, 4)
    step = scale
    if scale < 0.5:  # an affine warp has no area filter: shrink by area, then shift
        planes = resample.resize_planes(
            planes, max(1, round(layer.height * scale)), max(1, round(layer.width * scale)), area=True
        )
        step = 1.0
    inverse = np.array([[[1 / step, 0, (ix0 - x0) / step], [0, 1 / step, (iy0 - y0) / step]]])  # out -> in pixels
    out = resample.warp_affine(planes.permute(0, 3, 1, 2), inverse, (H, W), border="constant")
    return Layer(out[0].permute(1, 2, 0).contiguous().numpy(), ix0, iy0)


def over(dst: Layer | None, src: Layer, opacity: float = 1.0) -> Layer:
    """``src`` (times ``opacity``) over ``dst`` as a new layer covering both (integer offsets)."""
    sx, sy = int(round(src.ox)), int(round(src.oy))
    if dst is None:
        pix = src.pixels * opacity if opacity != 1.0 else src.pixels.copy()
        return Layer(pix, sx, sy)
    dx, dy = int(round(dst.ox)), int(round(dst.oy))
    x0, y0 = min(sx, dx), min(sy, dy)
    x1, y1 = max(sx + src.width, dx + dst.width), max(sy + src.height, dy + dst.height)
    if (x0, y0, x1, y1) == (dx, dy, dx + dst.width, dy + dst.height):
        out = dst.pixels
    else:
        out = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
        out[dy - y0 : dy - y0 + dst.height, dx - x0 : dx - x0 + dst.width] = dst.pixels
    s = src.pixels * opacity if opacity != 1.0 else src.pixels
    region = out[sy - y0 : sy - y0 + src.height, sx - x0 : sx - x0 + src.width]
    region *= 1 - s[..., 3:4]
    region += s
    return Layer(out, x0, y0)


def blend(canvas, frames: slice, layer: Layer, x: int, y: int, opacity: float = 1.0) -> None:
    """Blend ``layer`` (its offset plus (x, y)) over ``canvas[frames]`` in place, inside its box only.

    ``canvas`` is the (N, 4, H, W) premultiplied linear tensor of the batch.
    """
    import torch
    from vfx.ops.composite import over, placement

    H, W = canvas.shape[2], canvas.shape[3]
    lx, ly = int(round(layer.ox)) + x, int(round(layer.oy)) + y
    place = placement(lx, ly, layer.width, layer.height, W, H)
    if place is None or opacity <= 0:
        return
    src = layer.tensor
    if src is None or src.device != canvas.device:
        src = torch.from_numpy(np.ascontiguousarray(layer.pixels)).to(canvas.device).permute(2, 0, 1)
        layer.tensor = src
    region = canvas[frames, :, place.y0 : place.y1, place.x0 : place.x1]
    src = src[:, place.sy : place.sy + place.height, place.sx : place.sx + place.width]
    over(region, src.unsqueeze(0).expand(region.shape[0], -1, -1, -1), opacity)


# --- the node side -------------------------------------------------------------------------------


def over_input_option() -> opt.Input:
    """The text nodes' ``input`` option."""
    return opt.Input(None, doc="draw over this clip (fastest) instead of making a transparent layer")


def layer_options() -> tuple[opt.Time, opt.Vec]:
    """The text nodes' ``duration`` and ``layer_size`` options (used without ``input``)."""
    return (
        opt.Time(None, min_frames=1, doc="length without input (default: the pipeline duration)"),
        opt.Vec(
            None,
            integer=True,
            min=1,
            animate=False,
            doc="[width, height] of the layer without input (default: the pipeline size)",
        ),
    )


class TextSource(vfx.Source):
    """Base of the text nodes: they draw over ``input`` or, without it, make a transparent layer."""

    def configure_stream(self) -> None:
        """The input's video and audio, or a transparent ``layer_size`` x ``duration`` layer."""
        o, s = self.options, self.ctx.settings
        src = self.input("input")
        if src is not None:
            self.video, self.audio = src.video, src.audio
        else:
            w, h = o.layer_size or (s.width, s.height)
            self.video = StreamInfo(w, h, s.fps, o.duration or s.duration, True)

    def render_audio(self, start, count):
        return self.input("input").audio_samples(start, count)

    def draw(self, indices: list[int], draws: list[tuple]) -> FrameBatch:
        """The batch with ``draws`` blended on: (layer, x, y, opacity, j0, j1) covers batch positions
        j0..j1. With nothing to draw the input's batch is handed on untouched."""
        import torch

        src = self.input("input")
        if src is not None:
            if not draws:
                return self.pull(src, indices).reindexed(indices)
            canvas = self.pull_writable(src, indices)
        else:
            canvas = torch.zeros((len(indices), self.video.height, self.video.width, 4), device=self.device).permute(
                0, 3, 1, 2
            )
        for layer, x, y, opacity, j0, j1 in draws:
            blend(canvas, slice(j0, j1 + 1), layer, x, y, opacity)
        return FrameBatch(indices, canvas, owned=True)  # the canvas is this node's own
