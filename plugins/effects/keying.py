"""Keying: a chroma keyer (green/blue screen, any key colour) and a luma keyer.

Both compute a matte from the straight (un-premultiplied) colour of each pixel, multiply it into
the pixel's existing alpha and return premultiplied linear RGBA, or, with ``output = "matte"``,
the final alpha as an opaque grey picture for checking (a pixel of alpha 0.5 is written as sRGB
code 128).
"""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, empty_pixels, empty_planes, opt, row_strips
from vfx.ops import backend, filters, jit
from vfx.ops.color import (
    BT709,
    BT709_CB,
    BT709_CR,
    LUMA,
    rgb_to_hex,
    srgb_decode,
    srgb_encode,
    srgb_to_linear,
    unpremultiply,
)

OUTPUTS = ("composite", "matte")


def straight_planes(pixels, opaque: bool):
    """The straight linear colour of premultiplied pixels as (N, 3, H, W) planes (a new tensor).

    Colour is 0 where alpha is 0; ``opaque`` (the input has no alpha) skips the division.
    """
    import torch

    if opaque:
        return pixels[:, :3].clone(memory_format=torch.contiguous_format)  # planar, and ours to change
    return unpremultiply(pixels)[0].contiguous()


def _column(values, device):
    import torch

    return torch.as_tensor(np.asarray(values, np.float64), dtype=torch.float32, device=device).view(-1, 1, 1, 1)


def blur_matte(matte, radii: np.ndarray):
    """Each frame of a (N, 1, H, W) matte blurred by its own radius: a Gaussian of sigma radius / 2,
    edges extended (``vfx.ops.filters.gaussian_blur``, replicate border, cut at 4 sigma)."""
    if not np.any(radii > 0.05):
        return matte
    return filters.gaussian_blur_frames(matte, np.where(radii > 0.05, radii / 2.0, 0.0))


def _morph(frame, size: int, shrink: bool):
    """A (1, 1, H, W) matte eroded (``shrink``) or dilated over a (2 size + 1)-pixel square."""
    if size == 0:
        return frame
    return filters.erode(frame, size) if shrink else filters.dilate(frame, size)


def shrink_matte(matte, amounts: np.ndarray):
    """Each frame's matte eroded by ``amount`` pixels (dilated where negative); fractions blend."""
    import torch

    if not np.any(np.abs(amounts) > 1e-3):
        return matte
    out = matte.clone()
    for k, amount in enumerate(amounts):
        r = abs(float(amount))
        if r <= 1e-3:
            continue
        lo = math.floor(r)
        frac = r - lo
        a = _morph(matte[k : k + 1], lo, amount > 0)
        if frac > 1e-3:
            a = torch.lerp(a, _morph(matte[k : k + 1], lo + 1, amount > 0), frac)
        out[k : k + 1] = a
    return out


class _Keyer(vfx.Effect):
    """Shared output handling: the matte times the input's alpha, premultiplied, or shown as grey."""

    animated_batches = True

    class Options(vfx.Effect.Options):
        output = opt.Choice(
            "composite",
            choices=OUTPUTS,
            doc="composite: the keyed picture with its new alpha; matte: the alpha as "
            "an opaque grey picture, for checking the key",
        )

    def configure(self):
        super().configure()
        self.video = self.video.with_(has_alpha=self.options.output == "composite")

    def _finish(self, pixels, matte, rgb=None, out=None):
        """Output pixels for a (N, 1, H, W) key matte, new or into ``out``; ``rgb``: straight
        linear planes to use instead of the input's colour."""
        import torch

        n, _, h, w = pixels.shape
        if out is None:
            out = empty_pixels(n, h, w, pixels.device)
        if self.options.output == "matte":
            a = (matte * pixels[:, 3:4]).clamp_(0, 1)
            out[:, :3] = srgb_decode(a)
            out[:, 3:4] = 1.0
        elif rgb is None:
            torch.mul(pixels, matte, out=out)
        else:
            alpha = matte * pixels[:, 3:4]
            torch.mul(rgb, alpha, out=out[:, :3])
            out[:, 3:4] = alpha
        return out


