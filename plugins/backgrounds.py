"""Procedural backdrops: sky, layered mountains, starfield, nebula and a plain noise generator.

Every node here is a source drawn on the pipeline's device from ``vfx.noise``, at any size, opaque,
animated over time and deterministic: the noise seed comes from the pipeline seed and the node id,
and time ``t = frame / fps`` enters the noise directly (as a drift offset or as the third noise
coordinate), so any frame renders alone exactly as it does inside a whole render.

Lengths are measured in frame heights (a scene looks the same at 960x540 and 1920x1080) and
positions are normalized ``[x, y]`` in 0..1 of the frame (``[0, 0]`` top left). Colours are sRGB
options; the pictures are made in linear light. Smooth fields (clouds, nebula gas, mist) are
evaluated on a coarser grid and upsampled; edges (sun disc, ridgelines, stars) are drawn at full
resolution.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, StreamInfo, opt

# ------------------------------------------------------------------------------------ helpers


def _torch():
    import torch
    return torch


def _lin(rgb_row, device):
    """An sRGB option row (r, g, b[, a]) as a linear (3, 1, 1) tensor."""
    from vfx.color import srgb_to_linear
    torch = _torch()
    return torch.tensor(srgb_to_linear(np.asarray(rgb_row[:3], np.float64)), dtype=torch.float32,
                        device=device).view(3, 1, 1)


def _smoothstep(e0, e1, x):
    t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _grid(h, w, frame_h, frame_w, device):
    """Sample positions of an ``h`` x ``w`` grid covering a frame_w x frame_h frame, in frame heights.

    The grid's samples sit where ``interpolate(..., align_corners=False)`` expects them, so a coarse
    grid upsampled lines up with the full-resolution one.
    """
    torch = _torch()
    sx, sy = frame_w / w, frame_h / h
    X = ((torch.arange(w, device=device, dtype=torch.float32) + 0.5) * (sx / frame_h)).view(1, w).expand(h, w)
    Y = ((torch.arange(h, device=device, dtype=torch.float32) + 0.5) * (sy / frame_h)).view(h, 1).expand(h, w)
    return X, Y


def _coarse_size(h, w, max_h):
    if h <= max_h:
        return h, w
    return max_h, max(1, round(w * max_h / h))


def _upsample(t, h, w):
    """(C, hc, wc) to (C, h, w), bilinear."""
    torch = _torch()
    if t.shape[-2:] == (h, w):
        return t
    return torch.nn.functional.interpolate(t[None], size=(h, w), mode="bilinear", align_corners=False)[0]


def _seed(node, stream: str) -> int:
    return node.ctx.seed_for(0, stream)


class _Backdrop(vfx.Source):
    """Shared plumbing: size/duration options, per-frame drawing into an opaque channels-last batch."""

    animated_batches = True

    class Options(vfx.Options):
        size = opt.Vec(None, integer=True, min=1, animate=False,
                       doc="[width, height] in pixels (default: the pipeline size)")
        duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration)")

    def configure(self):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        self.video = StreamInfo(w, h, s.fps, self.options.duration or s.duration, False)
        self.check()

    def check(self):
        """Extra validation of option combinations (raise ConfigureError naming the option)."""

    def frame_values(self, indices):
        """Every animatable option evaluated for these frames: {name: array (N,) or (N, k)}."""
        out = {}
        for name, field in self.Options.fields().items():
            if field.animatable and getattr(self.options, name) is not None:
                out[name] = self.values(name, indices)
        return out

    def render(self, indices):
        from vfx.frames import empty_pixels
        n, h, w = len(indices), self.video.height, self.video.width
        vals = self.frame_values(indices)
        out = empty_pixels(n, h, w, self.device)
        fps = float(self.video.fps)
        for k, i in enumerate(indices):
            p = {name: v[k] for name, v in vals.items()}
            rgb = self.draw(i / fps, p)
            out[k, :3] = rgb.clamp(0.0, 1.0)
            out[k, 3] = 1.0
        return FrameBatch(indices, out)

    def draw(self, t: float, p: dict):
        """One frame at time ``t`` seconds: a linear (3, H, W) tensor on ``self.device``."""
        raise NotImplementedError


# ------------------------------------------------------------------------------------ sky

class _SkyOptions(vfx.Options):
    zenith = opt.Color("#2b5c9c", doc="sky colour at the top of the frame")
    horizon = opt.Color("#c4d8ea", doc="sky colour at the horizon line")
    horizon_line = opt.Float(1.0, min=0.05, max=1.5, doc="y of the horizon (0 top, 1 bottom of the frame)")
    falloff = opt.Float(1.6, min=0.2, max=6.0,
                        doc="gradient curve: higher keeps the zenith colour lower and brightens only near the horizon")
    sun_position = opt.Vec([0.72, 0.28], doc="sun centre [x, y], normalized (it may lie outside the frame)")
    sun_size = opt.Float(0.035, min=0.0, max=0.5, doc="sun disc radius in frame heights (0: no disc)")
    sun_glow = opt.Float(0.6, min=0.0, max=4.0, doc="strength of the halo and of the sky brightening around the sun")
    sun_color = opt.Color("#fff0d2", doc="colour of the sun and its glow")
    sun_intensity = opt.Float(1.5, min=0.0, max=50.0,
                              doc="disc brightness in linear light (the output is clipped to 0..1)")
    clouds = opt.Float(0.45, min=0.0, max=1.0, doc="cloud coverage: the share of the sky they hide (0: none)")
    cloud_softness = opt.Float(0.5, min=0.02, max=2.0, doc="how soft and wispy cloud edges are")
    cloud_scale = opt.Float(1.0, min=0.05, max=20.0, doc="cloud size (2: twice as big)")
    cloud_color = opt.Color("#ffffff", doc="sunlit cloud colour")
    cloud_shadow = opt.Color("#8390aa", doc="colour of cloud undersides and of the side away from the sun")
    wind_speed = opt.Float(0.05, min=0.0, max=10.0, doc="cloud drift in cloud-layer units per second")
    wind_direction = opt.Float(20.0, doc="drift direction in degrees: 0 to the right, 90 towards the horizon")
    cloud_evolution = opt.Float(0.6, min=0.0, max=10.0,
                                doc="how much cloud shapes churn while drifting (small scales drift faster)")
    perspective = opt.Float(1.0, min=0.0, max=1.0,
                            doc="1: clouds on a plane receding to the horizon; 0: flat, screen-aligned")
    haze = opt.Float(0.35, min=0.0, max=1.0, doc="horizon haze strength")
    haze_color = opt.Color("#e4e9ee", doc="colour of the horizon haze")


def _sky_params(p, device):
    """Per-frame sky values as tensors/floats."""
    q = dict(p)
    for name in ("zenith", "horizon", "sun_color", "cloud_color", "cloud_shadow", "haze_color"):
        q[name] = _lin(p[name], device)
    return q


def sky_gradient(Y, q):
    """The zenith-to-horizon gradient at heights ``Y`` (frame heights from the top): (3, h, w)."""
    tt = (Y / q["horizon_line"]).clamp(0.0, 1.0) ** q["falloff"]
    return q["zenith"] + (q["horizon"] - q["zenith"]) * tt


def _sun_geometry(X, Y, q, aspect):
    sx, sy = float(q["sun_position"][0]) * aspect, float(q["sun_position"][1])
    dx, dy = X - sx, Y - sy
    return dx, dy, (dx * dx + dy * dy).sqrt()


def _sun_glow(d, Y, q):
    """Sky brightening around the sun (added light, linear): a tight corona and a wide halo."""
    size = max(float(q["sun_size"]), 0.004)
    g = float(q["sun_glow"])
    corona = (-d / (size * 2.5)).exp()
    halo = (-d / 0.22).exp()
    wide = (-d / 0.8).exp()
    return q["sun_color"] * (g * (0.9 * corona + 0.45 * halo + 0.12 * wide))


def _sun_disc(d, q, frame_h):
    size = float(q["sun_size"])
    if size <= 0:
        return None
    edge = max(1.2 / frame_h, size * 0.04)
    disc = _smoothstep(size + edge * 0.5, size - edge * 0.5, d)
    # limb darkening: the rim is dimmer and warmer than the centre
    r = (d / size).clamp(max=1.0)
    limb = 1.0 - 0.35 * (1.0 - (1.0 - r * r).clamp(min=0.0).sqrt())
    return disc * limb * float(q["sun_intensity"])


_FBM_SIGMA = 0.155   # standard deviation of the 6-octave, gain-0.5 Perlin fBm used for clouds (measured)


def _cloud_density(X, Y, t, q, seed, aspect, frame_h_px):
    """Cloud density 0..1 and raw thickness on the (coarse) grid X, Y (frame heights)."""
    torch = _torch()
    from vfx import noise
    horizon = float(q["horizon_line"])
    persp = float(q["perspective"])
    elev = (horizon - Y).clamp(min=0.0)
    depth = 1.0 / (elev + 0.12)
    cx = X - aspect * 0.5
    u = cx * (1.0 - persp) + cx * depth * persp
    v = Y * (1.0 - persp) + depth * persp
    # footprint of one grid sample in cloud-plane units, for fading out octaves finer than it
    px = 1.0 / frame_h_px
    fp = torch.maximum((1.0 - persp) + depth * persp, (1.0 - persp) + depth * depth * persp) * px
    s = 2.2 / float(q["cloud_scale"])
    ang = math.radians(float(q["wind_direction"]))
    wx, wz = math.cos(ang), math.sin(ang)
    speed = float(q["wind_speed"])
    evo = float(q["cloud_evolution"])
    total = torch.zeros_like(X)
    amp, norm, freq = 1.0, 0.0, 1.0
    octaves = 6
    for o in range(octaves):
        f = s * freq
        weight = ((0.5 - f * fp) / 0.25).clamp(0.0, 1.0)
        # finer octaves drift a little faster than the wind: shapes churn as they travel
        drift = speed * t * (1.0 + evo * 0.35 * o)
        n = noise.perlin((u + wx * drift) * f + 13.1 * o, (v + wz * drift) * f - 7.3 * o,
                         seed=seed + o)
        total += amp * weight * n
        norm += amp
        amp *= 0.5
        freq *= 2.03
    n = total / norm
    cover = float(q["clouds"])
    thr = _FBM_SIGMA * NormalDist().inv_cdf(min(max(1.0 - cover, 1e-4), 1 - 1e-4))
    soft = _FBM_SIGMA * (0.15 + 0.9 * float(q["cloud_softness"]))
    dens = _smoothstep(thr - 0.35 * soft, thr + soft, n)
    thick = ((n - thr) / (4.0 * _FBM_SIGMA)).clamp(0.0, 1.0)
    # clouds thin out into the haze at the horizon
    fade = _smoothstep(0.0, 0.07, elev) if persp > 0 else torch.ones_like(elev)
    return dens * fade, thick


def _shift_toward(field, dirx, diry, dist_px):
    """``field`` (h, w) sampled ``dist_px`` grid samples along the per-sample unit direction."""
    torch = _torch()
    h, w = field.shape
    gy, gx = torch.meshgrid(torch.arange(h, device=field.device, dtype=field.dtype),
                            torch.arange(w, device=field.device, dtype=field.dtype), indexing="ij")
    sx = (gx + dirx * dist_px + 0.5) / w * 2.0 - 1.0
    sy = (gy + diry * dist_px + 0.5) / h * 2.0 - 1.0
    grid = torch.stack([sx, sy], -1)[None]
    return torch.nn.functional.grid_sample(field[None, None], grid, mode="bilinear", padding_mode="border",
                                           align_corners=False)[0, 0]


def draw_sky(h, w, t, p, seed, device, with_clouds=True):
    """The sky picture (3, h, w) in linear light: gradient, sun, clouds, haze."""
    torch = _torch()
    q = _sky_params(p, device)
    aspect = w / h
    X, Y = _grid(h, w, h, w, device)
    sky = sky_gradient(Y, q)
    dx, dy, d = _sun_geometry(X, Y, q, aspect)
    sky = sky + _sun_glow(d, Y, q) * 0.55
    disc = _sun_disc(d, q, h)
    if disc is not None:
        sky = sky + q["sun_color"] * disc
    horizon = float(q["horizon_line"])
    if with_clouds and float(q["clouds"]) > 0:
        ch, cw = _coarse_size(h, w, 540)
        Xc, Yc = _grid(ch, cw, h, w, device)
        dens, thick = _cloud_density(Xc, Yc, t, q, seed, aspect, ch)
        sdx, sdy, sd = _sun_geometry(Xc, Yc, q, aspect)
        inv = 1.0 / sd.clamp(min=1e-4)
        ux, uy = -sdx * inv, -sdy * inv
        # a short march towards the sun through the density (screen space): Beer-Lambert
        # transmittance lights the sun-facing sides and leaves the far sides in shadow;
        # a march upwards does the same for skylight (darker, flatter undersides)
        step = 0.014 * ch
        od_sun = torch.zeros_like(dens)
        od_sky = torch.zeros_like(dens)
        zeros = torch.zeros_like(dens)
        for k in range(1, 6):
            od_sun += _shift_toward(dens, ux, uy, step * k)
            od_sky += _shift_toward(dens, zeros, zeros - 1.0, step * k * 0.8)
        od = 1.1 * od_sun + 1.2 * thick
        sun_t = 0.65 * (-od).exp() + 0.35 * (-0.25 * od).exp()     # single + multiple scattering
        sky_t = (-0.35 * od_sky).exp()
        size = max(float(q["sun_size"]), 0.004)
        near = (-sd / (0.12 + size * 3)).exp()                  # forward scattering near the sun
        fields = torch.stack([dens, sun_t, sky_t, near])
        dens, sun_t, sky_t, near = _upsample(fields, h, w)
        glow = float(q["sun_glow"])
        ambient = q["cloud_shadow"] * (0.55 + 0.45 * sky_t[None])
        direct = q["cloud_color"] * q["sun_color"] * (sun_t * (0.85 + 1.6 * glow * near))[None]
        ccol = ambient + direct
        # distant clouds take on the horizon colour (aerial perspective)
        elev = (horizon - Y).clamp(min=0.0)
        aerial = (-elev / 0.2).exp() * float(q["perspective"]) * 0.75
        ccol = ccol + (q["horizon"] - ccol) * aerial[None]
        sky = sky + (ccol - sky) * dens[None]
        # light scattered in front of the clouds
        sky = sky + _sun_glow(d, Y, q) * 0.3 * dens[None]
    if float(q["haze"]) > 0:
        elev = horizon - Y
        band = (-elev.clamp(min=0.0) / 0.1).exp()
        band = torch.where(elev < 0, torch.ones_like(band), band) * float(q["haze"])
        sky = sky + (q["haze_color"] - sky) * band[None]
    return sky


class Sky(_Backdrop):
    """A daylight sky: zenith-to-horizon gradient, a sun with a glow, drifting sunlit clouds, haze.

    Clouds are fractal (Perlin fBm) on a plane that recedes towards the horizon (``perspective``),
    drifting with the wind; finer detail drifts a little faster so shapes churn (``cloud_evolution``).
    Their sun-facing side is lit and edges near the sun glow. Every colour, the sun and the clouds
    are animatable (a sunset: keyframe ``sun_position``, ``zenith`` and ``horizon``).
    """

    type = "background.sky"

    class Options(_Backdrop.Options, _SkyOptions):
        pass

    def draw(self, t, p):
        return draw_sky(self.video.height, self.video.width, t, p, _seed(self, "clouds"), self.device)


# ------------------------------------------------------------------------------------ mountains

_LOOKS = {
    "snowy": {
        "zenith": "#4f77a6", "horizon": "#d3dde6", "haze_color": "#c3d0dd", "rock_color": "#465466",
        "snow_color": "#f4f7fb", "clouds": 0.35, "haze": 0.55, "sun_color": "#fff4e0", "sun_position": (0.24, 0.2),
        "strata": ("#4c5563",),
    },
    "canyon": {
        "zenith": "#5d8cc0", "horizon": "#f1c99c", "haze_color": "#e2b489", "rock_color": "#a4522b",
        "snow_color": "#f4f7fb", "clouds": 0.12, "haze": 0.3, "sun_color": "#ffe2b0", "sun_position": (0.8, 0.22),
        "strata": ("#9a3d1a", "#b5562a", "#c46a34", "#a4471f", "#cf8049", "#ad5a2c", "#8a3617", "#bf6c3a"),
    },
}


def _hex(c):
    c = c.lstrip("#")
    return tuple(int(c[i:i + 2], 16) / 255 for i in (0, 2, 4))


def _ridge_line(X, layer_seed, freq, octaves, terrace, roughness):
    """The ridge profile R(x) in 0..1 (1D: X is (w,)), and its 2-D seed slice position."""
    from vfx import noise
    r = noise.ridged(X * freq, 0.0 * X + 3.7, seed=layer_seed, octaves=octaves, gain=roughness)
    return _shape_ridge(r, terrace)


def _shape_ridge(r, terrace):
    torch = _torch()
    r = ((r - 0.15) / 0.8).clamp(0.0, 1.0)
    if terrace > 0:
        steps = 4.0
        q = r * steps
        f = q - torch.floor(q)
        stepped = (torch.floor(q) + _smoothstep(0.55, 0.92, f)) / steps
        r = r + (stepped - r) * terrace
    return r


class Mountains(_Backdrop):
    """Layered fractal mountain ranges under a sky, with atmospheric perspective and drifting mist.

    Each layer's ridgeline is a ridged multifractal along x; its face is the same fractal continued
    downwards (spurs and gullies), shaded from the ``light`` side. Farther layers stand higher, are
    finer and fade towards ``haze_color``; mist gathers at the foot of each layer and drifts.
    ``look = "snowy"``: blue-grey rock with snow above ``snowline`` (edges broken by noise).
    ``look = "canyon"``: terraced mesas of red and orange sandstone strata, no snow, dusty haze.
    Colour options left unset take the look's colours; the sky behind is ``background.sky``'s
    gradient, sun and clouds.
    """

    type = "background.mountains"

    class Options(_Backdrop.Options):
        look = opt.Choice("snowy", choices=("snowy", "canyon"), doc="the style and its default colours")
        layers = opt.Int(4, min=1, max=8, animate=False, doc="number of ridgelines, far to near")
        horizon = opt.Float(0.58, min=0.05, max=1.0, doc="y where the farthest range stands (0 top, 1 bottom)")
        height = opt.Float(0.3, min=0.0, max=1.0, doc="height of the tallest peaks in frame heights")
        scale = opt.Float(1.0, min=0.1, max=10.0, doc="horizontal size of the ranges (2: twice as wide)")
        roughness = opt.Float(0.5, min=0.1, max=0.9, doc="how jagged the ridges are (fractal gain)")
        offset = opt.Float(0.0, doc="pan: slides the ranges sideways, nearer layers faster (parallax), frame heights")
        snowline = opt.Float(0.5, min=0.0, max=1.0, doc="snow above this share of a layer's height (snowy look)")
        haze = opt.Float(None, min=0.0, max=1.0,
                         doc="atmospheric perspective: how much distant layers fade (default: the look's, 0.55 or 0.3)")
        mist = opt.Float(0.35, min=0.0, max=1.0, doc="drifting mist at the foot of each layer")
        mist_speed = opt.Float(0.03, min=0.0, max=5.0, doc="mist drift in frame heights per second")
        light = opt.Float(None, min=-1.0, max=1.0,
                          doc="light across the faces: -1 from the left, 1 from the right (default: from the sun's side)")
        rock_color = opt.Color(None, doc="rock colour (default: the look's)")
        snow_color = opt.Color(None, doc="snow colour (default: the look's)")
        haze_color = opt.Color(None, doc="haze colour far layers fade to (default: the look's)")
        zenith = opt.Color(None, doc="sky colour at the top (default: the look's)")
        horizon_color = opt.Color(None, doc="sky colour at the horizon (default: the look's)")
        sun_position = opt.Vec(None, doc="sun centre [x, y] normalized (default: the look's)")
        sun_size = opt.Float(0.03, min=0.0, max=0.5, doc="sun disc radius in frame heights (0: none)")
        sun_glow = opt.Float(0.5, min=0.0, max=4.0, doc="sun halo strength")
        clouds = opt.Float(None, min=0.0, max=1.0, doc="cloud coverage of the sky (default: the look's)")
        wind_speed = opt.Float(0.05, min=0.0, max=10.0, doc="cloud drift speed")

    def check(self):
        o = self.options
        if isinstance(o.horizon, float) and isinstance(o.height, float) and o.horizon - o.height < -0.5:
            raise ConfigureError("the peaks would rise more than half a frame above the top "
                                 f"(horizon {o.horizon} - height {o.height}); lower height", option="height")

    def _look(self, p, name, key=None):
        v = p.get(name)
        if v is not None:
            return v
        v = _LOOKS[self.options.look][key or name]
        return _hex(v) if isinstance(v, str) else v

    def _sky_p(self, p):
        look = _LOOKS[self.options.look]
        from vfx.options import ParseContext
        sky = {name: f.default_value(ParseContext()) for name, f in _SkyOptions.fields().items()}
        sky.update({
            "zenith": self._look(p, "zenith"),
            "horizon": _hex(look["horizon"]) if p.get("horizon_color") is None else p["horizon_color"],
            "haze_color": _hex(look["haze_color"]) if p.get("haze_color") is None else p["haze_color"],
            "sun_color": _hex(look["sun_color"]),
            "sun_position": look["sun_position"] if p.get("sun_position") is None else p["sun_position"],
            "sun_size": p["sun_size"], "sun_glow": p["sun_glow"],
            "clouds": look["clouds"] if p.get("clouds") is None else float(p["clouds"]),
            "wind_speed": p["wind_speed"], "horizon_line": float(p["horizon"]) + 0.05, "falloff": 1.4,
            "haze": 0.5, "cloud_scale": 1.0, "perspective": 1.0,
        })
        return sky

    def draw(self, t, p, want_layers=False):
        torch = _torch()
        from vfx import noise
        dev = self.device
        h, w = self.video.height, self.video.width
        aspect = w / h
        look = self.options.look
        canyon = look == "canyon"
        skyp = self._sky_p(p)
        img = draw_sky(h, w, t, skyp, _seed(self, "clouds"), dev)
        rock = _lin(self._look(p, "rock_color"), dev)
        snow = _lin(self._look(p, "snow_color"), dev)
        haze_c = _lin(skyp["haze_color"], dev)
        strata = torch.stack([_lin(_hex(c), dev) for c in _LOOKS[look]["strata"]])   # (S, 3, 1, 1)
        L = self.options.layers
        horizon, height = float(p["horizon"]), float(p["height"])
        scale, rough = float(p["scale"]), float(p["roughness"])
        if p.get("light") is not None:
            light = float(p["light"])
        else:
            light = max(-1.0, min(1.0, (float(skyp["sun_position"][0]) - 0.5) * 2.5))
        haze_amt, mist_amt = float(self._look(p, "haze")), float(p["mist"])
        base_seed = _seed(self, "ridges")

        X1 = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / h          # (w,)
        Yfull = ((torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / h).view(h, 1)

        # drifting mist, one coarse field for all layers
        mh, mw = _coarse_size(h, w, 270)
        Xm, Ym = _grid(mh, mw, h, w, dev)
        drift = float(p["mist_speed"]) * t
        mist_field = noise.fbm((Xm + drift) * 2.2, Ym * 7.0, 0.15 * t, octaves=4, seed=_seed(self, "mist"))
        mist_field = _upsample((0.55 + 1.4 * mist_field).clamp(0.0, 1.5)[None], h, w)[0]

        layer_map = torch.full((h, w), -1, dtype=torch.int64, device=dev) if want_layers else None
        for k in range(L):
            dk = k / (L - 1) if L > 1 else 1.0
            base = horizon + dk * (0.97 - horizon) * 0.72
            amp = height * (1.0 - 0.5 * dk) * (0.75 if canyon else 1.0)
            freq = (2.4 - 1.3 * dk) / scale * (0.8 if canyon else 1.0)
            lseed = base_seed + 101 * k
            xoff = float(p["offset"]) * (0.3 + 0.7 * dk) + 17.0 * k
            Xl = X1 + xoff
            octaves = 8
            terr = 0.85 if canyon else 0.0
            R = _ridge_line(Xl, lseed, freq, octaves, terr, rough)
            ridge_y = base - amp * R                                         # (w,) screen y of the crest
            # coverage with a one-pixel antialiased edge
            cov = ((Yfull - ridge_y.view(1, w)) * h + 0.5).clamp(0.0, 1.0)    # (h, w)
            rows = torch.nonzero(cov.amax(1) > 0)
            if len(rows) == 0:
                continue
            r0 = int(rows[0])
            # the face: the ridge fractal continued below the crest, evaluated on a coarse band
            band_h = h - r0
            ch, cw = _coarse_size(band_h, w, max(8, int(540 * band_h / h)))
            Xc, Yc = _grid(ch, cw, band_h, w, dev)
            Yc = Yc * (band_h / h) + r0 / h                                  # frame heights
            Xc = Xc * (band_h / h) + xoff
            # depth below a smoothed crest (a jagged reference would tear the face into columns)
            Xs = (torch.arange(cw, device=dev, dtype=torch.float32) + 0.5) * (w / cw / h) + xoff
            ref = _ridge_line(Xs, lseed, freq, 3, terr, rough).view(1, 1, cw)
            k_blur = max(3, int(cw * 0.03) | 1)
            for _ in range(2):
                ref = torch.nn.functional.avg_pool1d(
                    torch.nn.functional.pad(ref, (k_blur // 2, k_blur // 2), mode="replicate"), k_blur, stride=1)
            ridge_c = (base - amp * ref).view(1, cw)
            depth = ((Yc - ridge_c) / max(amp, 1e-3)).clamp(min=0.0)
            if canyon:   # smooth, rounded buttresses (ridged creases read as cracks on sandstone)
                F = 0.5 + 0.8 * noise.fbm(Xc * freq * 1.5, 3.7 + depth * 0.35, seed=lseed, octaves=3)
            else:
                F = noise.ridged(Xc * freq, 3.7 + depth * 0.9, seed=lseed, octaves=6, gain=rough)
            # horizontal slope of the face (per frame height) -> lit or shadowed side
            gx = torch.zeros_like(F)
            gx[:, 1:-1] = (F[:, 2:] - F[:, :-2]) * (cw / (2.0 * aspect * freq))
            shade = 0.56 - 0.44 * torch.tanh(0.35 * gx * light)
            ao = (0.72 + 0.28 * F) if canyon else (0.55 + 0.45 * F)
            near_dark = 1.0 - 0.3 * dk                                       # near layers: darker, more contrast
            altitude = (base - Yc) / max(amp, 1e-3)                           # 0 at the foot, ~1 at peaks
            top_light = 0.75 + 0.25 * (1.0 - depth.clamp(max=1.0))
            if canyon:
                # sandstone strata: horizontal bands of irregular thickness, gently warped
                warp = noise.perlin(Xc * 3.0, 0.5 + 0 * Xc, seed=lseed + 7) * 0.01
                yy = Yc + warp
                # strata rise and fall between ranges: each layer's bands are offset and scaled differently
                bands = yy * (9.0 / max(height, 0.05)) * (1.0 + 0.25 * dk) + 2.37 * k
                bands = bands + 0.8 * noise.perlin(bands * 0.37, 0 * bands + 1.5, seed=base_seed + 9)
                bi = torch.floor(bands)
                bf = bands - bi
                idx = noise.hash_int(bi.to(torch.int64), seed=base_seed + 5) % strata.shape[0]
                idx2 = noise.hash_int(bi.to(torch.int64) + 1, seed=base_seed + 5) % strata.shape[0]
                c1 = strata[:, :, 0, 0][idx].permute(2, 0, 1)
                c2 = strata[:, :, 0, 0][idx2].permute(2, 0, 1)
                col = c1 + (c2 - c1) * _smoothstep(0.9, 1.0, bf)[None]
                # each band: a lit ledge on top, a cliff below darkening towards its foot
                ledge = 1.05 - 0.3 * _smoothstep(0.08, 1.0, bf) + 0.2 * _smoothstep(0.1, 0.0, bf)
                # vertical erosion streaks down the cliffs and a soft unevenness of the light
                streak = noise.fbm(Xc * 38.0, Yc * 2.0, octaves=3, seed=lseed + 11)
                soft = 0.62 + 0.38 * torch.tanh(-0.3 * gx * light)
                foot_shadow = 0.3 + 0.7 * (-depth * 1.6).exp()
                col = col * (soft * (0.88 + 0.3 * streak) * foot_shadow * ledge * near_dark)[None]
                snow_m = None
            else:
                brk = noise.fbm(Xc * 9.0, Yc * 9.0, octaves=4, seed=lseed + 3)
                # snow gathers on high ground and on the spurs, breaks up in noisy patches, slides off steep faces
                sn = altitude + 0.3 * (F - 0.5) + 0.45 * brk - 0.08 * gx.abs().clamp(max=3.0)
                sl = float(p["snowline"])
                snow_m = _smoothstep(sl - 0.03, sl + 0.03, sn)
                tex = 0.9 + 0.2 * brk
                rock_c = rock * (shade * ao * top_light * tex * near_dark)[None]
                snow_shadow = snow * torch.tensor([0.55, 0.66, 0.85], device=dev).view(3, 1, 1)
                snow_c = snow_shadow + (snow - snow_shadow) * ((shade - 0.1) / 0.9).clamp(0, 1)[None]
                col = rock_c + (snow_c - rock_c) * snow_m[None]
            col = _upsample(col, band_h, w)
            # atmospheric perspective: far layers towards the haze colour, mist at the foot
            fog = haze_amt * 0.95 * (1.0 - dk) ** 1.5
            yb = Yfull[r0:]
            above = base - yb
            foot = torch.where(above > 0, (-above / (0.06 + 0.04 * dk)).exp(), (above / 0.04).exp())
            mist = (mist_amt * (0.3 if canyon else 1.0) * (1.0 - 0.5 * dk) * foot * mist_field[r0:]).clamp(0.0, 1.0)
            fog_total = 1.0 - (1.0 - fog) * (1.0 - mist)
            col = col + (haze_c - col) * fog_total[None]
            a = cov[r0:][None]
            img[:, r0:] = img[:, r0:] + (col - img[:, r0:]) * a
            if layer_map is not None:
                layer_map[r0:][cov[r0:] > 0.5] = k
        if want_layers:
            return img, layer_map
        return img

    def layer_map(self, frame: int):
        """Which layer (0 far .. layers-1 near, -1 sky) is in front at each pixel of a frame."""
        p = {name: v[0] for name, v in self.frame_values([frame]).items()}
        return self.draw(frame / float(self.video.fps), p, want_layers=True)[1]


# ------------------------------------------------------------------------------------ stars

# star colours by temperature, cool (orange) to hot (blue), linear-ish
_STAR_COLORS = ((1.0, 0.62, 0.36), (1.0, 0.80, 0.60), (1.0, 0.93, 0.85), (0.93, 0.95, 1.0), (0.74, 0.82, 1.0))

# (cell size in frame heights, probability a cell holds a star, peak brightness, sigma in px at 1080p, halo)
_STAR_LAYERS = ((1 / 230, 0.11, 0.3, 0.55, 0.0), (1 / 80, 0.2, 1.0, 0.8, 0.0), (1 / 26, 0.14, 3.0, 1.1, 1.0))


def draw_stars(img, t, p, seed, frame_h, frame_w, dim=None, boost=None):
    """Add stars into ``img`` (3, h, w) in place: hashed per cell, twinkling, optionally drifting.

    ``boost(x, y)`` (screen positions in frame heights) multiplies the chance of a star per cell;
    ``dim`` (h, w) scales star brightness where they sit (dust in front of them).
    """
    torch = _torch()
    from vfx import noise
    dev = img.device
    h, w = frame_h, frame_w
    density = float(p["density"])
    bright = float(p["brightness"])
    if density <= 0 or bright <= 0:
        return img
    size = float(p["star_size"])
    tw = float(p["twinkle"])
    tw_speed = float(p["twinkle_speed"])
    colvar = float(p["color_variation"])
    drift = p["drift"]
    ox, oy = float(drift[0]) * t, float(drift[1]) * t
    colors = torch.tensor(_STAR_COLORS, device=dev, dtype=torch.float32)
    flat = img.view(3, -1)
    for li, (cell, prob, peak, sigma0, halo) in enumerate(_STAR_LAYERS):
        lx, ly = ox * (0.6 + 0.4 * li), oy * (0.6 + 0.4 * li)   # brighter (nearer) layers drift faster
        x0, x1 = math.floor(lx / cell) - 1, math.floor((lx + w / h) / cell) + 1
        y0, y1 = math.floor(ly / cell) - 1, math.floor((ly + 1.0) / cell) + 1
        iy, ix = torch.meshgrid(torch.arange(y0, y1 + 1, device=dev), torch.arange(x0, x1 + 1, device=dev),
                                indexing="ij")
        ix, iy = ix.reshape(-1), iy.reshape(-1)
        lseed = seed + 7919 * li
        h0 = noise.hash_int(ix, iy, seed=lseed)
        u = [(h0 >> 8).float() / 16777216.0]
        hh = h0
        for _ in range(6):
            hh = noise.hash_int(hh, seed=lseed + 1)
            u.append((hh >> 8).float() / 16777216.0)
        if boost is not None:
            chance = (prob * density) * boost((ix.float() + 0.5) * cell - lx, (iy.float() + 0.5) * cell - ly)
            keep = u[0] < chance.clamp(max=1.0)
        else:
            keep = u[0] < min(1.0, prob * density)
        if not bool(keep.any()):
            continue
        ix, iy = ix[keep], iy[keep]
        u = [v[keep] for v in u]
        sxw = (ix.float() + u[1]) * cell - lx                 # screen position, frame heights
        syw = (iy.float() + u[2]) * cell - ly
        mag = u[3] ** 3.0                                     # many faint stars, few bright ones
        b = peak * bright * (0.15 + 0.85 * mag)
        if tw > 0:
            phase = u[4] * (2 * math.pi)
            rate = (0.6 + 1.8 * u[5]) * tw_speed
            wave = 0.6 * torch.sin(2 * math.pi * rate * t + phase) + 0.4 * torch.sin(
                2 * math.pi * rate * 2.37 * t + 1.7 * phase)
            b = b * (1.0 + tw * wave).clamp(min=0.0)
        ci = u[6] * (len(_STAR_COLORS) - 1)
        c0 = ci.floor().long().clamp(max=len(_STAR_COLORS) - 2)
        cf = (ci - c0.float()).view(-1, 1)
        col = colors[c0] + (colors[c0 + 1] - colors[c0]) * cf
        col = 1.0 + (col - 1.0) * colvar
        if dim is not None:
            gx = (sxw * h).long().clamp(0, w - 1)
            gy = (syw * h).long().clamp(0, h - 1)
            b = b * dim.view(-1)[gy * w + gx]
        # gaussian sprite, at least half a pixel wide; brightness scaled to keep each star's flux
        sig_nom = sigma0 * size * (0.7 + 0.6 * mag) * h / 1080.0
        sig = sig_nom.clamp(min=0.5)
        b = b * (sig_nom / sig) ** 2
        rad = int(math.ceil(3.0 * float(sig.max()) + (4.0 * size * h / 1080.0 if halo else 0)))
        rad = max(1, min(rad, 40))
        px, py = sxw * h - 0.5, syw * h - 0.5               # pixel-centre coordinates
        cx, cy = px.round().long(), py.round().long()
        offs = torch.arange(-rad, rad + 1, device=dev)
        oyy, oxx = torch.meshgrid(offs, offs, indexing="ij")
        gx = cx.view(-1, 1) + oxx.reshape(1, -1)
        gy = cy.view(-1, 1) + oyy.reshape(1, -1)
        d2 = (gx.float() - px.view(-1, 1)) ** 2 + (gy.float() - py.view(-1, 1)) ** 2
        s2 = (sig * sig).view(-1, 1)
        val = (-d2 / (2 * s2)).exp()
        if halo:
            hs = (sig * 4.0 * size).view(-1, 1)
            window = (1.0 - d2.sqrt() / rad).clamp(min=0.0) ** 2        # falls to 0 inside the sprite
            val = val + 0.08 * (-d2.sqrt() / hs).exp() * window * (mag.view(-1, 1) ** 0.5)
        val = val * b.view(-1, 1)
        inside = (gx >= 0) & (gx < w) & (gy >= 0) & (gy < h) & (val > 1e-5)
        lin = (gy * w + gx)[inside]
        v = val[inside]
        cc = col.view(-1, 1, 3).expand(-1, val.shape[1], 3)[inside]
        # bincount sums in a fixed order on the CPU (index_put_ with accumulate does not when threaded)
        idx = torch.cat([lin + c * (h * w) for c in range(3)])
        wts = torch.cat([v * cc[:, c] for c in range(3)])
        flat += torch.bincount(idx, weights=wts, minlength=3 * h * w).view(3, -1).to(flat.dtype)
    return img


class _StarOptions(vfx.Options):
    density = opt.Float(1.0, min=0.0, max=4.0, doc="how many stars (1: a clear dark-sky night)")
    brightness = opt.Float(1.0, min=0.0, max=10.0, doc="star brightness")
    star_size = opt.Float(1.0, min=0.1, max=8.0, doc="star size (1: pin-sharp points, a soft glow on the brightest)")
    twinkle = opt.Float(0.35, min=0.0, max=1.0, doc="twinkle depth (0: steady)")
    twinkle_speed = opt.Float(1.0, min=0.0, max=20.0, doc="twinkle rate, about cycles per second")
    color_variation = opt.Float(1.0, min=0.0, max=1.0, doc="0: white stars; 1: red to blue by temperature")
    drift = opt.Vec([0.0, 0.0], doc="[x, y] drift of the stars in frame heights per second (near stars faster)")


class Starfield(_Backdrop):
    """A night sky of stars: faint, mid and bright layers hashed per cell, twinkling, optionally drifting.

    Each star has its own position, magnitude (many faint, few bright), colour temperature and
    twinkle phase from a hash of its cell, so the field is the same in every frame and any frame
    renders alone. Bright stars carry a soft halo. ``drift`` pans the field (a slow parallax).
    """

    type = "background.starfield"

    class Options(_Backdrop.Options, _StarOptions):
        background = opt.Color("#020309", doc="colour of the sky between the stars")
        glow = opt.Float(0.5, min=0.0, max=2.0, doc="faint gradient of airglow at the bottom of the frame")
        glow_color = opt.Color("#10203a", doc="airglow colour")
        milky_way = opt.Float(0.6, min=0.0, max=4.0,
                              doc="brightness of a Milky Way band: diffuse glow, a dark rift, more stars (0: none)")
        milky_way_angle = opt.Float(28.0, doc="tilt of the band in degrees (0: horizontal)")
        milky_way_color = opt.Color("#d9ccb8", doc="colour of the band's glow")

    def _band(self, p, aspect):
        """The Milky Way's profile: a function of screen (x, y) in frame heights, 0..1."""
        from vfx import noise
        ang = math.radians(float(p["milky_way_angle"]))
        ca, sa = math.cos(ang), math.sin(ang)
        cx, cy = aspect * 0.5, 0.5
        seed = _seed(self, "milky_way")

        def band(x, y):
            along = (x - cx) * ca + (y - cy) * sa
            across = -(x - cx) * sa + (y - cy) * ca
            width = 0.2 * (1.0 + 0.35 * noise.perlin(along * 1.3, 0.0 * along + 0.5, seed=seed))
            across = across + 0.05 * noise.perlin(along * 2.1, 0.0 * along + 2.5, seed=seed)
            return (-(across / width) ** 2).exp(), along, across
        return band

    def draw(self, t, p):
        torch = _torch()
        from vfx import noise
        dev = self.device
        h, w = self.video.height, self.video.width
        _, Y = _grid(h, w, h, w, dev)
        bg = _lin(p["background"], dev)
        glow = _lin(p["glow_color"], dev) * float(p["glow"])
        img = (bg + glow * (Y ** 3)[None]).contiguous()
        mw = float(p["milky_way"])
        if mw <= 0:
            return draw_stars(img, t, p, _seed(self, "stars"), h, w)
        drift = p["drift"]
        band = self._band(p, w / h)
        ox, oy = float(drift[0]) * t, float(drift[1]) * t      # the band rides with the mid star layer
        ch, cw = _coarse_size(h, w, 270)
        Xc, Yc = _grid(ch, cw, h, w, dev)
        prof, along, across = band(Xc + ox, Yc + oy)
        seed = _seed(self, "milky_way")
        clouds = 0.5 + 0.9 * noise.fbm(along * 5.0, across * 9.0, octaves=5, seed=seed + 1)
        rift = (-((across + 0.02) / 0.035) ** 2).exp() * _smoothstep(-0.2, 0.3, noise.fbm(
            along * 3.0, across * 6.0, octaves=4, seed=seed + 2))
        light = prof * clouds.clamp(0.0, 1.5) * (1.0 - 0.85 * rift)
        fields = _upsample(torch.stack([light, rift * prof]), h, w)
        img = img + _lin(p["milky_way_color"], dev) * (0.065 * mw * fields[0])[None]
        dim = 1.0 - 0.7 * fields[1]

        def boost(x, y):
            return 1.0 + 2.5 * min(mw, 1.5) * band(x + ox, y + oy)[0]
        return draw_stars(img, t, p, _seed(self, "stars"), h, w, dim=dim, boost=boost)


