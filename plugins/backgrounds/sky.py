"""``source.sky`` and ``source.mountains`` (which draws its sky with ``draw_sky``)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

import vfx
from vfx import ConfigureError, opt
from vfx.ops import backend, filters, resample
from vfx.ops.color import hex_to_rgb
from vfx.ops.curves import smoothstep

from ._common import _Backdrop, _coarse_size, _grid, _lin, _seed, _torch, _upsample


class _SkyOptions(vfx.Options):
    zenith = opt.Color("#2b5c9c", doc="sky colour at the top of the frame")
    horizon = opt.Color("#c4d8ea", doc="sky colour at the horizon line")
    horizon_line = opt.Float(1.0, min=0.05, max=1.5, doc="y of the horizon (0 top, 1 bottom of the frame)")
    falloff = opt.Float(
        1.6,
        min=0.2,
        max=6.0,
        doc="gradient curve: higher keeps the zenith colour lower and brightens only near the horizon",
    )
    sun_position = opt.Vec([0.72, 0.28], doc="sun centre [x, y], normalized (it may lie outside the frame)")
    sun_size = opt.Float(0.035, min=0.0, max=0.5, doc="sun disc radius in frame heights (0: no disc)")
    sun_glow = opt.Float(0.6, min=0.0, max=4.0, doc="strength of the halo and of the sky brightening around the sun")
    sun_color = opt.Color("#fff0d2", doc="colour of the sun and its glow")
    sun_intensity = opt.Float(
        1.5, min=0.0, max=50.0, doc="disc brightness in linear light (the output is clipped to 0..1)"
    )
    clouds = opt.Float(0.45, min=0.0, max=1.0, doc="cloud coverage: the share of the sky they hide (0: none)")
    cloud_softness = opt.Float(0.5, min=0.02, max=2.0, doc="how soft and wispy cloud edges are")
    cloud_scale = opt.Float(1.0, min=0.05, max=20.0, doc="cloud size (2: twice as big)")
    cloud_color = opt.Color("#ffffff", doc="sunlit cloud colour")
    cloud_shadow = opt.Color("#8390aa", doc="colour of cloud undersides and of the side away from the sun")
    wind_speed = opt.Float(0.05, min=0.0, max=10.0, doc="cloud drift in cloud-layer units per second")
    wind_direction = opt.Float(20.0, doc="drift direction in degrees: 0 to the right, 90 towards the horizon")
    cloud_evolution = opt.Float(
        0.6, min=0.0, max=10.0, doc="how much cloud shapes churn while drifting (small scales drift faster)"
    )
    perspective = opt.Float(
        1.0, min=0.0, max=1.0, doc="1: clouds on a plane receding to the horizon; 0: flat, screen-aligned"
    )
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
    disc = smoothstep(size + edge * 0.5, size - edge * 0.5, d)
    # limb darkening: the rim is dimmer and warmer than the centre
    r = (d / size).clamp(max=1.0)
    limb = 1.0 - 0.35 * (1.0 - (1.0 - r * r).clamp(min=0.0).sqrt())
    return disc * limb * float(q["sun_intensity"])


_FBM_SIGMA = 0.155  # standard deviation of the 6-octave, gain-0.5 Perlin fBm used for clouds (measured)


def _cloud_density(X, Y, t, q, seed, aspect, frame_h_px):
    """Cloud density 0..1 and raw thickness on the (coarse) grid X, Y (frame heights)."""
    torch = _torch()
    from vfx.ops import noise

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
        n = noise.perlin((u + wx * drift) * f + 13.1 * o, (v + wz * drift) * f - 7.3 * o, seed=seed + o)
        total += amp * weight * n
        norm += amp
        amp *= 0.5
        freq *= 2.03
    n = total / norm
    cover = float(q["clouds"])
    thr = _FBM_SIGMA * NormalDist().inv_cdf(min(max(1.0 - cover, 1e-4), 1 - 1e-4))
    soft = _FBM_SIGMA * (0.15 + 0.9 * float(q["cloud_softness"]))
    dens = smoothstep(thr - 0.35 * soft, thr + soft, n)
    thick = ((n - thr) / (4.0 * _FBM_SIGMA)).clamp(0.0, 1.0)
    # clouds thin out into the haze at the horizon
    fade = smoothstep(0.0, 0.07, elev) if persp > 0 else torch.ones_like(elev)
    return dens * fade, thick


def _shift_toward(field, dirx, diry, dist_px):
    """``field`` (h, w) sampled ``dist_px`` grid samples along the per-sample unit direction."""
    torch = _torch()
    h, w = field.shape
    gy, gx = torch.meshgrid(
        torch.arange(h, device=field.device, dtype=field.dtype),
        torch.arange(w, device=field.device, dtype=field.dtype),
        indexing="ij",
    )
    where = torch.stack([gx + dirx * dist_px, gy + diry * dist_px], -1)[None]
    return resample.remap_planes(field[None, :, :, None].contiguous(), where)[0, :, :, 0]


def draw_sky(h, w, t, p, seed, device, with_clouds=True):
    """The sky picture (3, h, w) in linear light: gradient, sun, clouds, haze.

    The clouds' shading is worked out on a coarse grid (``_cloud_fields``); the full-resolution
    picture is one pass of ``_sky_kernel`` on a CPU, torch operations elsewhere.
    """
    q = _sky_params(p, device)
    fields = _cloud_fields(h, w, t, q, seed, device) if with_clouds and float(q["clouds"]) > 0 else None
    if backend.allows("numba", device):
        return _compose_kernel(h, w, q, fields)
    return _compose_torch(h, w, q, fields, device)


def _cloud_fields(h, w, t, q, seed, device):
    """Cloud density, sun and sky transmittance and forward scattering (4, h, w), from a coarse grid."""
    torch = _torch()
    aspect = w / h
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
    sun_t = 0.65 * (-od).exp() + 0.35 * (-0.25 * od).exp()  # single + multiple scattering
    sky_t = (-0.35 * od_sky).exp()
    size = max(float(q["sun_size"]), 0.004)
    near = (-sd / (0.12 + size * 3)).exp()  # forward scattering near the sun
    return _upsample(torch.stack([dens, sun_t, sky_t, near]), h, w)


def _compose_kernel(h, w, q, fields):
    """``_compose_torch`` as one pass of ``_sky_kernel.sky_frame``."""
    torch = _torch()
    from . import _sky_kernel as K

    def rgb(name):
        return q[name].view(3).numpy()

    params = K.PARAMS.pack(
        1,
        zenith=rgb("zenith"),
        horizon=rgb("horizon"),
        horizon_line=float(q["horizon_line"]),
        falloff=float(q["falloff"]),
        sun=(float(q["sun_position"][0]) * w / h, float(q["sun_position"][1])),
        sun_size=float(q["sun_size"]),
        glow=float(q["sun_glow"]),
        sun_color=rgb("sun_color"),
        sun_intensity=float(q["sun_intensity"]),
        cloud_shadow=rgb("cloud_shadow"),
        cloud_light=rgb("cloud_color"),
        perspective=float(q["perspective"]),
        haze=max(float(q["haze"]), 0.0),
        haze_color=rgb("haze_color"),
    )[0]
    out = torch.empty((3, h, w), dtype=torch.float32)
    clouds = np.zeros((4, 1, 1), np.float32) if fields is None else fields.contiguous().numpy()
    K.sky_frame(out.numpy(), clouds, params, fields is not None)
    return out


def _compose_torch(h, w, q, fields, device):
    """The full-resolution picture from the sky's values and the upsampled cloud ``fields`` (or None)."""
    torch = _torch()
    aspect = w / h
    X, Y = _grid(h, w, h, w, device)
    sky = sky_gradient(Y, q)
    dx, dy, d = _sun_geometry(X, Y, q, aspect)
    sky = sky + _sun_glow(d, Y, q) * 0.55
    disc = _sun_disc(d, q, h)
    if disc is not None:
        sky = sky + q["sun_color"] * disc
    horizon = float(q["horizon_line"])
    if fields is not None:
        dens, sun_t, sky_t, near = fields
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
        "zenith": "#4f77a6",
        "horizon": "#d3dde6",
        "haze_color": "#c3d0dd",
        "rock_color": "#465466",
        "snow_color": "#f4f7fb",
        "clouds": 0.35,
        "haze": 0.55,
        "sun_color": "#fff4e0",
        "sun_position": (0.24, 0.2),
        "strata": ("#4c5563",),
    },
    "canyon": {
        "zenith": "#5d8cc0",
        "horizon": "#f1c99c",
        "haze_color": "#e2b489",
        "rock_color": "#a4522b",
        "snow_color": "#f4f7fb",
        "clouds": 0.12,
        "haze": 0.3,
        "sun_color": "#ffe2b0",
        "sun_position": (0.8, 0.22),
        "strata": ("#9a3d1a", "#b5562a", "#c46a34", "#a4471f", "#cf8049", "#ad5a2c", "#8a3617", "#bf6c3a"),
    },
}