def _ramp(x, start: np.ndarray, width: np.ndarray):
    """0 at ``start``, rising linearly to 1 at ``start + width`` (a hard step where width is 0).

    ``x`` is (N, 1, H, W) and is overwritten; ``start`` and ``width`` hold one value per frame.
    """
    import torch

    dev = x.device
    if np.all(width > 0):
        return _snapped_(x.sub_(_column(start, dev)).div_(_column(width, dev)).clamp_(0, 1))
    soft = (x - _column(start, dev)).div_(_column(np.maximum(width, 1e-6), dev)).clamp_(0, 1)
    hard = (x >= _column(start, dev)).to(x.dtype)
    return torch.where(_column(width, dev) > 0, _snapped_(soft), hard)


_MATTE_SNAP = 2.0**-20  # well below half a 16-bit code step (2^-17)


def _snapped_(matte):
    """``matte`` with values within 2^-20 of 0 or 1 made exactly 0 or 1, in place.

    The luma and colour distances come through float curves whose last bits differ between
    instruction sets (AVX2 and AVX-512 round OpenCV's pow differently); snapping keeps the promise
    that a keyed-out pixel is exactly transparent and a kept one exactly opaque on every CPU.
    """
    matte.masked_fill_(matte < _MATTE_SNAP, 0.0)
    return matte.masked_fill_(matte > 1 - _MATTE_SNAP, 1.0)


def _weighted(planes, weights, offset: np.ndarray | None = None):
    """``sum_c weights[c] * planes[:, c] - offset`` as a new (N, 1, H, W) tensor (one matrix product)."""
    import torch

    n, c, h, w = planes.shape
    wt = torch.as_tensor(weights, dtype=planes.dtype, device=planes.device).view(1, 1, c)
    out = torch.matmul(wt, planes.contiguous().view(n, c, h * w)).view(n, 1, h, w)
    if offset is not None:
        out.sub_(_column(offset, planes.device))
    return out


