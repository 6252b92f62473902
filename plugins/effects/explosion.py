"""Built-in explosion: a closed-form particle fireball with smoke, sparks, bloom, shockwave, flash and shake."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, opt
from vfx.ops import backend, filters, resample
from vfx.ops.color import LUMA
from vfx.ops.curves import rising_frames, smoothstep

# ---------------------------------------------------------------------------------------------
# Image helpers on (N, H, W, C) float32 tensors. On the CPU they go through OpenCV one frame at a
# time (SIMD, and a frame's result never depends on the other frames of the batch); on a GPU they
# stay on the device in torch.


def _blur(img, sigma: float):
    """Gaussian blur of each frame of an (N, H, W, C) tensor; zero outside the frame."""
    return filters.blur_planes(img, sigma, border="constant")


def _resize(img, height: int, width: int, area: bool = False):
    """Bilinear (or, shrinking with ``area``, box-filtered) resize of an (N, H, W, C) tensor."""
    return resample.resize_planes(img, height, width, area=area)


def drag_terms(k, s):
    """``(e1, e2)`` with ``x(s) = x0 + v0 e1 + a e2`` under ``dv/dt = a - k v`` (tensors, broadcast).

    ``e1 = (1 - e^(-k s)) / k`` and ``e2 = (s - e1) / k``; for tiny ``k s`` their series
    ``s (1 - ks/2 + (ks)^2/6)`` and ``s^2 (1/2 - ks/6 + (ks)^2/24)``, so ``k = 0`` is free fall.
    """
    import torch

    ka = k * s
    ks = k.clamp(min=1e-9) if isinstance(k, torch.Tensor) else max(k, 1e-9)
    small = ka < 1e-4
    e1 = torch.where(small, s * (1 - ka / 2 + ka * ka / 6), -torch.expm1(-ka) / ks)
    e2 = torch.where(small, s * s * (0.5 - ka / 6 + ka * ka / 24), (s - e1) / ks)
    return e1, e2


def blackbody_rgb(kelvin):
    """Linear-light BT.709/sRGB colour of a black body at ``kelvin`` (a tensor), luminance 1.

    The chromaticity is Krystek's (1985) rational approximation of the Planckian locus in CIE 1960
    (u, v), valid 1000-15000 K (clamped to that range), taken to xy, to XYZ with Y = 1 and through
    the XYZ -> linear sRGB (D65) matrix; negative components (out of gamut below ~1900 K) are
    clipped and the colour rescaled back to luminance 1.
    """
    import torch

    t = kelvin.clamp(1000.0, 15000.0)
    u = (0.860117757 + 1.54118254e-4 * t + 1.28641212e-7 * t * t) / (1 + 8.42420235e-4 * t + 7.08145163e-7 * t * t)
    v = (0.317398726 + 4.22806245e-5 * t + 4.20481691e-8 * t * t) / (1 - 2.89741816e-5 * t + 1.61456053e-7 * t * t)
    d = 2 * u - 8 * v + 4
    x, y = 3 * u / d, 2 * v / d
    X, Z = x / y, (1 - x - y) / y
    r = (3.2406 * X - 1.5372 - 0.4986 * Z).clamp(min=0)
    g = (-0.9689 * X + 1.8758 + 0.0415 * Z).clamp(min=0)
    b = (0.0557 * X - 0.2040 + 1.0570 * Z).clamp(min=0)
    lum = (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).clamp(min=1e-6)
    return torch.stack([r, g, b], -1) / lum.unsqueeze(-1)


# particle kinds
_FIRE, _SMOKE, _SPARK = 0, 1, 2
#: how many particles' light / smoke make one unit at the default count (keeps the look independent of count)
_LIGHT_NORM = 20000.0 / 60.0
_SMOKE_NORM = 20000.0 / 14.0
_SIGMA_CELLS = 1.0  # blur per pyramid level, in cells of that level
_SPRITE_PER_CELL = 1.3  # sprite sigma that one level renders, in its cells (splat + blur + upsampling)
_FIRE_SOOT = 1.2  # soot of a fire particle relative to a smoke particle of the same size
_SMOKE_EDGE = 0.25  # optical depth below which smoke thins out faster (defined puffs)
_FIRE_EDGE = 0.08  # light level below which fire fades faster (crisper billows)
_SHAKE_END, _SHOCK_END = 1.5, 2.5  # seconds after which the shake and the shockwave are gone
_CLUSTERS = 260  # billows of fire and smoke
_STREAK = 10  # samples per spark along its path (motion blur)
_FIELD_EXTENT, _FIELD_CELLS, _FIELD_FREQ = (
    1.2,
    97,
    7.0,
)  # turbulence grid: +-extent frame heights, cells, noise frequency


class Explosion(vfx.Effect):
    """A particle explosion over the plate: fireball, smoke, sparks, bloom, shockwave, flash and camera shake.

    Every particle's state at a frame is computed in closed form from the seed and the time since
    ``at``: nothing steps through earlier frames, so any frame, chunk or farm slice renders alone
    exactly as in a whole render. Birth parameters (kind, direction, speed, delay, lifetime, size,
    temperature, drag) are drawn once from ``ctx.generator(0, "explosion")``; fire and smoke
    particles gather in a few hundred clusters of nearby directions and speeds (the billows).

    **When.** It goes off at ``at`` (default frame 0) and, with ``trigger``, at every frame where
    ``trigger`` crosses 0.5 upwards (from below 0.5 on the frame before; the frame before frame 0
    counts as 0); with ``trigger`` and no ``at``, only on the trigger. Drive ``trigger`` with an
    audio event to burst on the music: ``trigger = { driver = "music", signal = "beat" }``. Each
    triggered burst draws its own particles (``ctx.generator(start, "explosion")``) and, with
    ``scatter``, its own offset from ``position``; overlapping bursts are drawn one over the other,
    oldest first. Which bursts show on a frame depends only on the trigger's values up to that frame.

    **Motion.** Lengths are in frame heights, times in seconds; y points down. A particle born
    ``delay`` after ``at`` with velocity ``v0``, under a constant acceleration ``a`` and linear drag
    ``k`` (``dv/dt = a - k v``, solved exactly) is, at age ``s``::

        v(s) = v0 e^(-k s) + a (1 - e^(-k s)) / k
        x(s) = x0 + v0 (1 - e^(-k s)) / k + a (s - (1 - e^(-k s)) / k) / k

    (series expansions when ``k s`` is tiny, so ``k = 0`` is ``x0 + v0 s + a s^2 / 2``; see
    ``drag_terms``). The fireball coasts out to about ``speed / drag`` and then drifts at the
    terminal velocity ``a / k``. ``a`` is ``gravity`` down minus ``buoyancy`` up, weighted per kind:
    sparks only fall, fire rises with 0.7 of the buoyancy, smoke with all of it; drag is scaled per
    kind (fire 0.8-1.4, smoke 0.35-0.6, sparks 0.25-0.45). On top of that path comes a turbulence
    displacement ``turbulence * curl(p, t) * (1 - e^(-2.5 s))`` (smoke 1.5x, sparks none): ``curl``
    is the curl of a ``vfx.ops.noise.fbm`` potential (divergence free, what ``vfx.ops.noise.curl2d`` gives;
    here by central differences on a grid of +-1.2 frame heights around the centre, one fBm per
    grid point), sampled bilinearly at the particle's drag/gravity position and the frame's time.
    It is bounded, continuous in time and integrates nothing.

    **Directions.** Directions are uniform on a spherical cap of apex angle ``spread`` around
    ``direction`` (in the picture plane; 90 = up) and projected onto the picture: ``spread = 360``
    is a full sphere seen from the side (a round fireball), smaller values a cone (a directed blast).
    Fire speeds are ``speed * cbrt(u)`` (a filled ball), smoke 0.35 of that, sparks 0.7-1.6 times.

    **Colour.** Fire and spark particles emit light. Their temperature falls as
    ``T = 300 + (T0 - 300) e^(-cooling s)`` from ``T0`` = ``temperature`` x 0.8-1.1 (shifted +-25 %
    in patches by a second fBm); their colour is the black-body chromaticity of ``T`` (Krystek's
    1985 rational approximation of the Planckian locus, taken to linear sRGB: ``blackbody_rgb``) and
    their radiance falls as ``((T - 700) / (temperature - 700))^1.5``: white-yellow core, orange,
    red, gone. The same fBm breaks the light up (hot and sooty patches). Fire is additive light, with
    a bloom (the fire layer blurred at two widths and added back, ``bloom``); faint fringes of the
    fire fall off faster than its body, so billows keep an edge. Smoke particles, and fire particles
    as they cool (their soot), are optical depth: they are composited premultiplied over the plate
    with ``alpha = 1 - e^(-depth)``, coloured ``smoke_color``, shaded lighter on top and darker
    below, and lit by the fire's glow. Hot smoke also glows dimly. Highlights are capped at 8.

    **Rendering.** Particles are soft Gaussian sprites. Each is splatted bilinearly (``index_add_``)
    into a pyramid of accumulation grids (cells of 2 pixels at 1080p, twice as large per level), its
    weight split between the two levels whose blur brackets its size; every level is blurred and the
    pyramid is collapsed by upsampling, and the result is upsampled to the frame once. Sparks are
    splatted at 10 moments over a frame (motion-blurred streaks).

    **Extras.** ``shockwave``: a ring expanding at ``shock_speed`` that refracts the plate (a radial
    displacement of ``shockwave`` x ``shock_width`` at most, the plate sampled with OpenCV's remap
    on the CPU, ``grid_sample`` on a GPU), with a faint light of its own (``shock_glow``), fading as
    ``e^(-t / 0.8 s)`` to nothing at 2.5 s. ``flash``: at the start a white-hot point and a wide warm
    glare appear and the plate brightens around the centre (``flash`` x 0.8 more light at the
    centre), decaying as ``e^(-t / 0.1 s)`` to nothing at 0.4 s. ``shake``: a deterministic camera
    shake (the 1-D fractal noise of ``effect.shake``) of the plate and the explosion together, of
    about ``shake`` frame heights, decaying as ``e^(-t / 0.5 s)`` to nothing at 1.5 s.
    """

    type = "effect.explosion"
    animated_batches = True

    class Options(vfx.Effect.Options):
        position = opt.Vec([0.5, 0.6], doc="[x, y] of the centre, 0..1 of the frame")
        at = opt.Time(None, doc="when it goes off (default: frame 0, unless trigger is given)")
        trigger = opt.Float(
            None,
            doc="a burst whenever this crosses 0.5 upwards (keyframes, an expression, or a "
            'driver such as { driver = "music", signal = "beat" })',
        )
        scatter = opt.Float(
            0.0,
            min=0.0,
            max=1.0,
            animate=False,
            doc="random offset of each triggered burst from position, 0..1 of the frame height",
        )
        count = opt.Int(20000, min=1, max=1_000_000, animate=False, doc="number of particles")
        speed = opt.Float(1.6, min=0.0, doc="initial speed of the fastest fire particles, frame heights per second")
        spread = opt.Float(
            360.0, min=0.0, max=360.0, doc="apex angle of the emission cone in degrees (360: a full sphere, projected)"
        )
        direction = opt.Float(90.0, doc="axis of the cone in degrees, counter-clockwise from the right (90: up)")
        gravity = opt.Float(0.3, doc="downward acceleration, frame heights per second squared")
        buoyancy = opt.Float(0.8, doc="upward acceleration of hot gas and smoke, frame heights per second squared")
        drag = opt.Float(4.0, min=0.0, doc="linear drag k in 1/s (the fireball stops at about speed / drag)")
        turbulence = opt.Float(0.07, min=0.0, doc="amplitude of the curl-noise displacement, frame heights")
        lifetime = opt.Float(1.1, min=0.01, doc="mean life of a fire particle in seconds (smoke lives 2-3.5x longer)")
        size = opt.Float(0.014, min=0.0, doc="sprite radius (sigma) of a fire particle, frame heights")
        temperature = opt.Float(6500.0, min=1000.0, max=15000.0, doc="initial temperature of the core, kelvin")
        cooling = opt.Float(2.6, min=0.0, doc="cooling rate in 1/s: T - 300 K decays as e^(-cooling * age)")
        brightness = opt.Float(1.0, min=0.0, doc="scale of the fire's light")
        smoke = opt.Float(0.4, min=0.0, max=1.0, animate=False, doc="fraction of the particles that are smoke")
        sparks = opt.Float(0.015, min=0.0, max=1.0, animate=False, doc="fraction of the particles that are sparks")
        smoke_color = opt.Color("#27221f", doc="colour of the smoke")
        smoke_density = opt.Float(1.0, min=0.0, doc="optical depth of the smoke (0: none)")
        bloom = opt.Float(0.5, min=0.0, doc="strength of the glow around the fire")
        shockwave = opt.Float(0.25, min=0.0, doc="strength of the shockwave's refraction (0: no shockwave)")
        shock_speed = opt.Float(1.4, min=0.0, doc="speed of the shockwave ring, frame heights per second")
        shock_width = opt.Float(0.04, min=0.001, doc="width of the ring, frame heights")
        shock_glow = opt.Float(0.03, min=0.0, doc="brightness of the ring's own faint light")
        flash = opt.Float(1.0, min=0.0, doc="brightening of the plate around the start at the moment it goes off")
        shake = opt.Float(0.008, min=0.0, doc="camera shake amplitude, frame heights (0: none)")

    def configure(self):
        super().configure()
        o = self.options
        if o.smoke + o.sparks > 1.0:
            raise ConfigureError(
                f"smoke ({o.smoke}) and sparks ({o.sparks}) add up to more than 1: they are fractions of the particles",
                option="sparks",
            )
        self._at = o.at if o.at is not None else (None if o.trigger is not None else 0)
        if self._at is not None and self._at >= self.video.frame_count:
            raise ConfigureError(
                f"at = frame {o.at} is past the end of the input ({self.video.frame_count} frames)", option="at"
            )
        self._birth = None
        self._births = vfx.LRU(16)  # the bursts within reach of a batch, on a fast beat
        self._buffers = {}

    # --------------------------------------------------------------------------- birth
    def _birth_params(self, seed_frame: int = 0):
        """Per-particle constants drawn from the node's seed for a burst (cached; the same every call).

        The burst at ``at`` draws from ``ctx.generator(0, "explosion")``; a triggered burst starting
        at frame ``s`` from ``ctx.generator(s, "explosion")``, so every burst has its own shape.
        """
        import torch

        hit = self._births.get(seed_frame)
        if hit is not None:
            self._birth, self._spark_index, self._max_delay, self._max_life = hit
            return self._birth
        o = self.options
        p = o.count
        g = self.ctx.generator(seed_frame, "explosion")
        u = torch.rand((p, 11), generator=g, dtype=torch.float64)
        kind = torch.full((p,), _FIRE, dtype=torch.int64)
        kind[u[:, 0] < o.smoke + o.sparks] = _SMOKE
        kind[u[:, 0] < o.sparks] = _SPARK
        fire, smoke, spark = kind == _FIRE, kind == _SMOKE, kind == _SPARK

        def per_kind(f, s, k):
            return torch.where(fire, f, torch.where(smoke, s, k))

        # billows: fire and smoke particles gather around a few cluster directions and speeds
        cl = torch.rand((_CLUSTERS, 3), generator=g, dtype=torch.float64)
        pick = torch.randint(0, _CLUSTERS, (p,), generator=g)
        jit = torch.rand((p, 3), generator=g, dtype=torch.float64) - 0.5
        clustered = ~spark
        cap_u = torch.where(clustered, (cl[pick, 0] + 0.1 * jit[:, 0]).abs().clamp(max=1.0), u[:, 1])
        cap_phi = torch.where(clustered, cl[pick, 1] + 0.04 * jit[:, 1], u[:, 2])
        radial = torch.where(clustered, (cl[pick, 2] + 0.12 * jit[:, 2]).clamp(0.0, 1.0), u[:, 3])
        b = {}
        b["cos_u"] = cap_u  # position on the cap (cos theta)
        b["cos_phi"] = torch.cos(2 * math.pi * cap_phi)
        b["speed"] = per_kind(
            radial.pow(1 / 3) * (0.85 + 0.15 * u[:, 4]), 0.35 * radial.pow(1 / 3), 0.7 + 0.9 * u[:, 3]
        )
        b["delay"] = per_kind(0.05 * u[:, 4], 0.05 + 0.3 * u[:, 4], 0.03 * u[:, 4])
        b["life"] = per_kind(0.5 + u[:, 5], 2.0 + 1.5 * u[:, 5], 0.6 + 0.9 * u[:, 5])
        b["size"] = per_kind(0.5 + u[:, 6], 0.55 * (1.0 + u[:, 6]), torch.full_like(u[:, 6], 0.2))
        b["temp"] = per_kind(0.8 + 0.3 * u[:, 7], 0.35 + 0.25 * u[:, 7], 0.7 + 0.3 * u[:, 7])
        b["drag"] = per_kind(0.8 + 0.6 * u[:, 8], 0.35 + 0.25 * u[:, 8], 0.25 + 0.2 * u[:, 8])
        b["light"] = per_kind(0.5 + u[:, 9], 0.3 * u[:, 9], 20.0 + 100.0 * u[:, 9] ** 4)
        b["buoy"] = per_kind(torch.full_like(u[:, 0], 0.7), torch.ones_like(u[:, 0]), torch.zeros_like(u[:, 0]))
        b["cool"] = per_kind(torch.ones_like(u[:, 0]), torch.full_like(u[:, 0], 1.6), torch.full_like(u[:, 0], 0.5))
        b["turb"] = per_kind(torch.ones_like(u[:, 0]), torch.full_like(u[:, 0], 1.5), torch.zeros_like(u[:, 0]))
        b["span"] = per_kind(torch.full_like(u[:, 0], 1.6), torch.ones_like(u[:, 0]), torch.ones_like(u[:, 0]))
        b["fire"], b["smoke"], b["spark"] = fire, smoke, spark
        self._birth = {k: (v.to(torch.float32) if v.is_floating_point() else v).to(self.device) for k, v in b.items()}
        self._spark_index = torch.nonzero(spark).view(-1).to(self.device)
        self._max_delay = float(b["delay"].max()) if p else 0.0
        self._max_life = float((b["life"] * b["span"]).max()) if p else 0.0
        self._births.put(seed_frame, (self._birth, self._spark_index, self._max_delay, self._max_life))
        return self._birth

    # --------------------------------------------------------------------------- render
    def _bursts(self, indices, v_all) -> list[int]:
        """First frames of the bursts that may show on these frames: ``at`` and the trigger's
        upward crossings of 0.5 (the frame before frame 0 counts as 0) within reach of them."""
        starts = set()
        lo, hi = min(indices), max(indices)
        if self._at is not None and self._at <= hi:
            starts.add(self._at)
        if self.options.trigger is not None:
            # nothing of a burst shows after its particles, shockwave and shake are gone
            life = float(np.max(v_all["lifetime"]))
            reach = int(math.ceil(float(self.video.fps) * max(0.35 + 3.5 * life, _SHOCK_END, _SHAKE_END))) + 1
            frames = list(range(max(0, lo - reach) - 1, hi + 1))
            frames = [f for f in frames if f >= 0]
            starts.update(f for f in rising_frames(frames, self.values("trigger", frames)) if f >= lo - reach)
        return sorted(starts)

    def render(self, indices):
        src = self.pull(self.input("input"), indices)
        v_all = self.values_for(indices)
        pixels = None
        for start in self._bursts(indices, v_all):
            vals = v_all
            if start != self._at and self.options.scatter > 0:
                rng = np.random.default_rng(self.ctx.seed_for(start, "scatter"))
                shift = rng.uniform(-1, 1, size=2) * self.options.scatter * [self.video.height / self.video.width, 1]
                vals = {**v_all, "position": v_all["position"] + shift}
            out = self._burst(src.pixels if pixels is None else pixels, indices, start, vals)
            if out is not None:
                pixels = out
        return src if pixels is None else FrameBatch(indices, pixels)

    def _burst(self, pixels, indices, start, v_all):
        """``pixels`` (N, 4, H, W) with the burst that went off at frame ``start`` drawn over them,
        or None where it shows on none of these frames."""
        import torch

        fps = float(self.video.fps)
        t_all = (np.asarray(indices, np.float64) - start) / fps
        self._birth_params(0 if start == self._at else start)
        live = [k for k, t in enumerate(t_all) if t >= 0 and self._visible(t, {n: v[k] for n, v in v_all.items()})]
        if not live:
            return None
        n, _, h, w = pixels.shape
        plate = (pixels if len(live) == n else pixels[live]).permute(0, 2, 3, 1)  # (M, H, W, 4)
        result = self._render_live(plate, t_all[live], {k: v[live] for k, v in v_all.items()}, h, w, fps)
        if len(live) == n:
            out = result
        else:
            out = torch.empty((n, h, w, 4), dtype=pixels.dtype, device=pixels.device)
            rest = [k for k in range(n) if k not in set(live)]
            out[rest] = pixels[rest].permute(0, 2, 3, 1)
            out[live] = result
        return out.permute(0, 3, 1, 2)

    def _visible(self, t: float, v: dict) -> bool:
        """Whether anything of the explosion shows at ``t`` seconds (particles, ring, flash or shake)."""
        if t <= self._max_delay + self._max_life * max(float(v["lifetime"]), 0.01):
            return True
        if v["shockwave"] > 0 and _decay(t, 0.8, _SHOCK_END) > 0:
            return True
        return v["shake"] > 0 and _decay(t, 0.5, _SHAKE_END) > 0

    def _render_live(self, plate, t, vals, h, w, fps):
        import torch

        dev = plate.device
        m = len(t)
        c0 = max(1, int(round(h / 540)))  # finest cell: 2 px at 1080p
        levels = max(3, int(math.ceil(math.log2(max(0.3 * h / (c0 * _SPRITE_PER_CELL), 8.0)))))
        T = torch.as_tensor(t, dtype=torch.float32, device=dev).view(m, 1)

        def col(name):
            return torch.as_tensor(vals[name], dtype=torch.float32, device=dev).reshape(m, -1)

        shake = self._shake(t, vals, h)  # (M, 2) pixels
        origin = torch.as_tensor(
            vals["position"] * [w / h, 1.0] + shake / h, dtype=torch.float32, device=dev
        )  # (M, 2) frame heights
        px, py, sigma, values = self._particles(T, vals, col, origin, h, fps)
        pyr = _Pyramid(h, w, c0, levels, m, dev)
        light, where, moves = self._extras(pyr, 2, T, vals, origin, h, shake)
        grid = pyr.splat_collapse(px, py, sigma, values, inject={2: light})
        layer, trans = self._layer(pyr, grid, T, vals, origin, h)
        if backend.allows("opencv", dev):
            return self._composite_cpu(pyr, plate, layer, trans, where, moves)
        big = pyr.to_frame(layer, 0)
        factor = pyr.to_frame(torch.stack([trans.four(i) for i in range(m)]), 0)
        warped = plate
        if where is not None:
            c = pyr.cells[2]
            full = _resize(where, where.shape[1] * c, where.shape[2] * c)[:, 2 * c : 2 * c + h, 2 * c : 2 * c + w]
            keep = torch.as_tensor(moves, device=dev).view(m, 1, 1, 1)
            warped = torch.where(keep, resample.remap_planes(plate, full), plate)
        return torch.addcmul(big, warped, factor)

    def _shake(self, t, vals, h):
        """Camera offset in pixels per frame: ``effect.shake``'s 1-D fractal noise of time, decaying in a second."""
        shake = np.asarray(vals["shake"], np.float64)
        out = np.zeros((len(t), 2))
        if not (shake > 0).any():
            return out
        from vfx.ops import noise

        seed = self.ctx.seed_for(0, "shake")
        x = np.asarray(t, np.float64) * 9.0
        nxy = np.stack([noise.fractal1d(x, octaves=3, seed=seed, channel=c) for c in (0, 1)], axis=1)
        env = _decay(t, 0.5, _SHAKE_END) * np.clip(np.asarray(t) / 0.04, 0, 1)
        return nxy * (shake * h * env * 2.0)[:, None]

    def _particles(self, T, vals, col, origin, h, fps):
        """Every particle at every frame, in closed form: pixel positions, sigmas and splat values.

        Returns (px, py, sigma, values) with values (M, Q, 4): emitted light RGB (integrated over the
        sprite) and smoke optical depth (integrated); sparks appear several times along their path
        (motion blur over a frame).
        """
        import torch

        b = self._birth
        # directions on the spherical cap around the axis, projected onto the picture
        half = torch.deg2rad(col("spread") / 2)
        cos_t = 1 - b["cos_u"] * (1 - torch.cos(half))
        sin_t = (1 - cos_t * cos_t).clamp(min=0).sqrt()
        lx, ly = cos_t, sin_t * b["cos_phi"]
        d = torch.deg2rad(col("direction"))
        v0 = col("speed") * b["speed"]
        vx0 = (lx * torch.cos(d) - ly * torch.sin(d)) * v0
        vy0 = -(lx * torch.sin(d) + ly * torch.cos(d)) * v0
        k = col("drag") * b["drag"]
        acc_y = col("gravity") - b["buoy"] * col("buoyancy")
        turb = col("turbulence") * b["turb"]
        field = self._noise_field(T)
        soot = {}
        life = col("lifetime") * b["life"]
        age = T - b["delay"]

        def position(age, sel=None):
            def g(x):
                return x if sel is None or x.shape[-1] != sel_n else x[:, sel]

            a = age.clamp(min=0)
            e1, e2 = drag_terms(g(k), a)
            rx = g(vx0) * e1
            ry = g(vy0) * e1 + g(acc_y) * e2
            cx, cy, sv = _sample_field(field, rx, ry)
            if sel is None:
                soot["value"] = sv
            grow = -torch.expm1(-2.5 * a) * g(turb)
            rx, ry = rx + cx * grow, ry + cy * grow
            return (origin[:, 0:1] + rx) * h, (origin[:, 1:2] + ry) * h

        sel_n = age.shape[-1]
        px, py = position(age)
        a = age.clamp(min=0)
        alive = (age >= 0) & (age < life * b["span"])
        frac = (a / life).clamp(0, 1.6)
        grow_fire = 0.35 + 0.9 * -torch.expm1(-4 * a) + 0.5 * frac
        grow_smoke = 0.5 + 1.6 * frac.sqrt()
        growth = torch.where(b["smoke"], grow_smoke, torch.where(b["spark"], torch.ones_like(a), grow_fire))
        size = col("size") * b["size"] * h
        sigma = (size * growth).clamp(min=0.3)
        t0 = col("temperature")
        # hot and cooler patches: the soot noise also shifts the starting temperature (+-25 %)
        patch = torch.where(b["spark"], 1.0, 1 + 0.45 * soot["value"].clamp(-0.6, 0.6))
        temp = 300 + (t0 * b["temp"] * patch - 300) * torch.exp(-col("cooling") * b["cool"] * a)
        radiance = ((temp - 700) / (t0 - 700).clamp(min=1)).clamp(min=0)
        radiance = radiance * radiance.sqrt()
        rgb = blackbody_rgb(temp)  # (M, P, 3), luminance 1
        count = float(self.options.count)
        fade_in = 0.3 + 0.7 * (a / 0.03).clamp(0, 1)
        fade_out = 1 - smoothstep(0.55 * life, life, a)
        light = col("brightness") * b["light"] * radiance * fade_in * fade_out * (_LIGHT_NORM / count)
        mod = torch.where(b["spark"], 1.0, (1 + 2.0 * soot["value"]).clamp(0.1, 2.0))
        light = torch.where(alive, light * mod * (2 * math.pi) * sigma * sigma, 0.0)
        smoke_in = smoothstep(0.0, 0.25 * life, a)
        smoke_out = 1 - smoothstep(0.4 * life, life, a)
        # fire particles carry soot that darkens them as they cool (they end as smoke); smoke particles
        # fade in and out; both vary with the noise (wisps)
        soot_in = 0.35 + 0.65 * smoothstep(0.0, 0.6 * life, a)
        soot_out = 1 - smoothstep(0.9 * life, 1.6 * life, a)
        amount = torch.where(b["smoke"], smoke_in * smoke_out, soot_in * soot_out * _FIRE_SOOT)
        depth = col("smoke_density") * (_SMOKE_NORM / count) * (2 * math.pi) * size * size * amount
        depth = torch.where(alive & ~b["spark"], depth * (1 + 1.8 * soot["value"]).clamp(0.15, 2.2), 0.0)
        values = torch.cat([rgb * light.unsqueeze(-1), depth.unsqueeze(-1)], -1)  # (M, P, 4)
        sparks = self._spark_index
        if sparks.numel() and _STREAK > 1:
            # motion blur of sparks: the same particle at earlier moments within half a frame
            dt = 1.0 / fps / (_STREAK - 1)
            sv = values[:, sparks] / _STREAK
            xs, ys, ss, vs = [px], [py], [sigma], [values.index_copy(1, sparks, sv)]
            for j in range(1, _STREAK):
                qx, qy = position(age[:, sparks] - j * dt, sparks)
                xs.append(qx)
                ys.append(qy)
                ss.append(sigma[:, sparks])
                vs.append(sv)
            px, py, sigma, values = torch.cat(xs, 1), torch.cat(ys, 1), torch.cat(ss, 1), torch.cat(vs, 1)
        return px, py, sigma, values

    def _noise_field(self, T):
        """Per frame, on a grid of +-_FIELD_EXTENT frame heights around the origin: the turbulence
        velocity and a finer ``vfx.ops.noise.fbm`` that breaks up the fire's light and the smoke's
        density (soot and wisps).

        The velocity is the curl of an fBm potential psi (``vx = d psi/dy``, ``vy = -d psi/dx``: what
        ``vfx.ops.noise.curl2d`` computes pointwise), here by central differences on the grid, which
        needs one fBm evaluation per grid point instead of curl2d's four.
        """
        import torch
        from vfx.ops import noise

        m = T.shape[0]
        n = _FIELD_CELLS
        g = torch.linspace(-_FIELD_EXTENT, _FIELD_EXTENT, n, dtype=torch.float32, device=T.device)
        gy, gx = torch.meshgrid(g, g, indexing="ij")
        z = (T.to(torch.float32) * 0.45).view(m, 1, 1).expand(m, n, n)
        x, y = gx.expand(m, n, n) * _FIELD_FREQ, gy.expand(m, n, n) * _FIELD_FREQ
        psi = noise.fbm(x, y, z, octaves=2, seed=self.ctx.seed_for(0, "turbulence"))
        soot = noise.fbm(x * 3.0, y * 3.0, z * 2.0, octaves=2, seed=self.ctx.seed_for(0, "soot"))
        step = 2 * (g[1] - g[0]).item() * _FIELD_FREQ  # central difference, lattice units
        vx = torch.zeros_like(psi)
        vy = torch.zeros_like(psi)
        vx[:, 1:-1, :] = (psi[:, 2:, :] - psi[:, :-2, :]) / step
        vy[:, :, 1:-1] = (psi[:, :, :-2] - psi[:, :, 2:]) / step
        return torch.stack([vx / 0.6, vy / 0.6, soot], -1)  # (M, n, n, 3); mean |v| about 1

    def _extras(self, pyr, lv, T, vals, origin, h, shake):
        """On level ``lv``: the light of the flash glare and of the shockwave ring, and where the plate
        is sampled (the pixel coordinates ``pixel - shake - ring displacement``, (M, HL, WL, 2), or
        None when the plate does not move)."""
        import torch

        dev = T.device
        m = T.shape[0]
        xs, ys = pyr.centres(lv)
        f32 = torch.float32
        ox = (origin[:, 0] * h).to(f32).view(m, 1, 1)
        oy = (origin[:, 1] * h).to(f32).view(m, 1, 1)
        dx = xs.view(1, 1, -1) - ox
        dy = ys.view(1, -1, 1) - oy
        r = (dx * dx + dy * dy).sqrt()
        tf = T.to(f32).view(m, 1, 1)

        def v(name):
            return torch.as_tensor(vals[name], dtype=f32, device=dev).view(m, 1, 1)

        light = None
        disp = None
        flash = v("flash") * torch.as_tensor(
            _flash_env(T.view(m).cpu().numpy().astype(np.float64)), dtype=f32, device=dev
        ).view(m, 1, 1)
        if bool((flash > 0).any()):
            # a small white-hot core and a wide soft glare
            glare = flash * (
                2.0 * torch.exp(-0.5 * (r / (0.035 * h)) ** 2) + 0.3 * torch.exp(-0.5 * (r / (0.2 * h)) ** 2)
            )
            light = glare.unsqueeze(-1) * torch.tensor([1.0, 0.72, 0.42], device=dev)
        strength = v("shockwave")
        if bool((strength > 0).any()):
            width = v("shock_width") * h
            radius = v("shock_speed") * tf * h
            env = torch.as_tensor(
                _decay(T.view(m).cpu().numpy().astype(np.float64), 0.8, _SHOCK_END), dtype=f32, device=dev
            ).view(m, 1, 1) * smoothstep(0.0, 0.05, tf)
            u = (r - radius) / width
            ring = torch.exp(-u * u)
            push = strength * env * width * math.sqrt(2 * math.e) * u * ring * smoothstep(0.0, 1.0, r / width)
            rn = r.clamp(min=1e-3)
            disp = torch.stack([push * dx / rn, push * dy / rn], -1)  # (M, HL, WL, 2) pixels
            glow = (v("shock_glow") * env * torch.exp(-2 * u * u) * (strength > 0)).unsqueeze(-1)
            ring_light = glow * torch.tensor([1.0, 0.92, 0.85], device=dev)
            light = ring_light if light is None else light + ring_light
        # frames whose plate moves (decided per frame, so a frame renders the same in any batch)
        moves = np.any(shake != 0, axis=1)
        if disp is not None:
            moves |= (strength * env).view(m).cpu().numpy() > 0
        if not moves.any():
            return light, None, moves
        sh = torch.as_tensor(shake, dtype=f32, device=dev).view(m, 1, 1, 2)
        coords = torch.stack([xs.view(1, -1).expand(ys.shape[0], -1), ys.view(-1, 1).expand(-1, xs.shape[0])], -1)
        where = (coords - 0.5) - sh  # pixel indices (centres at integers)
        if disp is not None:
            where = where - disp
        return light, where, moves

    def _layer(self, pyr, grid, T, vals, origin, h):
        """The collapsed level-0 grid to the layer (M, H0, W0, 4) and the plate's factor (``_Factor``).

        The frame is ``layer + plate * factor``: the layer is fire light + bloom + lit smoke with
        the smoke's alpha; the factor is the smoke's transmittance, times the flash's gain on the
        colour channels (the flash lights the plate around the start).
        """
        import torch
        from vfx.ops import color

        dev = grid.device
        m, hl, wl, _ = grid.shape
        # the fire's faint fringes fall off faster than its body (a fireball is optically thick:
        # its edge is a surface, not a haze): light x peak / (peak + _FIRE_EDGE)
        peak = grid[..., :3].amax(-1, keepdim=True).clamp_(min=0)
        grid[..., :3] *= peak / (peak + _FIRE_EDGE)
        depth = grid[..., 3].contiguous().clamp_(min=0).unsqueeze(-1)
        depth = depth * depth / (depth + _SMOKE_EDGE)  # likewise thin smoke thins out faster
        # quarter resolution: bloom (two scales) and the relief shading of the smoke (lit from above)
        quarter = _blur(_resize(grid, hl // 4, wl // 4, area=True), 2.0)
        wide = _blur(_resize(quarter, hl // 16, wl // 16, area=True), 1.5)
        glow = 0.65 * quarter[..., :3] + 0.35 * _resize(wide[..., :3].contiguous(), hl // 4, wl // 4)
        dq = quarter[..., 3].contiguous()
        grad = torch.zeros_like(dq)
        grad[:, 1:-1] = dq[:, 2:] - dq[:, :-2]  # depth growing downwards: a top edge
        relief = (torch.tanh(grad * 2.0) * 0.25).unsqueeze(-1)
        smoke_lin = torch.as_tensor(
            color.srgb_to_linear(vals["smoke_color"][:, :3]), dtype=torch.float32, device=dev
        ).view(m, 1, 1, 3)
        bloom = torch.as_tensor(vals["bloom"], dtype=torch.float32, device=dev).view(m, 1, 1, 1)
        # smoke colour: its own, shaded by the relief and lit by the fire's glow
        zero = torch.zeros_like(relief)
        bloom_light = _resize(torch.cat([bloom * glow, zero], -1), hl, wl)
        smoke_col = _resize(torch.cat([smoke_lin * (1 + relief) + 0.25 * glow, zero], -1), hl, wl)
        alpha = -torch.expm1(-depth)
        layer = smoke_col.mul_(alpha).add_(grid).add_(bloom_light)  # in place: a broadcast addcmul is slow
        layer[..., 3:4] = alpha
        layer.clamp_(max=8.0)  # highlights end 3 stops over white
        rgb = layer[..., :3]
        tt = T.view(m).cpu().numpy().astype(np.float64)
        flash = np.asarray(vals["flash"], np.float64) * _flash_env(tt)
        gain = cov = None
        if (flash > 0).any():
            # the flash lights the plate around the start: a gain on its colour (exactly 1 without flash)
            xs, ys = pyr.centres(0)
            ox = (origin[:, 0] * h).view(m, 1, 1, 1)
            oy = (origin[:, 1] * h).view(m, 1, 1, 1)
            rad = 0.6 * h
            gx = torch.exp(-0.5 * ((xs.view(1, 1, -1, 1) - ox) / rad) ** 2)
            gy = torch.exp(-0.5 * ((ys.view(1, -1, 1, 1) - oy) / rad) ** 2)
            gain = 1 + gx * gy * torch.as_tensor(0.8 * flash, dtype=torch.float32, device=dev).view(m, 1, 1, 1)
        if self.video.has_alpha:
            # on a transparent plate the fire's light also covers (alpha) as its luminance says
            cov = (LUMA[0] * rgb[..., 0:1] + LUMA[1] * rgb[..., 1:2] + LUMA[2] * rgb[..., 2:3]).clamp_(0, 1)
            layer[..., 3:4] = alpha + (1 - alpha) * cov
        return layer, _Factor(1 - alpha, gain, cov, flash)

    def _scratch(self, name, shape):
        """A reusable CPU work buffer (contents never carry over into a result)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape, np.float32)
        return buf

    def _composite_cpu(self, pyr, plate, layer, trans, where, moves):
        """Frame by frame with OpenCV: upsample the layer and the factor, warp the plate (remap),
        ``out = layer + plate * factor`` (``accumulateProduct``)."""
        import cv2
        import torch

        m, h, w, _ = plate.shape
        out = vfx.frames.empty_planes((m, h, w, 4))
        factor = self._scratch("factor", (h, w, 4))
        if where is not None:
            c = pyr.cells[2]
            hl, wl = where.shape[1:3]
            whole = self._scratch("map", (hl * c, wl * c, 2))
            mp = whole[2 * c : 2 * c + h, 2 * c : 2 * c + w]
            warped = self._scratch("warped", (h, w, 4))
        for i in range(m):
            dst = out[i].numpy()
            pyr.upsample_into(layer[i], 0, dst)
            if trans.plain(i):  # one channel, merged: cheaper
                one = self._scratch("factor1", (h, w))
                pyr.upsample_into(trans.trans[i, ..., 0], 0, one)
                cv2.merge([one, one, one, one], dst=factor)
            else:
                pyr.upsample_into(trans.four(i), 0, factor)
            frame = plate[i]
            if frame.stride(0) == 0 and frame.stride(1) == 0:
                # a constant plate (source.color): nothing to warp, multiply by the colour
                rgba = [float(v) for v in frame[0, 0]]
                cv2.multiply(factor, tuple(rgba), dst=factor)
                cv2.add(dst, factor, dst=dst)
                continue
            src = frame.contiguous().numpy()
            if moves[i]:
                # the whole level grid upsampled (margins included), so that the frame's border
                # pixels interpolate the coordinates exactly: bilinear is exact on the identity
                resample.resize_planes(where[i : i + 1], hl * c, wl * c, out=torch.from_numpy(whole)[None])
                resample.remap_planes(
                    torch.from_numpy(src)[None], torch.from_numpy(mp)[None], out=torch.from_numpy(warped)[None]
                )
                src = warped
            cv2.accumulateProduct(src, factor, dst)
        return out


def _decay(t, tau: float, end: float):
    """``e^(-t / tau)`` for ``t >= 0`` (NumPy), shifted and rescaled to reach exactly 0 at ``end``
    seconds: a frame past it has nothing of the effect, whatever batch it is rendered in."""
    t = np.asarray(t, np.float64)
    floor = math.exp(-end / tau)
    return np.clip((np.exp(-np.maximum(t, 0) / tau) - floor) / (1 - floor), 0.0, 1.0) * (t >= 0)


def _flash_env(t):
    """The flash over time (seconds): e^(-t / 0.1), reaching 0 at 0.4 s."""
    return _decay(t, 0.1, 0.4)


class _Factor:
    """The plate's factor on level 0: transmittance (M, H0, W0, 1), and per frame maybe a flash gain
    on the colour channels and (transparent plates) a lower alpha under the fire."""

    def __init__(self, trans, gain, cov, flash):
        self.trans, self.gain, self.cov, self.flash = trans, gain, cov, flash

    def plain(self, i: int) -> bool:
        """Whether frame ``i``'s factor is the transmittance on all four channels."""
        return self.cov is None and not self.flash[i] > 0

    def four(self, i: int):
        """Frame ``i``'s factor as (H0, W0, 4)."""
        t = self.trans[i]
        f = t.expand(t.shape[0], t.shape[1], 4).contiguous()
        if self.gain is not None:
            f[..., :3] *= self.gain[i]
        if self.cov is not None:
            f[..., 3:4] *= 1 - self.cov[i]
        return f


def _sample_field(field, rx, ry):
    """Bilinear samples of a (M, n, n, 3) field over +-_FIELD_EXTENT at offsets (rx, ry) (M, Q)."""
    to_cell = 0.5 * (field.shape[1] - 1) / _FIELD_EXTENT
    s = resample.sample_points(field, (rx + _FIELD_EXTENT) * to_cell, (ry + _FIELD_EXTENT) * to_cell)
    return s[..., 0], s[..., 1], s[..., 2]


def _even(n: int) -> int:
    return n + (n & 1)


class _Pyramid:
    """Accumulation grids for soft sprites: level ``lv`` has cells of ``c0 * 2**lv`` pixels.

    Level cell ``i`` covers pixels ``[(i - 2) c, (i - 1) c)`` (two cells of margin on every side), so
    a continuous pixel coordinate ``p`` is cell coordinate ``p / c + 1.5`` on every level, and a
    level is exactly its coarser neighbour cropped by one cell and upsampled by two.
    """

    def __init__(self, h, w, c0, levels, m, device):
        self.h, self.w, self.m, self.device = h, w, m, device
        self.cells = [c0 * 2**lv for lv in range(levels + 1)]
        self.dims = [(_even(math.ceil(h / c) + 4), _even(math.ceil(w / c) + 4)) for c in self.cells]

    def centres(self, lv):
        """Pixel coordinates of the cell centres of level ``lv``: (xs, ys)."""
        import torch

        c = self.cells[lv]
        hl, wl = self.dims[lv]
        return (
            (torch.arange(wl, device=self.device, dtype=torch.float32) - 1.5) * c,
            (torch.arange(hl, device=self.device, dtype=torch.float32) - 1.5) * c,
        )

    def upsample_into(self, grid, lv, dst):
        """One frame's level-``lv`` grid (HL, WL, C) resampled into ``dst``, an (H, W, C) array (CPU)."""
        import torch

        c = self.cells[lv]
        hh, ww = math.ceil(self.h / c), math.ceil(self.w / c)
        src = grid[None, 2 : 2 + hh, 2 : 2 + ww]  # an ROI view: OpenCV takes strides
        if src.ndim == 3:
            src, dst = src[..., None], dst[..., None]
        if (hh * c, ww * c) == (self.h, self.w):
            resample.resize_planes(src, self.h, self.w, out=torch.from_numpy(dst)[None])
        else:
            dst[...] = resample.resize_planes(src, hh * c, ww * c)[0, : self.h, : self.w].numpy()

    def to_frame(self, grid, lv):
        """A level-``lv`` grid (M, HL, WL, C) resampled to the frame (M, H, W, C)."""
        c = self.cells[lv]
        hh, ww = math.ceil(self.h / c), math.ceil(self.w / c)
        g = grid[:, 2 : 2 + hh, 2 : 2 + ww]
        return _resize(g, hh * c, ww * c)[:, : self.h, : self.w]

    def splat_collapse(self, px, py, sigma, values, inject=None):
        """Splat Gaussian sprites (pixel centres ``px, py``, ``sigma``; ``values`` (M, Q, C) integrated
        over the sprite) and collapse the pyramid to level 0: (M, H0, W0, C) per pixel area.

        Each sprite is split between the two levels whose blur brackets its sigma and splatted
        bilinearly there with ``index_add_``; each level is blurred by ``_SIGMA_CELLS`` and added to
        its coarser neighbour upsampled. ``inject`` adds (M, HL, WL, C') grids (C' <= C) on levels.
        """
        import torch

        dev = px.device
        m = self.m
        nch = values.shape[-1]
        levels = len(self.cells) - 1
        sizes = [m * hh * ww for hh, ww in self.dims]
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        total = int(offs[-1])
        c0 = self.cells[0]
        lvl = torch.log2((sigma / (c0 * _SPRITE_PER_CELL)).clamp(min=1.0)).clamp(max=float(levels))
        l0 = lvl.floor().clamp(max=levels - 1)
        fr = lvl - l0
        l0 = l0.long()
        cell_t = torch.tensor(self.cells, dtype=torch.float32, device=dev)
        hh_t = torch.tensor([d[0] for d in self.dims], dtype=torch.int64, device=dev)
        ww_t = torch.tensor([d[1] for d in self.dims], dtype=torch.int64, device=dev)
        off_t = torch.tensor(offs[:-1], dtype=torch.int64, device=dev)
        frame = torch.arange(m, device=dev).view(m, 1)
        keep = (values != 0).any(-1)
        idx_parts, w_parts = [], []
        for step, lw in ((0, 1 - fr), (1, fr)):
            lv = l0 + step
            c = cell_t[lv]
            hl, wl = hh_t[lv], ww_t[lv]
            u = px / c + 1.5
            v = py / c + 1.5
            iu, iv = u.floor(), v.floor()
            fu, fv = u - iu, v - iv
            iu, iv = iu.long(), iv.long()
            wx0 = (1 - fu) * ((iu >= 0) & (iu < wl))
            wx1 = fu * ((iu >= -1) & (iu < wl - 1))
            wy0 = (1 - fv) * ((iv >= 0) & (iv < hl))
            wy1 = fv * ((iv >= -1) & (iv < hl - 1))
            norm = torch.where(keep, lw / (c * c), 0.0)  # per pixel area
            base = off_t[lv] + (frame * hl + iv) * wl + iu
            # corners outside the level get weight 0; their (clamped) index then adds nothing
            idx_parts.append(torch.stack([base, base + 1, base + wl, base + wl + 1], -1))
            w_parts.append(torch.stack([wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1], -1) * norm.unsqueeze(-1))
        idx = torch.cat(idx_parts, -1).reshape(-1).clamp_(0, total)
        wts = torch.cat(w_parts, -1)  # (M, Q, 8)
        src = (wts.unsqueeze(-1) * values.to(torch.float32).unsqueeze(2)).reshape(-1, nch)
        buf = torch.zeros((total + 1, nch), dtype=torch.float32, device=dev)
        buf.index_add_(0, idx, src)
        kept = keep.reshape(-1)
        used = (
            torch.bincount(l0.reshape(-1)[kept], minlength=levels + 1)
            + torch.bincount((l0 + 1).reshape(-1)[kept & (fr.reshape(-1) > 0)], minlength=levels + 1)
        ).tolist()
        inject = inject or {}
        acc = None
        for lv in range(levels, -1, -1):
            hl, wl = self.dims[lv]
            part = None
            if used[lv]:
                part = _blur(buf[offs[lv] : offs[lv + 1]].view(m, hl, wl, nch), _SIGMA_CELLS)
            if acc is not None:
                up = _resize(acc[:, 1 : 1 + hl // 2, 1 : 1 + wl // 2], hl, wl)
                part = up if part is None else up.add_(part)
            extra = inject.get(lv)
            if extra is not None:
                if part is None:
                    part = torch.zeros((m, hl, wl, nch), dtype=torch.float32, device=dev)
                part[..., : extra.shape[-1]] += extra
            acc = part
        if acc is None:
            hl, wl = self.dims[0]
            acc = torch.zeros((m, hl, wl, nch), dtype=torch.float32, device=dev)
        return acc
