"""The sky's CPU kernel: every full-resolution step of ``draw_sky`` in one pass (Numba).

The clouds' shading is computed on a coarse grid and upsampled (``vfx.ops.resample``) before it
gets here; this pass adds, per pixel, the zenith-to-horizon gradient, the sun's glow and disc,
the clouds over them with their aerial perspective, and the horizon haze. Formulas and order
are the torch path's (``sky.draw_sky``); the test suite checks that both give the same frames.
"""

from __future__ import annotations

import numpy as np

from vfx.ops.jit import ParamBlock, kernel
from vfx.ops.jit.fastmath import expf, f32, powf, smoothstep

#: one frame's values: colours linear RGB, positions and sizes in frame heights
PARAMS = ParamBlock(
    ("zenith", 3),
    ("horizon", 3),
    ("horizon_line", 1),
    ("falloff", 1),
    ("sun", 2),
    ("sun_size", 1),
    ("glow", 1),
    ("sun_color", 3),
    ("sun_intensity", 1),
    ("cloud_shadow", 3),
    ("cloud_light", 3),
    ("perspective", 1),
    ("haze", 1),
    ("haze_color", 3),
)
P = PARAMS.at


@kernel
def sky_frame(out, clouds, params, has_clouds):
    """Draw one frame into ``out`` (3, H, W) float32, linear light. ``clouds`` (4, H, W): the
    upsampled cloud density, sun and sky transmittance and forward scattering (unused without
    ``has_clouds``)."""
    h, w = out.shape[1], out.shape[2]
    inv_h = f32(1.0) / f32(h)
    line, falloff = params[P.horizon_line], params[P.falloff]
    sx, sy = params[P.sun], params[P.sun + 1]
    size = params[P.sun_size]
    glow_size = max(size, f32(0.004)) * f32(2.5)
    glow = params[P.glow]
    edge = max(f32(1.2) / f32(h), size * f32(0.04))
    disc_on = size > f32(0.0)
    inv_size = f32(1.0) / size if disc_on else f32(0.0)
    intensity = params[P.sun_intensity] if disc_on else f32(0.0)
    persp, haze = params[P.perspective], params[P.haze]
    # per pixel of a row, what every channel shares: the glow, the disc, the cloud terms
    halo = np.empty(w, np.float32)
    disc = np.empty(w, np.float32)
    dens = np.zeros(w, np.float32)
    ambient = np.zeros(w, np.float32)
    direct = np.zeros(w, np.float32)
    for y in range(h):
        yy = (f32(y) + f32(0.5)) * inv_h
        tt = powf(min(max(yy / line, f32(0.0)), f32(1.0)), falloff)
        elev = line - yy
        aerial = expf(-max(elev, f32(0.0)) / f32(0.2)) * persp * f32(0.75)
        band = (f32(1.0) if elev < f32(0.0) else expf(-max(elev, f32(0.0)) / f32(0.1))) * haze
        dy = yy - sy
        for x in range(w):
            dx = (f32(x) + f32(0.5)) * inv_h - sx
            d = np.sqrt(dx * dx + dy * dy)
            halo[x] = glow * (
                f32(0.9) * expf(-d / glow_size) + f32(0.45) * expf(-d / f32(0.22)) + f32(0.12) * expf(-d / f32(0.8))
            )
            r = min(d * inv_size, f32(1.0))
            limb = f32(1.0) - f32(0.35) * (f32(1.0) - np.sqrt(max(f32(1.0) - r * r, f32(0.0))))
            disc[x] = smoothstep(size + edge * f32(0.5), size - edge * f32(0.5), d) * limb * intensity
        if has_clouds:
            for x in range(w):
                dens[x] = clouds[0, y, x]
                ambient[x] = f32(0.55) + f32(0.45) * clouds[2, y, x]
                direct[x] = clouds[1, y, x] * (f32(0.85) + f32(1.6) * glow * clouds[3, y, x])
        for c in range(3):
            zen, hor = params[P.zenith + c], params[P.horizon + c]
            sun_c = params[P.sun_color + c]
            shadow, light = params[P.cloud_shadow + c], params[P.cloud_light + c] * sun_c
            haze_c = params[P.haze_color + c]
            base = zen + (hor - zen) * tt
            row = out[c, y]
            for x in range(w):
                g = sun_c * halo[x]
                v = base + g * f32(0.55)
                v = v + sun_c * disc[x]
                cc = shadow * ambient[x] + light * direct[x]
                cc = cc + (hor - cc) * aerial
                v = v + (cc - v) * dens[x]
                v = v + g * f32(0.3) * dens[x]
                row[x] = v + (haze_c - v) * band