class Nebula(_Backdrop):
    """Deep space: glowing gas clouds in two or three colours (domain-warped fBm and turbulence,
    added in linear light), dark dust lanes, and a starfield on top.

    The gas flows slowly (``speed``); stars behind dense dust are dimmed.
    """

    type = "background.nebula"

    class Options(_Backdrop.Options, _StarOptions):
        color_a = opt.Color("#2f6fe0", doc="first gas colour (large, soft clouds)")
        color_b = opt.Color("#d23c8a", doc="second gas colour (wispy turbulent filaments)")
        color_c = opt.Color("#ffa860", doc="third gas colour (bright cores); black for two colours")
        intensity = opt.Float(1.0, min=0.0, max=10.0, doc="gas brightness")
        scale = opt.Float(1.0, min=0.05, max=20.0, doc="size of the clouds (2: twice as big)")
        speed = opt.Float(0.02, min=0.0, max=5.0, doc="how fast the gas flows and churns")
        dust = opt.Float(0.6, min=0.0, max=1.0, doc="darkness of the dust lanes")
        background = opt.Color("#020208", doc="colour of empty space")

    def draw(self, t, p):
        torch = _torch()
        from vfx import noise
        dev = self.device
        h, w = self.video.height, self.video.width
        ch, cw = _coarse_size(h, w, 360)
        X, Y = _grid(ch, cw, h, w, dev)
        s = 1.1 / float(p["scale"])
        seed = _seed(self, "gas")
        sp = float(p["speed"]) * t
        px, py = X * s + 4.0, Y * s
        # domain warp: the warp field itself flows over time, so the gas swirls
        qx = noise.fbm(px * 1.3 + sp * 3.0, py * 1.3 - sp * 1.3, octaves=4, seed=seed)
        qy = noise.fbm(px * 1.3 + 5.2 - sp * 2.1, py * 1.3 + 1.3 + sp * 2.0, octaves=4, seed=seed + 1)
        wx, wy = px + 0.9 * qx, py + 0.9 * qy
        # where the nebula lives: a few large patches, empty space between
        env = _smoothstep(-0.3, 0.35, noise.fbm(px * 0.5 + 0.8 * qx, py * 0.5 + 0.8 * qy, octaves=4,
                                                 seed=seed + 6)) ** 1.5
        a = noise.fbm(wx, wy, octaves=6, seed=seed + 2)
        b = noise.turbulence(wx * 1.5 + sp, wy * 1.5 - 4.1, octaves=5, seed=seed + 3)
        c = noise.fbm(wx * 0.9 - 3.3, wy * 0.9 + 2.2, octaves=5, seed=seed + 4)
        dust = noise.ridged(wx * 2.2 + 8.0, wy * 2.2 - 2.0, octaves=5, seed=seed + 5)
        da = (_smoothstep(-0.25, 0.45, a) ** 2) * env
        db = ((1.0 - b).clamp(0.0, 1.0) ** 9) * _smoothstep(-0.2, 0.35, a) * env
        dc = (_smoothstep(0.05, 0.5, c) ** 3) * _smoothstep(-0.05, 0.35, a) * env
        lanes = _smoothstep(0.5, 0.9, dust) * _smoothstep(0.05, 0.4, env) * float(p["dust"])
        fields = _upsample(torch.stack([da, db, dc, lanes, env]), h, w)
        da, db, dc, lanes, env = fields
        inten = float(p["intensity"])
        ca, cb, cc = (_lin(p[n], dev) for n in ("color_a", "color_b", "color_c"))
        gas = (ca * da[None] * 0.45 + cb * db[None] * 0.8 + cc * dc[None] * 0.7 + ca * env[None] * 0.025) * inten
        absorb = (1.0 - 0.92 * lanes)[None]
        img = (_lin(p["background"], dev) + gas) * absorb
        img = img.contiguous()
        return draw_stars(img, t, p, _seed(self, "stars"), h, w, dim=(1.0 - 0.85 * lanes))