def _ridge_line(X, layer_seed, freq, octaves, terrace, roughness):
    """The ridge profile R(x) in 0..1 (1D: X is (w,)), and its 2-D seed slice position."""
    from vfx.ops import noise

    r = noise.ridged(X * freq, 0.0 * X + 3.7, seed=layer_seed, octaves=octaves, gain=roughness)
    return _shape_ridge(r, terrace)


def _shape_ridge(r, terrace):
    torch = _torch()
    r = ((r - 0.15) / 0.8).clamp(0.0, 1.0)
    if terrace > 0:
        steps = 4.0
        q = r * steps
        f = q - torch.floor(q)
        stepped = (torch.floor(q) + smoothstep(0.55, 0.92, f)) / steps
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
        haze = opt.Float(
            None,
            min=0.0,
            max=1.0,
            doc="atmospheric perspective: how much distant layers fade (default: the look's, 0.55 or 0.3)",
        )
        mist = opt.Float(0.35, min=0.0, max=1.0, doc="drifting mist at the foot of each layer")
        mist_speed = opt.Float(0.03, min=0.0, max=5.0, doc="mist drift in frame heights per second")
        light = opt.Float(
            None,
            min=-1.0,
            max=1.0,
            doc="light across the faces: -1 from the left, 1 from the right (default: from the sun's side)",
        )
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
            raise ConfigureError(
                "the peaks would rise more than half a frame above the top "
                f"(horizon {o.horizon} - height {o.height}); lower height",
                option="height",
            )

    def _look(self, p, name, key=None):
        v = p.get(name)
        if v is not None:
            return v
        v = _LOOKS[self.options.look][key or name]
        return hex_to_rgb(v) if isinstance(v, str) else v

    def _sky_p(self, p):
        look = _LOOKS[self.options.look]
        sky = _SkyOptions.defaults()
        sky.update(
            {
                "zenith": self._look(p, "zenith"),
                "horizon": hex_to_rgb(look["horizon"]) if p.get("horizon_color") is None else p["horizon_color"],
                "haze_color": hex_to_rgb(look["haze_color"]) if p.get("haze_color") is None else p["haze_color"],
                "sun_color": hex_to_rgb(look["sun_color"]),
                "sun_position": look["sun_position"] if p.get("sun_position") is None else p["sun_position"],
                "sun_size": p["sun_size"],
                "sun_glow": p["sun_glow"],
                "clouds": look["clouds"] if p.get("clouds") is None else float(p["clouds"]),
                "wind_speed": p["wind_speed"],
                "horizon_line": float(p["horizon"]) + 0.05,
                "falloff": 1.4,
                "haze": 0.5,
                "cloud_scale": 1.0,
                "perspective": 1.0,
            }
        )
        return sky

    def draw(self, t, p, want_layers=False):
        torch = _torch()
        from vfx.ops import noise

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
        strata = torch.stack([_lin(hex_to_rgb(c), dev) for c in _LOOKS[look]["strata"]])  # (S, 3, 1, 1)
        L = self.options.layers
        horizon, height = float(p["horizon"]), float(p["height"])
        scale, rough = float(p["scale"]), float(p["roughness"])
        if p.get("light") is not None:
            light = float(p["light"])
        else:
            light = max(-1.0, min(1.0, (float(skyp["sun_position"][0]) - 0.5) * 2.5))
        haze_amt, mist_amt = float(self._look(p, "haze")), float(p["mist"])
        base_seed = _seed(self, "ridges")

        X1 = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / h  # (w,)
        Yfull = ((torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / h).view(h, 1)

        # drifting mist, one coarse field for all layers
        mh, mw = _coarse_size(h, w, 270)
        Xm, Ym = _grid(mh, mw, h, w, dev)
        drift = float(p["mist_speed"]) * t
        mist_field = noise.fbm((Xm + drift) * 2.2, Ym * 7.0, 0.15 * t, octaves=4, seed=_seed(self, "mist"))
        mist_field = _upsample((0.55 + 1.4 * mist_field).clamp(0.0, 1.5)[None], h, w)[0]

        layer_map = torch.full((h, w), -1, dtype=torch.int64, device=dev) if want_layers else None
        fast = not want_layers and backend.allows("numba", dev)  # each range in one pass of _mountains_kernel
        if fast:
            from . import _mountains_kernel as K

            img = img.contiguous()
            mist_np = mist_field.contiguous().numpy()
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
            ridge_y = base - amp * R  # (w,) screen y of the crest
            if fast:  # the rows the range covers: those below its highest point
                rows = torch.nonzero(((Yfull[:, 0] - ridge_y.min()) * h + 0.5).clamp(0.0, 1.0) > 0)
            else:  # coverage with a one-pixel antialiased edge
                cov = ((Yfull - ridge_y.view(1, w)) * h + 0.5).clamp(0.0, 1.0)  # (h, w)
                rows = torch.nonzero(cov.amax(1) > 0)
            if len(rows) == 0:
                continue
            r0 = int(rows[0])
            # the face: the ridge fractal continued below the crest, evaluated on a coarse band
            band_h = h - r0
            ch, cw = _coarse_size(band_h, w, max(8, int(540 * band_h / h)))
            Xc, Yc = _grid(ch, cw, band_h, w, dev)
            Yc = Yc * (band_h / h) + r0 / h  # frame heights
            Xc = Xc * (band_h / h) + xoff
            # depth below a smoothed crest (a jagged reference would tear the face into columns)
            Xs = (torch.arange(cw, device=dev, dtype=torch.float32) + 0.5) * (w / cw / h) + xoff
            ref = _ridge_line(Xs, lseed, freq, 3, terr, rough).view(1, 1, 1, cw)
            radius = max(3, int(cw * 0.03) | 1) // 2
            for _ in range(2):
                ref = filters.box_blur(ref, radius)
            ridge_c = (base - amp * ref).view(1, cw)
            depth = ((Yc - ridge_c) / max(amp, 1e-3)).clamp(min=0.0)
            if canyon:  # smooth, rounded buttresses (ridged creases read as cracks on sandstone)
                F = 0.5 + 0.8 * noise.fbm(Xc * freq * 1.5, 3.7 + depth * 0.35, seed=lseed, octaves=3)
            else:
                F = noise.ridged(Xc * freq, 3.7 + depth * 0.9, seed=lseed, octaves=6, gain=rough)
            # horizontal slope of the face (per frame height) -> lit or shadowed side
            gx = torch.zeros_like(F)
            gx[:, 1:-1] = (F[:, 2:] - F[:, :-2]) * (cw / (2.0 * aspect * freq))
            shade = 0.56 - 0.44 * torch.tanh(0.35 * gx * light)
            ao = (0.72 + 0.28 * F) if canyon else (0.55 + 0.45 * F)
            near_dark = 1.0 - 0.3 * dk  # near layers: darker, more contrast
            altitude = (base - Yc) / max(amp, 1e-3)  # 0 at the foot, ~1 at peaks
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
                col = c1 + (c2 - c1) * smoothstep(0.9, 1.0, bf)[None]
                # each band: a lit ledge on top, a cliff below darkening towards its foot
                ledge = 1.05 - 0.3 * smoothstep(0.08, 1.0, bf) + 0.2 * smoothstep(0.1, 0.0, bf)
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
                snow_m = smoothstep(sl - 0.03, sl + 0.03, sn)
                tex = 0.9 + 0.2 * brk
                rock_c = rock * (shade * ao * top_light * tex * near_dark)[None]
                snow_shadow = snow * torch.tensor([0.55, 0.66, 0.85], device=dev).view(3, 1, 1)
                snow_c = snow_shadow + (snow - snow_shadow) * ((shade - 0.1) / 0.9).clamp(0, 1)[None]
                col = rock_c + (snow_c - rock_c) * snow_m[None]
            col = _upsample(col, band_h, w)
            # atmospheric perspective: far layers towards the haze colour, mist at the foot
            fog = haze_amt * 0.95 * (1.0 - dk) ** 1.5
            mist_strength = mist_amt * (0.3 if canyon else 1.0) * (1.0 - 0.5 * dk)
            if fast:
                params = K.PARAMS.pack(
                    1, base=base, fog=fog, mist=mist_strength, foot=0.06 + 0.04 * dk, haze_color=haze_c.view(3).numpy()
                )[0]
                K.layer_over(img.numpy(), col.contiguous().numpy(), ridge_y.contiguous().numpy(), mist_np, r0, params)
                continue
            yb = Yfull[r0:]
            above = base - yb
            foot = torch.where(above > 0, (-above / (0.06 + 0.04 * dk)).exp(), (above / 0.04).exp())
            mist = (mist_strength * foot * mist_field[r0:]).clamp(0.0, 1.0)
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
        p = {name: v[0] for name, v in self.values_for([frame]).items()}
        return self.draw(frame / float(self.video.fps), p, want_layers=True)[1]
