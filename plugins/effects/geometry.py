"""Geometry effects: an animated 2-D transform and a camera shake, both with optional motion blur.

Both resample the premultiplied linear RGBA input at one affine matrix per frame (and per
motion-blur sample), built from the options' values at that (possibly fractional) time. On a
GPU a batch of frames is one grid + ``torch.nn.functional.grid_sample`` call per sample (the grid
is ``affine_grid``'s, built faster), on a CPU OpenCV's ``remap`` (both ``vfx.ops.resample.warp_affine``)
reads the interleaved channels-last frames directly, with the same sampling positions, filters
and edge rules, about three times faster.

Coordinates are pixels with the origin at the top-left corner of the frame and pixel ``(i, j)``
covering ``[i, i+1) x [j, j+1)`` (its centre at ``i + 0.5``), x to the right and y down; angles
are degrees, positive turning clockwise on screen.
"""

from __future__ import annotations

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, opt
from vfx.ops import resample

#: the ``edges`` choices as ``vfx.ops.resample.warp_affine`` borders
EDGES = {"transparent": "constant", "clamp": "replicate", "mirror": "reflect"}
FILTERS = ("bilinear", "nearest", "bicubic")


def affine_thetas(tx, ty, angle_deg, sx, sy, ax, ay, width: int, height: int) -> np.ndarray:
    """Per-frame (N, 2, 3) matrices for ``affine_grid`` (align_corners=False).

    The forward transform moves a source point p to ``A + T + R(angle) S (p - A)`` (pixels,
    A the anchor, T the translation); the matrix maps normalized output coordinates back to
    normalized input coordinates, as ``grid_sample`` needs.
    """
    a = np.radians(np.asarray(angle_deg, np.float64))
    c, s = np.cos(a), np.sin(a)
    sx = np.where(np.abs(sx) < 1e-6, np.where(sx < 0, -1e-6, 1e-6), sx)
    sy = np.where(np.abs(sy) < 1e-6, np.where(sy < 0, -1e-6, 1e-6), sy)
    # inverse of R S: S^-1 R^T
    i00, i01 = c / sx, s / sx
    i10, i11 = -s / sy, c / sy
    hw, hh = width / 2.0, height / 2.0
    # point q = D(u'+1) - A - T in pixels for u' = 0 (the frame centre), mapped back
    qx, qy = hw - ax - tx, hh - ay - ty
    px = i00 * qx + i01 * qy + ax
    py = i10 * qx + i11 * qy + ay
    theta = np.empty((len(a), 2, 3), np.float64)
    theta[:, 0, 0] = i00
    theta[:, 0, 1] = i01 * hh / hw
    theta[:, 1, 0] = i10 * hw / hh
    theta[:, 1, 1] = i11
    theta[:, 0, 2] = px / hw - 1.0
    theta[:, 1, 2] = py / hh - 1.0
    return theta


