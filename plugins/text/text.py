"""``source.text``: titles and captions drawn with FreeType, animated in and out."""

from __future__ import annotations

import math
import warnings

import numpy as np

import vfx
from vfx import ConfigureError, opt
from vfx.ops import curves

try:
    from . import text_layout as tl
except ImportError:  # imported as a plain module (tests, docs tools)
    import text_layout as tl  # type: ignore[no-redef]

ANIMATIONS = ("none", "fade", "typewriter", "slide", "pop")
EASINGS = ("linear", "ease_in", "ease_out", "ease_in_out")


#: finished layers kept per node, in bytes (numpy patch plus its torch copy)
LAYER_CACHE_BYTES = 192 << 20


def _layer_bytes(layer) -> int:
    return 0 if layer is None else layer.pixels.nbytes * 2


def pop_curve(u: np.ndarray) -> np.ndarray:
    """Scale for a pop: 0 -> overshoots to about 1.1 -> settles at 1 (ease-out-back)."""
    c1 = 1.70158
    v = u - 1
    return 1 + (c1 + 1) * v**3 + c1 * v**2


class Text(tl.TextSource):
    """Text in any TrueType/OpenType font, with outline, drop shadow, wrapping and in/out animations.

    Without ``input`` the node is a transparent layer (the pipeline size, or ``layer_size``) to
    stack with ``editor.composite``; with ``input`` it draws straight over that clip, which is the
    fastest way (only the text's own box is touched). The text block (the wrap box, or the text's
    extent) is placed so that its ``anchor`` point sits at ``position`` (fractions of the frame)
    plus ``offset`` (pixels).

    Animations run from ``start`` (``animation``) and towards ``end`` (``animation_out``), each over
    ``animation_duration``; ``stagger`` delays each character by that many seconds, so ``fade``,
    ``slide`` and ``pop`` go letter by letter. ``typewriter`` reveals one character after another
    (every ``stagger`` seconds, or evenly over the duration) and, out, removes them from the end.
    Numeric and colour options (size, colour, opacity, outline, shadow, position, offset, box...)
    take keyframes, expressions and drivers.

    The text is rasterised once (per distinct size/outline/visible-character count) and reused:
    moving, fading and scaling only resample the small cached patch. Characters the font lacks are
    reported in a warning that names them.
    """

    type = "source.text"
    animated_batches = True

    class Options(vfx.Options):
        text = opt.Str(doc="the text; \\n breaks lines")
        input = tl.over_input_option()
        font = tl.FontPath(
            None,
            doc="TTF/OTF/TTC font file, or a bundled one by file name "
            "(default: the bundled DejaVuSans.ttf; also -Bold, -Oblique, -BoldOblique)",
        )
        font_index = opt.Int(0, min=0, animate=False, doc="face in a font collection (.ttc)")
        layout_engine = opt.Choice(
            "auto",
            choices=("auto", "basic", "raqm"),
            doc="text shaping: raqm (complex scripts, if Pillow has it) or basic",
        )
        size = opt.Float(72.0, min=1.0, max=4000.0, doc="font size in pixels (the em height)")
        color = opt.Color("white", doc="fill colour (its alpha is the fill's opacity)")
        opacity = opt.Float(1.0, min=0.0, max=1.0, doc="opacity of the whole text, shadow included")
        outline = opt.Float(0.0, min=0.0, max=500.0, doc="outline width in pixels (0: none)")
        outline_color = opt.Color("black", doc="outline colour")
        shadow_color = opt.Color(
            "transparent", doc='drop shadow colour and opacity, e.g. "#000000a0" (transparent: no shadow)'
        )
        shadow_offset = opt.Vec([4.0, 4.0], doc="[x, y] shadow offset in pixels")
        shadow_blur = opt.Float(3.0, min=0.0, max=500.0, doc="shadow softness (Gaussian sigma in pixels)")
        line_spacing = opt.Float(1.0, min=0.3, max=10.0, doc="line distance as a multiple of the font's line height")
        align = opt.Choice("center", choices=("left", "center", "right"), doc="alignment of the lines in the block")
        box = opt.Vec(
            [0.0, 0.0],
            min=0.0,
            max=float(opt.max_size()),
            doc="[width, height] in pixels: wrap to the width; text taller "
            "than the height shrinks or clips (see overflow); 0: no limit",
        )
        overflow = opt.Choice(
            "shrink",
            choices=("shrink", "clip"),
            doc="text taller than the box: shrink the size until it fits, or drop lines",
        )
        anchor = opt.Choice("center", choices=tuple(tl.ANCHORS), doc="the point of the text block put at position")
        position = opt.Vec([0.5, 0.5], doc="[x, y] of the anchor as fractions of the frame ([0.5, 0.5]: centre)")
        offset = opt.Vec([0.0, 0.0], doc="[x, y] pixels added to position (handy to animate)")
        start = opt.Time(0, doc="first frame the text shows (the in animation starts here)")
        end = opt.Time(None, doc="first frame without the text (the out animation ends here; default: the end)")
        animation = opt.Choice("none", choices=ANIMATIONS, doc="in animation")
        animation_out = opt.Choice("none", choices=ANIMATIONS, doc="out animation")
        animation_duration = opt.Time("0.5s", doc="length of the in animation (per character when staggered)")
        animation_out_duration = opt.Time(None, doc="length of the out animation (default: animation_duration)")
        stagger = opt.Float(
            0.0,
            min=0.0,
            max=60.0,
            animate=False,
            doc="seconds between successive characters' animations (0: all together)",
        )
        easing = opt.Choice("ease_out", choices=EASINGS, doc="easing of fade and slide")
        slide = opt.Vec([0.0, 40.0], doc="[x, y] pixels a slide comes from (in) or goes to (out)")
        duration, layer_size = tl.layer_options()

    def configure(self):
        o = self.options
        font = o.font or tl.DEFAULT_FONT
        try:
            count = tl.face_count(font)
        except OSError as exc:
            raise ConfigureError(f"cannot read font {font}: {exc}", option="font") from None
        if o.font_index >= count:
            raise ConfigureError(
                f"font {font.name} holds {count} face(s); font_index {o.font_index} is out of range",
                option="font_index",
            )
        try:
            tl.check_font(font, o.font_index)
        except ValueError as exc:
            raise ConfigureError(str(exc), option="font") from None
        self.face = tl.Face(font, o.font_index, o.layout_engine)
        missing = tl.missing_chars(o.text, font, o.font_index)
        if missing:
            warnings.warn(
                tl.MissingGlyphWarning(
                    f"node '{self.id}': font {font.name} has no glyph for {tl.describe_chars(missing)}; "
                    "they would draw as empty boxes (choose a font that has them)"
                ),
                stacklevel=2,
            )
        self.configure_stream()
        self._end = self.video.frame_count if o.end is None else o.end
        if o.start >= self._end:
            raise ConfigureError(f"start (frame {o.start}) is not before end (frame {self._end})", option="start")
        self.rasterizer = tl.Rasterizer()
        self._layouts = vfx.LRU(64)
        self._layers = vfx.LRU(LAYER_CACHE_BYTES, weigh=_layer_bytes)

    # --- rendering ---------------------------------------------------------------------------
    def render(self, indices):
        W, H = self.video.width, self.video.height
        base = self.options
        animated = bool(base.animations())
        fps = self.video.fps
        draws: list[list] = []  # [layer, x, y, opacity, first j, last j]
        for j, i in enumerate(indices):
            placed = self.frame_layer(base.at(i, fps) if animated else base, i, W, H)
            if placed is None:
                continue
            layer, x, y, alpha = placed
            last = draws[-1] if draws else None
            if last is not None and last[0] is layer and last[1:4] == [x, y, alpha] and last[5] == j - 1:
                last[5] = j
            else:
                draws.append([layer, x, y, alpha, j, j])
        return self.draw(indices, draws)

    def _layout(self, o) -> tuple[tl.Layout, tuple]:
        key = (float(o.size), float(o.line_spacing), o.align, tuple(o.box), o.overflow)
        lay = self._layouts.get(key)
        if lay is None:
            lay = tl.layout(
                [(self.options.text, self.face)],
                o.size,
                wrap=o.box[0],
                max_height=o.box[1],
                overflow=o.overflow,
                line_spacing=o.line_spacing,
                align=o.align,
            )
            self._layouts.put(key, lay)
        return lay, key

    def _colored(self, o, lay, lkey, visible=None, char=None, shadow=True):
        """The cached coloured (and shadowed) layer of the text, a prefix or one character."""
        key = (
            lkey,
            float(o.outline),
            visible,
            char,
            tuple(o.color),
            tuple(o.outline_color),
            (tuple(o.shadow_color), tuple(o.shadow_offset), float(o.shadow_blur)) if shadow else None,
        )
        if key in self._layers:
            return self._layers.get(key)
        masks = self.rasterizer.masks(lkey, lay, o.outline, visible=visible, char=char)
        layer = None
        if masks is not None:
            layer = tl.colorize(masks, o.color, o.outline_color)
            if shadow:
                layer = tl.add_shadow(layer, o.shadow_color, o.shadow_offset, o.shadow_blur)
        return self._layers.put(key, layer)

    def frame_layer(self, o, i: int, W: int, H: int):
        """(layer, x, y, opacity) to blend at frame ``i`` (options ``o`` evaluated there), or None."""
        if not self.options.start <= i < self._end or o.opacity <= 0:
            return None
        lay, lkey = self._layout(o)
        n = lay.count
        if n == 0:
            return None
        fps = float(self.video.fps)
        t = i / fps
        t0, t1 = self.options.start / fps, self._end / fps
        dur = self.options.animation_duration / fps
        out_frames = self.options.animation_out_duration
        dur_out = dur if out_frames is None else out_frames / fps
        st = self.options.stagger
        a_in, a_out = self.options.animation, self.options.animation_out
        c = np.arange(n, dtype=np.float64)
        eps = 1e-9

        visible = n
        interval = st if st > 0 else dur / n
        if a_in == "typewriter" and interval > 0:
            visible = int(np.clip(math.floor((t - t0) / interval + eps) + 1, 0, n))
        interval = st if st > 0 else dur_out / n
        if a_out == "typewriter" and interval > 0:
            removed = int(np.clip(math.floor((t - (t1 - n * interval)) / interval + eps), 0, n))
            visible = min(visible, n - removed)
        if visible <= 0:
            return None

        op = np.ones(n)
        scale = np.ones(n)
        dx = np.zeros(n)
        dy = np.zeros(n)

        def apply(kind, u):  # u: raw progress 0 (hidden) .. 1 (at rest) per character
            nonlocal op, scale, dx, dy
            if kind in ("none", "typewriter"):
                return
            if kind == "pop":
                scale = scale * np.maximum(pop_curve(u), 0.0)
                op = op * np.clip(u * 4, 0, 1)
                return
            e = curves.ease(u, self.options.easing)
            op = op * e
            if kind == "slide":
                dx = dx + (1 - e) * o.slide[0]
                dy = dy + (1 - e) * o.slide[1]

        if a_in not in ("none", "typewriter"):
            u = np.clip((t - t0 - c * st) / dur, 0, 1) if dur > 0 else (t + eps >= t0 + c * st).astype(float)
            apply(a_in, u)
        if a_out not in ("none", "typewriter"):
            out0 = t1 - dur_out - (n - 1) * st
            q = np.clip((t - out0 - c * st) / dur_out, 0, 1) if dur_out > 0 else np.zeros(n)
            apply(a_out, 1 - q)

        ax, ay = tl.ANCHORS[o.anchor]
        block_w = lay.width
        block_h = o.box[1] if o.box[1] > 0 else lay.height
        bx = int(round(o.position[0] * W + o.offset[0] - ax * block_w))
        by = int(round(o.position[1] * H + o.offset[1] - ay * block_h))
        pivot = (lay.width / 2, lay.height / 2)

        uniform = (
            np.all(op[:visible] == op[0])
            and np.all(scale[:visible] == scale[0])
            and np.all(dx[:visible] == dx[0])
            and np.all(dy[:visible] == dy[0])
        )
        if uniform:
            if op[0] <= 0 or scale[0] <= 1e-3:
                return None
            layer = self._colored(o, lay, lkey, visible=None if visible == n else visible)
            if layer is None:
                return None
            if scale[0] != 1.0 or dx[0] != 0 or dy[0] != 0:
                layer = tl.transform(layer, float(scale[0]), float(dx[0]), float(dy[0]), pivot)
            return layer, bx, by, float(o.opacity * op[0])
        # characters animate separately: compose their cached patches, then the shadow
        acc = None
        for k in range(visible):
            if op[k] <= 0 or scale[k] <= 1e-3:
                continue
            ch = self._colored(o, lay, lkey, char=k, shadow=False)
            if ch is None:
                continue
            if scale[k] != 1.0 or dx[k] != 0 or dy[k] != 0:
                centre = (ch.ox + ch.width / 2, ch.oy + ch.height / 2)
                ch = tl.transform(ch, float(scale[k]), float(dx[k]), float(dy[k]), centre)
            acc = tl.over(acc, ch, float(op[k]))
        if acc is None:
            return None
        acc = tl.add_shadow(acc, o.shadow_color, o.shadow_offset, o.shadow_blur)
        return acc, bx, by, float(o.opacity)
