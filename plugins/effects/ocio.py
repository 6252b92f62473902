"""``effect.ocio``: any OpenColorIO transform on whole batches."""

from __future__ import annotations

import vfx
from vfx import ConfigureError, FrameBatch, opt


class OcioEffect(vfx.Effect):
    """An OpenColorIO transform: colour space to colour space, display / view, look, ASC CDL, or
    a file (a LUT or CDL OCIO reads: .cube, .spi3d, .clf, .cdl, .cc, .ccc, ...).

    Which one is given by the options set: ``display`` + ``view``; ``looks``; ``file``; ``slope``
    / ``offset`` / ``power`` / ``saturation`` (a CDL); else ``src`` to ``dst``. ``src`` and
    ``dst`` default to the working space: the ``[color]`` table's, or without one the graph's
    own linear Rec.709 (``lin_rec709`` of the built-in ACES config). The processor is built once
    when the graph is configured and applied to whole batches on the CPU (colour unpremultiplied
    around it where alpha is below 1; alpha unchanged).

    With a ``[color]`` table, vfx puts one of these after each video / image source and before
    each video / PNG encoder (see the pipeline format's ``[color]``). ``input_codes`` sRGB-encodes
    the input first, giving back the code values a media source decoded.

    A display / view transform gives the display's code values. With ``display_codes`` (the
    default for display / view) they are sRGB-decoded on the way out, so that an encoder, which
    applies the sRGB curve, writes those code values exactly.
    """

    type = "effect.ocio"

    class Options(vfx.Effect.Options):
        config = opt.Str(None, doc="OCIO config: built-in name, ocio:// URI or .ocio file (default: the [color] one)")
        src = opt.Str(None, doc="colour space of the input (default: the working space)")
        dst = opt.Str(None, doc="colour space to convert to (default: the working space)")
        display = opt.Str(None, doc="display of a display / view transform, such as 'sRGB - Display'")
        view = opt.Str(None, doc="view of a display / view transform, such as 'ACES 2.0 - SDR 100 nits (Rec.709)'")
        looks = opt.Str(None, doc="looks to apply from src to dst, in OCIO syntax ('+look1, -look2')")
        file = opt.InputPath(None, doc="a LUT or CDL file (.cube, .spi3d, .clf, .cdl, .cc, .ccc, ...)")
        cccid = opt.Str("", doc="the correction of a .ccc file to use (id or index)")
        interpolation = opt.Choice(
            "best", choices=("best", "linear", "tetrahedral", "nearest"), doc="LUT interpolation of a file transform"
        )
        slope = opt.Vec(None, length=3, animate=False, doc="CDL slope [r, g, b]")
        offset = opt.Vec(None, length=3, animate=False, doc="CDL offset [r, g, b]")
        power = opt.Vec(None, length=3, min=0.0, animate=False, doc="CDL power [r, g, b]")
        saturation = opt.Float(None, min=0.0, animate=False, doc="CDL saturation")
        inverse = opt.Bool(False, doc="apply the transform backwards")
        input_codes = opt.Bool(
            False, doc="sRGB-encode the input first, so the transform sees the code values a media source decoded"
        )
        display_codes = opt.Bool(
            None, doc="sRGB-decode the result so an encoder writes its values as codes (default: for display / view)"
        )

    def configure(self):
        super().configure()
        from vfx.ops import ocio

        o = self.options
        cdl = any(v is not None for v in (o.slope, o.offset, o.power, o.saturation))
        kinds = [
            name
            for name, on in (
                ("display / view", o.display is not None or o.view is not None),
                ("looks", o.looks is not None),
                ("file", o.file is not None),
                ("CDL", cdl),
            )
            if on
        ]
        if len(kinds) > 1:
            raise ConfigureError(f"give one transform, not {' and '.join(kinds)}", option=_first_option(kinds[1]))
        kind = kinds[0] if kinds else "colour space"
        option = _first_option(kind)
        try:
            if o.config is not None:
                config = ocio.load_config(
                    o.config if "/" not in o.config else str(self.ctx.settings.base_dir / o.config)
                )
                work = None
            else:
                config, work = ocio.working_space(self.ctx.settings)
            src = o.src or work
            dst = o.dst or work
            if kind == "display / view":
                if o.display is None or o.view is None:
                    raise ConfigureError("a display / view transform needs both display and view", option=option)
                t = ocio.display_view_transform(config, _need(src, "src"), o.display, o.view, inverse=o.inverse)
            elif kind == "looks":
                t = ocio.look_transform(config, _need(src, "src"), _need(dst, "dst"), o.looks, inverse=o.inverse)
            elif kind == "file":
                t = ocio.file_transform(config, o.file, cccid=o.cccid, interpolation=o.interpolation, inverse=o.inverse)
            elif kind == "CDL":
                t = ocio.cdl_transform(
                    config,
                    o.slope or (1.0, 1.0, 1.0),
                    o.offset or (0.0, 0.0, 0.0),
                    o.power or (1.0, 1.0, 1.0),
                    1.0 if o.saturation is None else o.saturation,
                    inverse=o.inverse,
                )
            else:
                t = ocio.colorspace_transform(config, _need(src, "src"), _need(dst, "dst"))
                if o.inverse:
                    t = ocio.colorspace_transform(config, _need(dst, "dst"), _need(src, "src"))
        except ocio.ColorError as exc:
            raise ConfigureError(str(exc), option=option) from None
        self._transform = t
        codes = o.display_codes
        self._codes = (kind == "display / view" and not o.inverse) if codes is None else codes

    def render(self, indices):
        from vfx.ops import color

        pixels = self.pull(self.input("input"), indices).pixels
        if self.options.input_codes:
            rgb, alpha = color.unpremultiply(pixels, self.video.has_alpha)
            pixels = color.premultiply(color.srgb_encode(rgb), alpha)
        out = self._transform.apply(pixels)
        if self._codes:
            rgb, alpha = color.unpremultiply(out, self.video.has_alpha)
            out = color.premultiply(color.srgb_decode(rgb), alpha, out=out)
        return FrameBatch(indices, out, owned=True)


def _first_option(kind: str) -> str:
    return {"display / view": "display", "looks": "looks", "file": "file", "CDL": "slope"}.get(kind, "src")


def _need(name: str | None, option: str) -> str:
    if name is None:
        raise ConfigureError(
            f"set {option}: a config named in the node has no working space to default to", option=option
        )
    return name