class _Warp(vfx.Effect):
    """Shared machinery: subclasses give per-frame transform parameters at fractional frames."""

    animated_batches = True

    class Options(vfx.Effect.Options):
        edges = opt.Choice(
            "transparent",
            choices=tuple(EDGES),
            doc="what shows where the picture moved away: transparent, the edge pixels "
            "stretched (clamp) or the picture mirrored",
        )
        filter = opt.Choice("bilinear", choices=FILTERS, doc="resampling filter")
        motion_blur = opt.Int(
            1, min=1, max=64, animate=False, doc="samples per frame for motion blur (1: off); 8 to 16 look smooth"
        )
        shutter = opt.Float(
            0.5,
            min=0.0,
            max=1.0,
            doc="how long the shutter is open, in frames (0.5 = a 180 degree shutter), centred on the frame's time",
        )

    def configure(self):
        super().configure()
        transparent = self.options.edges == "transparent"
        self.video = self.video.with_(has_alpha=self.video.has_alpha or transparent)

    # subclasses: (tx, ty, angle, sx, sy, ax, ay) arrays in pixels/degrees at these frame times
    def _params(self, frames: np.ndarray, width: int, height: int):
        raise NotImplementedError

    def _sample_times(self, indices) -> list[np.ndarray]:
        idx = np.asarray(indices, np.float64)
        n = self.options.motion_blur
        if n <= 1:
            return [idx]
        shutter = self.values("shutter", indices)
        if not np.any(shutter > 0):
            return [idx]
        return [idx + shutter * (k / (n - 1) - 0.5) for k in range(n)]

    def render(self, indices):
        from vfx import empty_pixels

        batch = self.pull(self.input("input"), indices)
        src = batch.pixels
        n, _, h, w = src.shape
        times = self._sample_times(indices)
        # (samples, 7, N): every parameter of every frame at every sample time
        params = np.stack(
            [
                np.stack([np.broadcast_to(np.asarray(v, np.float64), t.shape) for v in self._params(t, w, h)])
                for t in times
            ]
        )
        # Frames decide on their own (so a frame renders the same alone or in any batch): one
        # that holds still over the shutter and only moves by whole pixels is copied exactly.
        still = np.all(params == params[:1], axis=(0, 1))
        tx, ty, ang, sx, sy = params[0, :5]
        whole = (ang == 0) & (sx == 1) & (sy == 1) & (tx == np.round(tx)) & (ty == np.round(ty))
        unmoved = whole & (tx == 0) & (ty == 0)
        copied = still & (unmoved | (whole & (self.options.edges == "transparent")))
        if copied.all():
            return batch if unmoved.all() else FrameBatch(indices, _shift(src, tx.astype(int), ty.astype(int)))
        rest = np.flatnonzero(~copied)
        if rest.size == n:
            return FrameBatch(indices, self._resample(src, params, h, w))
        out = empty_pixels(n, h, w, src.device)
        keep = np.flatnonzero(copied)
        out[keep] = _shift(src[keep], tx[keep].astype(int), ty[keep].astype(int))
        out[rest] = self._resample(src[rest], params[:, :, rest], h, w)
        return FrameBatch(indices, out)

    def _resample(self, src, params: np.ndarray, h: int, w: int):
        """Frames resampled at each sample's transform and averaged as ``s0 + mean(s_k - s0)``,
        which is exactly ``s0`` when every sample is the same."""
        if np.all(params == params[:1]):
            params = params[:1]  # no motion over the shutter: one sample is the answer
        mats = np.stack([resample.pixel_matrices(affine_thetas(*p, w, h), w, h) for p in params])
        return resample.warp_affine(src, mats, filter=self.options.filter, border=EDGES[self.options.edges])


def _shift(src, dx: np.ndarray, dy: np.ndarray):
    """Each frame moved by whole pixels (dx right, dy down), transparent where nothing lands."""
    from vfx import empty_pixels

    n, _, h, w = src.shape
    out = empty_pixels(n, h, w, src.device)
    out.zero_()
    for k in range(n):
        x, y = int(dx[k]), int(dy[k])
        if abs(x) >= w or abs(y) >= h:
            continue
        out[k, :, max(0, y) : h + min(0, y), max(0, x) : w + min(0, x)] = src[
            k, :, max(0, -y) : h + min(0, -y), max(0, -x) : w + min(0, -x)
        ]
    return out