def _despill_basis(key_linear: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about the grey axis that turn each key colour's hue onto pure green."""
    n = np.full(3, 1 / math.sqrt(3))
    e1 = np.array([-1.0, 2.0, -1.0]) / math.sqrt(6)  # the hue of pure green
    e2 = np.array([-1.0, 0.0, 1.0]) / math.sqrt(2)  # n x e1
    chroma = key_linear - key_linear.mean(axis=1, keepdims=True)
    phi = np.arctan2(chroma @ e2, chroma @ e1)
    cross = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    c, s = np.cos(-phi)[:, None, None], np.sin(-phi)[:, None, None]
    return c * np.eye(3) + s * cross + (1 - c) * np.outer(n, n)


class ChromaKey(_Keyer):
    """Keys out a coloured screen (green, blue, any hue) by chroma distance, with spill suppression.

    The matte: each pixel's straight colour is sRGB-encoded and converted to BT.709 Y'CbCr; its
    distance from the key colour in the CbCr plane, divided by the key's own chroma (so 1.0 is
    as far as a neutral grey), gives alpha 0 up to ``tolerance``, rising linearly to 1 at
    ``tolerance + softness``. Brightness is ignored, so shadows on the screen key out with it.
    The matte is then eroded by ``shrink`` pixels (a negative value grows it), blurred by
    ``feather``, and multiplied into the input's alpha.

    Spill suppression works in linear light in a basis turned about the grey axis so that the key
    hue becomes pure green, where it limits green to ``max(red, blue)`` (for a green key this is
    exactly ``g = min(g, max(r, b))``) and turns back; ``spill`` scales how much of that excess is
    removed. ``output = "matte"`` shows the final alpha as grey.
    """

    type = "effect.chroma_key"

    class Options(_Keyer.Options):
        key_color = opt.Color("#00ff00", doc="the screen's colour (pick it from the plate)")
        tolerance = opt.Float(
            0.2,
            min=0.0,
            max=4.0,
            doc="chroma distance from the key that is fully transparent, as a fraction "
            "of the key's own chroma (1 = a neutral grey)",
        )
        softness = opt.Float(
            0.6, min=0.0, max=4.0, doc="further distance over which alpha rises from 0 to 1 (0: a hard edge)"
        )
        spill = opt.Float(
            1.0,
            min=0.0,
            max=1.0,
            doc="spill suppression: how much of the key hue's excess to remove from the colours (0: none)",
        )
        shrink = opt.Float(0.0, min=-100.0, max=100.0, doc="erode the matte by this many pixels (negative grows it)")
        feather = opt.Float(0.0, min=0.0, max=200.0, doc="blur radius of the matte in pixels")

    def configure(self):
        super().configure()
        key = self.options.key_color
        if not isinstance(key, vfx.Animated):
            cb, cr = self._key_chroma(np.array([key]))
            if math.hypot(cb[0], cr[0]) < 0.02:
                raise ConfigureError(
                    f"the key colour {rgb_to_hex(key)} is (nearly) grey: it has no hue to key "
                    "on; use effect.luma_key for black or white screens",
                    option="key_color",
                )

    @staticmethod
    def _key_chroma(keys: np.ndarray):
        _, cb, cr = (np.asarray(keys)[:, :3] @ BT709.T).T
        return cb, cr

    def render(self, indices):
        import torch

        pixels = self.pull(self.input("input"), indices).pixels
        dev = pixels.device
        n, _, h, w = pixels.shape
        opaque = not self.input("input").video.has_alpha
        keys = self.values("key_color", indices)
        kcb, kcr = self._key_chroma(keys)
        scale = np.maximum(np.hypot(kcb, kcr), 1e-3)
        tolerance, softness = self.values("tolerance", indices), self.values("softness", indices)
        kernels = backend.allows("numba", pixels)
        strips = row_strips(pixels)
        colour = []  # the straight colour of each strip, for the spill pass
        if kernels:
            from . import _keying_kernel as K

            params = K.MATTE.pack(
                n, cb=BT709_CB, cr=BT709_CR, key_cb=kcb, key_cr=kcr, scale=scale, tolerance=tolerance, softness=softness
            )
            fused = self._one_pass(pixels, keys, params, indices, opaque)
            if fused is not None:
                return FrameBatch(indices, fused)
            matte = empty_planes((n, 1, h, w))
            for k in range(n):
                K.chroma_matte(jit.rgba(pixels[k]), matte[k].view(-1).numpy(), params[k], opaque)
        else:
            matte = torch.empty((n, 1, h, w), device=dev)
            for y0, y1 in strips:  # per pixel: the chroma distance's matte, strip by strip
                colour.append(straight_planes(pixels[:, :, y0:y1], opaque=opaque))
                srgb = srgb_encode(colour[-1].clamp(0, 1))
                dist = torch.hypot(_weighted(srgb, BT709_CB, kcb), _weighted(srgb, BT709_CR, kcr))
                matte[:, :, y0:y1] = _ramp(dist.div_(_column(scale, dev)), tolerance, softness)
        matte = shrink_matte(matte, self.values("shrink", indices))  # across strips: the whole frame
        matte = blur_matte(matte, self.values("feather", indices))
        spill = self.values("spill", indices)
        if self.options.output == "matte" or not np.any(spill > 0):
            return FrameBatch(indices, self._finish(pixels, matte))
        basis, direction = self._spill_basis(keys, spill)
        out = empty_pixels(n, h, w, dev)
        if kernels:
            params = K.SPILL.pack(n, basis=basis.reshape(n, 9), direction=direction)
            for k in range(n):
                K.despill(
                    jit.rgba(pixels[k]),
                    matte[k].contiguous().view(-1).numpy(),
                    jit.rgba(out[k], out=True),
                    params[k],
                    opaque,
                )
            return FrameBatch(indices, out)
        turn = (
            None
            if np.allclose(basis, np.eye(3), atol=1e-6)
            else torch.as_tensor(basis, dtype=torch.float32, device=dev)
        )  # None: a pure green key, no turn
        for (y0, y1), rgb in zip(strips, colour):
            strip = pixels[:, :, y0:y1]
            turned = rgb if turn is None else torch.einsum("nij,njhw->nihw", turn, rgb)
            excess = (turned[:, 1] - torch.maximum(turned[:, 0], turned[:, 2])).clamp_min_(0)
            for k in range(n):
                for c in range(3):
                    if direction[k, c] != 0:
                        rgb[k, c].sub_(excess[k], alpha=float(direction[k, c]))
            self._finish(strip, matte[:, :, y0:y1], rgb.clamp_min_(0), out=out[:, :, y0:y1])
        return FrameBatch(indices, out)

    @staticmethod
    def _spill_basis(keys: np.ndarray, spill: np.ndarray):
        """Per frame: the basis turning the key hue onto green, and the RGB direction the excess
        is taken away along (the turned basis's green axis, scaled by ``spill``)."""
        basis = _despill_basis(srgb_to_linear(keys[:, :3]))
        return basis, basis[:, 1, :] * spill[:, None]

    def _one_pass(self, pixels, keys, matte_params, indices, opaque):
        """The keyed frames in one kernel pass (matte and spill together), or None where the
        matte is shrunk or feathered (whole-frame steps between the two) or shown."""
        from . import _keying_kernel as K

        spill = self.values("spill", indices)
        if (
            self.options.output == "matte"
            or not np.any(spill > 0)
            or np.any(np.abs(self.values("shrink", indices)) > 1e-3)
            or np.any(self.values("feather", indices) > 0.05)
        ):
            return None
        n, _, h, w = pixels.shape
        basis, direction = self._spill_basis(keys, spill)
        spill_params = K.SPILL.pack(n, basis=basis.reshape(n, 9), direction=direction)
        out = empty_pixels(n, h, w)
        for k in range(n):
            K.chroma_key(jit.rgba(pixels[k]), jit.rgba(out[k], out=True), matte_params[k], spill_params[k], opaque)
        return out


class LumaKey(_Keyer):
    """Keys by brightness: keeps pixels whose luma lies in ``[low, high]``, fading out over ``softness``.

    Luma is BT.709 Y' of the sRGB-encoded straight colour, clamped to 0..1 (so white is 1 and
    brighter-than-white counts as white). Alpha is 1 inside ``[low, high]`` and falls linearly
    to 0 at ``low - softness`` and at ``high + softness``; ``invert`` keeps the outside instead.
    The defaults key out a black background. The matte is multiplied into the input's alpha;
    ``output = "matte"`` shows it as grey.
    """

    type = "effect.luma_key"

    class Options(_Keyer.Options):
        low = opt.Float(0.2, min=0.0, max=1.0, doc="darkest luma kept fully (0..1)")
        high = opt.Float(1.0, min=0.0, max=1.0, doc="brightest luma kept fully (0..1)")
        softness = opt.Float(
            0.1, min=0.0, max=1.0, doc="luma range over which alpha fades out beyond low and high (0: a hard edge)"
        )
        invert = opt.Bool(False, doc="key out the range [low, high] instead of keeping it")

    def configure(self):
        super().configure()
        o = self.options
        if not isinstance(o.low, vfx.Animated) and not isinstance(o.high, vfx.Animated) and o.low > o.high:
            raise ConfigureError(f"low {o.low} is above high {o.high}: nothing would be kept", option="low")

    def render(self, indices):
        pixels = self.pull(self.input("input"), indices).pixels
        opaque = not self.input("input").video.has_alpha
        low, high = self.values("low", indices), self.values("high", indices)
        soft = self.values("softness", indices)
        n, _, h, w = pixels.shape
        out = empty_pixels(n, h, w, pixels.device)
        for y0, y1 in row_strips(pixels):
            strip = pixels[:, :, y0:y1]
            rgb = straight_planes(strip, opaque=opaque)
            luma = _weighted(srgb_encode(rgb.clamp_(0, 1)), LUMA).clamp_(0, 1)
            matte = _ramp(luma.clone(), low - soft, soft).mul_(_ramp(luma.neg_(), -high - soft, soft))
            if self.options.invert:
                matte = matte.neg_().add_(1)
            self._finish(strip, matte, out=out[:, :, y0:y1])
        return FrameBatch(indices, out)
