"""``effect.grade``: colour grade (its CPU per-pixel work is ``_grade_kernel``).

On a CPU, opaque 8-bit video straight from a decoder is graded in 8 bits: every input code goes
through the grade once, into a table (``vfx.ops.codes``: 256 entries a channel, or every RGB
triple once ``CUBE_AFTER`` frames have shown the render is long enough to repay it when a step
mixes channels), and each frame is one lookup per pixel. An 8-bit encoder takes those codes,
exactly the ones it would make of the float grade; any other consumer gets the float grade,
computed when it asks.
"""

from __future__ import annotations

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, empty_pixels, opt, row_strips
from vfx.media import CubeError, read_cube
from vfx.ops import backend, jit
from vfx.ops.color import LUMA, luma, pow_, srgb_decode, srgb_encode, unpremultiply
from vfx.ops.codes import EncodedBatch, apply_channel_table, apply_cube_table, channel_table, cube_table, encode_frames
from vfx.ops.lut import apply_lut, lut_volume

from ._common import _assemble, _col, _linear_rgb

#: float-graded frames after which a grade that mixes channels makes its 8-bit cube table (half a
#: second of work, repaid within about eight 1080p frames; a preview of a frame or two never pays it)
CUBE_AFTER = 8


class Grade(vfx.Effect):
    """Colour grade: white balance, exposure, contrast, saturation, lift/gamma/gain and a .cube LUT.

    Works on straight (unpremultiplied) linear colour and multiplies alpha back in. The steps, in
    order, for each channel value ``x``:

    1. **White balance and exposure**: ``x * 2^exposure * wb``. ``temperature`` t and ``tint`` u
       give channel gains ``(2^(t/2), 2^(-u/2), 2^(-t/2))`` (warm: more red, less blue; positive
       tint: less green, i.e. magenta), divided by their Rec.709 luminance so a neutral grey keeps
       its brightness. ``white``, a colour picked from the shot, multiplies in the gains
       ``Y(white) / white``, which turn that colour into a neutral grey of the same luminance.
    2. **Contrast** in power form around ``pivot`` (linear, 0.18 is mid-grey):
       ``pivot * (x / pivot)^contrast`` for x > 0 (negative values pass through). In log2
       terms this is a slope of ``contrast`` around log2(pivot): a pixel one stop above the pivot
       ends up ``contrast`` stops above it.
    3. **Saturation** with Rec.709 luma ``Y = 0.2126 R + 0.7152 G + 0.0722 B``:
       ``Y + saturation * (x - Y)``.
    4. **Lift / gamma / gain** (ASC-CDL-like, per channel, on linear values):
       ``out = (gain * (x + lift * (1 - x)))^(1 / gamma)``; lift raises black towards 1 while
       keeping 1 fixed, gain scales, gamma bends the midtones. The power applies where the base is
       positive; negative bases pass through.
    5. **LUT** (``lut``, an Adobe/Resolve ``.cube`` 3-D LUT): trilinear interpolation in the
       cube, after converting to the encoding the cube expects (``lut_space``: ``srgb``, the
       usual case for looks made in grading tools, or ``linear``), and back to linear after it.
       Inputs outside the cube's DOMAIN_MIN..DOMAIN_MAX are clamped to it. ``lut_mix`` blends
       the LUT's result with the colour before it.
    """

    type = "effect.grade"
    animated_batches = True
    needs_torch = False  # its 8-bit path (``_encoded``) does without; the float path imports torch itself

    class Options(vfx.Effect.Options):
        exposure = opt.Float(0.0, min=-16.0, max=16.0, doc="exposure change in stops (1: twice as bright)")
        contrast = opt.Float(
            1.0, min=0.0, max=8.0, doc="contrast around pivot: pivot * (x / pivot)^contrast (1: unchanged)"
        )
        pivot = opt.Float(0.18, min=0.001, max=16.0, doc="linear value that contrast leaves unchanged")
        saturation = opt.Float(1.0, min=0.0, max=8.0, doc="0 grey, 1 unchanged, 2 twice as saturated (Rec.709 luma)")
        lift = opt.Vec(
            [0.0, 0.0, 0.0], length=3, doc="[r, g, b] raise (or with negatives lower) the blacks: x + lift * (1 - x)"
        )
        gamma = opt.Vec(
            [1.0, 1.0, 1.0],
            length=3,
            min=0.01,
            doc="[r, g, b] midtone power: out = base^(1 / gamma) (above 1 brightens)",
        )
        gain = opt.Vec([1.0, 1.0, 1.0], length=3, min=0.0, doc="[r, g, b] multiplier (the whites)")
        temperature = opt.Float(
            0.0, min=-4.0, max=4.0, doc="white balance, cool (-) to warm (+): red +t/2 and blue -t/2 stops"
        )
        tint = opt.Float(0.0, min=-4.0, max=4.0, doc="white balance, green (-) to magenta (+): green -u/2 stops")
        white = opt.Color(None, doc="a colour in the shot that should become neutral grey (straight sRGB)")
        lut = opt.InputPath(None, doc="a .cube 3-D LUT applied last, relative to the pipeline file")
        lut_space = opt.Choice(
            "srgb",
            choices=("srgb", "linear"),
            doc="what the LUT's input and output are: sRGB-encoded (most looks) or linear",
        )
        lut_mix = opt.Float(1.0, min=0.0, max=1.0, doc="0 ignores the LUT, 1 applies it fully")

    def configure(self):
        super().configure()
        self._lut = None
        self._volume = None
        self._kernel_table = None
        self._code_tables: dict = {}
        self._float_frames = 0  # frames graded in float while a cube table waits for more
        path = self.options.lut
        if path is not None:
            try:
                self._lut = read_cube(path)
            except CubeError as exc:
                where = f"line {exc.line} of {path.name}" if exc.line else str(path.name)
                raise ConfigureError(f"{where}: {exc}", option="lut") from None
        white = self.options.white
        if white is not None and not isinstance(white, vfx.Animated):
            if float(_linear_rgb(np.asarray([white])).min()) < 1e-3:
                raise ConfigureError(
                    f"white {list(white[:3])} has a channel at or near 0: pick a grey or near-white part of the shot",
                    option="white",
                )

    def input_files(self):
        return [self.options.lut] if self.options.lut is not None else []

    def _wb_gains(self, indices):
        """(N, 3) channel gains of temperature, tint and the picked white."""
        t = self.values("temperature", indices)
        u = self.values("tint", indices)
        gains = np.stack([2.0 ** (t / 2), 2.0 ** (-u / 2), 2.0 ** (-t / 2)], axis=1)
        gains = gains / (gains @ np.asarray(LUMA))[:, None]
        if self.options.white is not None:
            w = np.maximum(_linear_rgb(self.values("white", indices)), 1e-4)
            gains = gains * (w @ np.asarray(LUMA))[:, None] / w
        return gains

    def _steps(self, indices) -> dict:
        """The steps this batch needs, with their per-frame values: NumPy (N,) or (N, 3) arrays."""
        steps = {}
        gains = self._wb_gains(indices) * (2.0 ** self.values("exposure", indices))[:, None]
        if not np.allclose(gains, 1.0, rtol=0, atol=1e-9):
            steps["gains"] = gains
        contrast = self.values("contrast", indices)
        if np.any(contrast != 1.0):
            steps["contrast"] = (contrast, self.values("pivot", indices))
        sat = self.values("saturation", indices)
        if np.any(sat != 1.0):
            steps["saturation"] = sat
        lift, gamma, gain = (self.values(k, indices) for k in ("lift", "gamma", "gain"))
        if np.any(lift != 0.0) or np.any(gain != 1.0):
            steps["lift_gain"] = (lift, gain)
        if np.any(gamma != 1.0):
            steps["gamma"] = 1.0 / gamma
        if self._lut is not None:
            mix = self.values("lut_mix", indices)
            if np.any(mix > 0):
                steps["lut"] = None if np.all(mix == 1.0) else mix
        return steps

    def _settings(self, steps: dict, like) -> dict:
        """``steps`` with their values as (N, k, 1, 1) tensors on ``like``'s device, the LUT laid out there."""
        out = {
            k: None if v is None else tuple(_col(x, like) for x in v) if isinstance(v, tuple) else _col(v, like)
            for k, v in steps.items()
        }
        if "lut" in steps and (self._volume is None or self._volume[0] != like.device):
            self._volume = (like.device, lut_volume(self._lut, like.device))
        return out

    def _grade(self, rgb, steps: dict):
        """The grade of straight linear colour (N, 3, H, W): a new tensor, or ``rgb`` changed in place."""
        import torch

        gains = steps.get("gains")
        if "contrast" in steps:  # the gains (all positive) ride along in its passes
            c, pivot = steps["contrast"]
            scaled, negative = (
                (1.0 / pivot, rgb.clamp_max(0.0)) if gains is None else (gains / pivot, rgb.clamp_max(0.0).mul_(gains))
            )
            rgb = pow_(rgb.clamp_min(0.0).mul_(scaled), c).mul_(pivot).add_(negative)
        elif gains is not None:
            rgb = rgb * gains
        if "saturation" in steps:  # Y + s (x - Y) = s x + (1 - s) Y
            sat = steps["saturation"]
            y = luma(rgb).mul_(1.0 - sat)
            rgb = (rgb * sat).add_(y)
        if "lift_gain" in steps:
            lf, gn = steps["lift_gain"]
            rgb = gn * (rgb + lf * (1.0 - rgb))
        if "gamma" in steps:
            rgb = pow_(rgb.clamp_min(0.0), steps["gamma"]).add_(rgb.clamp_max(0.0))
        if "lut" in steps:
            srgb = self.options.lut_space == "srgb"
            looked = apply_lut(srgb_encode(rgb) if srgb else rgb, self._lut, self._volume[1])
            looked = srgb_decode(looked) if srgb else looked
            mix = steps["lut"]
            rgb = looked if mix is None else torch.lerp(rgb, looked, mix)
        return rgb

    def render(self, indices):
        batch = self.pull(self.input("input"), indices)
        steps = self._steps(indices)
        if not steps:
            return batch
        fused = self._encoded(batch, indices, steps)
        if fused is not None:
            return fused
        return FrameBatch(indices, self._graded(batch.pixels, steps))

    def _graded(self, px, steps: dict):
        """The grade of (N, 4, H, W) pixels: a new tensor."""
        has_alpha = self.input("input").video.has_alpha
        n, _, h, w = px.shape
        out = empty_pixels(n, h, w, px.device)
        if backend.allows("numba", px):
            from . import _grade_kernel as K

            for k, args in enumerate(self._kernel_args(steps, n, has_alpha)):
                K.grade_frame(jit.rgba(px[k]), jit.rgba(out[k], out=True), *args)
            return out
        steps = self._settings(steps, px)
        for y0, y1 in row_strips(px):
            # per-channel arithmetic runs fastest on whole planes: one copy to NCHW, one back
            rgb, alpha = unpremultiply(px[:, :, y0:y1].contiguous(), has_alpha)
            _assemble(self._grade(rgb, steps), alpha, premultiply=has_alpha, out=out[:, :, y0:y1])
        return out

    def _kernel_args(self, steps: dict, n: int, has_alpha: bool) -> list[tuple]:
        """Per frame, the arguments of ``_grade_kernel.grade_frame`` after the two frames."""
        from . import _grade_kernel as K

        flags = K.ALPHA if has_alpha else 0
        values = {"gains": steps.get("gains", 1.0)}
        if "gains" in steps:
            flags |= K.GAINS
        if "contrast" in steps:
            flags |= K.CONTRAST
            values["contrast"], values["pivot"] = steps["contrast"]
        if "saturation" in steps:
            flags |= K.SATURATION
            values["saturation"] = steps["saturation"]
        if "lift_gain" in steps:
            flags |= K.LIFT_GAIN
            values["lift"], values["gain"] = steps["lift_gain"]
        if "gamma" in steps:
            flags |= K.GAMMA
            values["inv_gamma"] = steps["gamma"]
        table, size = np.zeros(1, np.float32), 2
        if "lut" in steps:
            lut = self._lut
            flags |= K.LUT | (K.LUT_SRGB if self.options.lut_space == "srgb" else 0)
            lo = np.asarray(lut.domain_min, np.float32)
            values["lut_lo"] = lo
            values["lut_scale"] = (lut.size - 1) / (np.asarray(lut.domain_max, np.float32) - lo)
            if steps["lut"] is not None:
                flags |= K.LUT_MIX
                values["mix"] = steps["lut"]
            if self._kernel_table is None:
                self._kernel_table = K.padded_table(lut.table)
            table, size = self._kernel_table, lut.size
        params = K.PARAMS.pack(n, **values)
        return [(params[k], table, size, flags) for k in range(n)]

    def _encoded(self, batch, indices, steps: dict):
        """The batch graded straight in 8 bits (an ``EncodedBatch``), or None where that does not apply.

        It applies to opaque 8-bit decoded video on a CPU: each frame goes through one table,
        made by running the grade kernel over every input code (one per channel when no step
        mixes channels; every RGB triple otherwise, for a grade that is not animated, once the node
        has graded ``CUBE_AFTER`` frames in float: a short preview would not repay the table), which
        gives exactly the codes an 8-bit encoder would make of the float grade. The float pixels
        are graded when asked for.
        """
        from . import _grade_kernel as K

        frames = batch.native
        if frames is None or self.input("input").video.has_alpha or not backend.allows("numba"):
            return None
        args = self._kernel_args(steps, len(frames), has_alpha=False)
        keys = [(a[0].tobytes(), a[3]) for a in args]
        mixes = bool(args[0][3] & (K.SATURATION | K.LUT))
        if mixes and (self.options.animations() or self._float_frames < CUBE_AFTER):
            self._float_frames += len(frames)  # (an animated grade would need a cube per frame)
            return None
        tables = iter([self._code_table(key, arg, mixes) for key, arg in zip(keys, args)])
        apply = apply_cube_table if mixes else apply_channel_table
        encoded = encode_frames(frames, lambda rgba, out: apply(rgba, next(tables), out))
        if encoded is None:
            return None
        return EncodedBatch(
            indices, encoded, lambda: self._graded(batch.pixels, steps), size=(batch.width, batch.height)
        )

    def _code_table(self, key, args: tuple, mixes: bool) -> np.ndarray:
        """The 8-bit table of the grade with one frame's kernel arguments (kept for reuse)."""
        from . import _grade_kernel as K

        table = self._code_tables.get(key)
        if table is None:

            def chain(rgba):
                out = np.empty_like(rgba)
                K.grade_frame(rgba.reshape(-1), out.reshape(-1), *args)
                return out

            table = cube_table(chain) if mixes else channel_table(chain)
            if len(self._code_tables) >= (1 if mixes else 16):
                self._code_tables.clear()
            self._code_tables[key] = table
        return table