class Transform(_Warp):
    """Moves, rotates and scales the picture about an anchor, with optional motion blur.

    The source point ``p`` lands at ``anchor + translate + R(rotate) S (p - anchor)``, where ``S``
    scales by ``scale * scale_xy`` and ``R`` turns clockwise by ``rotate`` degrees. The anchor is
    given in normalized frame coordinates (``[0.5, 0.5]`` is the centre, ``[0, 0]`` the top-left
    corner). Every value can be animated; the picture is resampled once per frame (``filter``) on
    premultiplied pixels, and what moves in from outside the frame is transparent unless
    ``edges`` says otherwise. A pure whole-pixel move is an exact copy.

    Motion blur averages ``motion_blur`` renders at times spread evenly over the open shutter
    (``shutter`` frames, centred on each frame), evaluating keyframes and expressions between
    frames, so a fast move smears along its path.
    """

    type = "effect.transform"

    class Options(_Warp.Options):
        translate = opt.Vec([0.0, 0.0], doc="[x, y] move in pixels (x right, y down)")
        rotate = opt.Float(0.0, doc="rotation in degrees, clockwise on screen")
        scale = opt.Float(1.0, min=0.001, max=1000.0, doc="uniform scale")
        scale_xy = opt.Vec([1.0, 1.0], doc="[sx, sy] scale per axis, times `scale` (negative mirrors; not 0)")
        anchor = opt.Vec([0.5, 0.5], doc="[x, y] point that stays put under rotation and scale, in 0..1 of the frame")

    def configure(self):
        super().configure()
        sxy = self.options.scale_xy
        if not isinstance(sxy, vfx.Animated) and any(abs(v) < 1e-6 for v in sxy):
            raise ConfigureError(
                f"a scale of 0 collapses the picture (got {list(sxy)}); use a small value, or opacity, to hide it",
                option="scale_xy",
            )

    def _params(self, frames, width, height):
        t = self.values_at("translate", frames)
        rot = self.values_at("rotate", frames)
        s = self.values_at("scale", frames)
        sxy = self.values_at("scale_xy", frames)
        anchor = self.values_at("anchor", frames)
        return (t[:, 0], t[:, 1], rot, s * sxy[:, 0], s * sxy[:, 1], anchor[:, 0] * width, anchor[:, 1] * height)


class Shake(_Warp):
    """Camera shake: smooth seeded noise moves and turns the picture, with optional motion blur.

    The offsets are 1-D gradient noise of time (``frequency`` lattice points per second, plus
    finer ``octaves``), hashed from the node's seed: any frame computes on its own, the same in
    any batch, and another pipeline ``seed`` (or node id) shakes differently. The move stays
    within ``amplitude`` pixels on each axis and the turn within ``rotation`` degrees (about the
    frame's centre). ``overscan`` enlarges the picture about the centre so its edges stay out of
    view; ``edges`` says what shows where they would (mirror by default). For a 16:9 frame,
    ``overscan >= 2 * amplitude / height + rotation / 30`` hides them entirely (the turn needs
    about ``rotation / 57 * width / height``).
    ``motion_blur`` and ``shutter`` work as in ``effect.transform``.
    """

    type = "effect.shake"

    class Options(_Warp.Options):
        amplitude = opt.Float(8.0, min=0.0, max=10000.0, doc="largest move in pixels, on each axis")
        rotation = opt.Float(0.5, min=0.0, max=180.0, doc="largest turn in degrees")
        frequency = opt.Float(
            2.0,
            min=0.01,
            max=100.0,
            animate=False,
            doc="shakes per second (noise lattice points per second); constant, so "
            "animate the amplitude to fade the shake",
        )
        octaves = opt.Int(
            2, min=1, max=6, animate=False, doc="layers of finer noise (each twice as fast, half as strong)"
        )
        overscan = opt.Float(
            0.0, min=0.0, max=1.0, doc="extra scale about the centre so the edges stay hidden (0.05 = 5% larger)"
        )
        edges = opt.Choice(
            "mirror",
            choices=tuple(EDGES),
            doc="what shows where the frame edge moves into view: the picture mirrored, "
            "its edge pixels stretched (clamp), or transparent",
        )

    def configure(self):
        super().configure()
        self._seed = self.ctx.seed_for(0, "shake")

    def _params(self, frames, width, height):
        o = self.options
        x = np.asarray(frames, np.float64) / float(self.ctx.settings.fps) * o.frequency
        amp = self.values_at("amplitude", frames)
        rot = self.values_at("rotation", frames)
        over = self.values_at("overscan", frames)
        from vfx.ops import noise  # imports torch: not when the plugin loads

        nx, ny, nr = (noise.fractal1d(x, octaves=o.octaves, seed=self._seed, channel=c) for c in range(3))
        scale = 1.0 + over
        return (amp * nx, amp * ny, rot * nr, scale, scale, np.full_like(x, width / 2.0), np.full_like(x, height / 2.0))