# ------------------------------------------------------------------------------------ noise

class Noise(_Backdrop):
    """A noise pattern as a picture: Perlin, simplex, Worley (cellular), fBm or turbulence.

    The noise value ``v`` (0..1 after mapping: ``0.5 + 0.5 n`` for signed noise, as is for Worley and
    turbulence) is stretched by ``contrast`` about 0.5 and maps ``color_a`` (0) to ``color_b`` (1),
    blended in sRGB so that 0.5 reads as mid-grey. ``speed`` evolves it over time through the
    noise's third coordinate; ``offset`` pans it.
    """

    type = "background.noise"

    class Options(_Backdrop.Options):
        basis = opt.Choice("fbm", choices=("perlin", "simplex", "worley", "fbm", "turbulence", "ridged"),
                           doc="the noise")
        fractal_basis = opt.Choice("perlin", choices=("perlin", "simplex", "worley"),
                                   doc="the noise fbm/turbulence/ridged sum up")
        scale = opt.Float(4.0, min=0.01, max=1000.0, doc="features per frame height")
        octaves = opt.Int(5, min=1, max=12, animate=False, doc="octaves of fbm/turbulence/ridged")
        lacunarity = opt.Float(2.0, min=1.01, max=4.0, animate=False, doc="frequency step between octaves")
        gain = opt.Float(0.5, min=0.05, max=1.0, animate=False, doc="amplitude step between octaves")
        speed = opt.Float(0.25, min=0.0, max=100.0, doc="evolution in noise units per second (0: still)")
        offset = opt.Vec([0.0, 0.0], doc="pan [x, y] in frame heights")
        contrast = opt.Float(1.0, min=0.0, max=20.0, doc="stretch about the middle (1: as is)")
        color_a = opt.Color("black", doc="colour at 0")
        color_b = opt.Color("white", doc="colour at 1")

    def draw(self, t, p):
        torch = _torch()
        from vfx import noise
        dev = self.device
        h, w = self.video.height, self.video.width
        X, Y = _grid(h, w, h, w, dev)
        s = float(p["scale"])
        x = (X + float(p["offset"][0])) * s
        y = (Y + float(p["offset"][1])) * s
        speed = float(p["speed"])
        z = speed * t if speed > 0 else None
        seed = _seed(self, "noise")
        o = self.options
        if o.basis in ("perlin", "simplex"):
            v = 0.5 + 0.5 * getattr(noise, o.basis)(x, y, z, seed=seed)
        elif o.basis == "worley":
            v = noise.worley(x, y, z, seed=seed)
        else:
            kw = dict(octaves=o.octaves, lacunarity=float(o.lacunarity), gain=float(o.gain), seed=seed,
                      basis=o.fractal_basis)
            if o.basis == "fbm":
                v = 0.5 + 0.5 * noise.fbm(x, y, z, **kw)
            elif o.basis == "turbulence":
                v = noise.turbulence(x, y, z, **kw)
            else:
                v = noise.ridged(x, y, z, **kw)
        v = (0.5 + (v - 0.5) * float(p["contrast"])).clamp(0.0, 1.0)
        a = torch.tensor(np.asarray(p["color_a"][:3], np.float32), device=dev).view(3, 1, 1)
        b = torch.tensor(np.asarray(p["color_b"][:3], np.float32), device=dev).view(3, 1, 1)
        srgb = a + (b - a) * v[None]
        return torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


@vfx.hookimpl
def register_nodes(register):
    for cls in (Sky, Mountains, Starfield, Nebula, Noise):
        register(cls)
