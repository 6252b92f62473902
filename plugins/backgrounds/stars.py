"""``source.starfield`` and ``source.nebula`` (which draws its stars with ``draw_stars``)."""

from __future__ import annotations

import math

import vfx
from vfx import opt
from vfx.ops.curves import smoothstep

from ._common import _Backdrop, _coarse_size, _grid, _lin, _seed, _torch, _upsample


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
    from vfx.ops import noise

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
        lx, ly = ox * (0.6 + 0.4 * li), oy * (0.6 + 0.4 * li)  # brighter (nearer) layers drift faster
        x0, x1 = math.floor(lx / cell) - 1, math.floor((lx + w / h) / cell) + 1
        y0, y1 = math.floor(ly / cell) - 1, math.floor((ly + 1.0) / cell) + 1
        iy, ix = torch.meshgrid(
            torch.arange(y0, y1 + 1, device=dev), torch.arange(x0, x1 + 1, device=dev), indexing="ij"
        )
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
        sxw = (ix.float() + u[1]) * cell - lx  # screen position, frame heights
        syw = (iy.float() + u[2]) * cell - ly
        mag = u[3] ** 3.0  # many faint stars, few bright ones
        b = peak * bright * (0.15 + 0.85 * mag)
        if tw > 0:
            phase = u[4] * (2 * math.pi)
            rate = (0.6 + 1.8 * u[5]) * tw_speed
            wave = 0.6 * torch.sin(2 * math.pi * rate * t + phase) + 0.4 * torch.sin(
                2 * math.pi * rate * 2.37 * t + 1.7 * phase
            )
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
        px, py = sxw * h - 0.5, syw * h - 0.5  # pixel-centre coordinates
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
            window = (1.0 - d2.sqrt() / rad).clamp(min=0.0) ** 2  # falls to 0 inside the sprite
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
        milky_way = opt.Float(
            0.6, min=0.0, max=4.0, doc="brightness of a Milky Way band: diffuse glow, a dark rift, more stars (0: none)"
        )
        milky_way_angle = opt.Float(28.0, doc="tilt of the band in degrees (0: horizontal)")
        milky_way_color = opt.Color("#d9ccb8", doc="colour of the band's glow")

    def _band(self, p, aspect):
        """The Milky Way's profile: a function of screen (x, y) in frame heights, 0..1."""
        from vfx.ops import noise

        ang = math.radians(float(p["milky_way_angle"]))
        ca, sa = math.cos(ang), math.sin(ang)
        cx, cy = aspect * 0.5, 0.5
        seed = _seed(self, "milky_way")

        def band(x, y):
            along = (x - cx) * ca + (y - cy) * sa
            across = -(x - cx) * sa + (y - cy) * ca
            width = 0.2 * (1.0 + 0.35 * noise.perlin(along * 1.3, 0.0 * along + 0.5, seed=seed))
            across = across + 0.05 * noise.perlin(along * 2.1, 0.0 * along + 2.5, seed=seed)
            return (-((across / width) ** 2)).exp(), along, across

        return band

    def draw(self, t, p):
        torch = _torch()
        from vfx.ops import noise

        dev = self.device
        h, w = self.video.height, self.video.width
        _, Y = _grid(h, w, h, w, dev)
        bg = _lin(p["background"], dev)
        glow = _lin(p["glow_color"], dev) * float(p["glow"])
        img = (bg + glow * (Y**3)[None]).contiguous()
        mw = float(p["milky_way"])
        if mw <= 0:
            return draw_stars(img, t, p, _seed(self, "stars"), h, w)
        drift = p["drift"]
        band = self._band(p, w / h)
        ox, oy = float(drift[0]) * t, float(drift[1]) * t  # the band rides with the mid star layer
        ch, cw = _coarse_size(h, w, 270)
        Xc, Yc = _grid(ch, cw, h, w, dev)
        prof, along, across = band(Xc + ox, Yc + oy)
        seed = _seed(self, "milky_way")
        clouds = 0.5 + 0.9 * noise.fbm(along * 5.0, across * 9.0, octaves=5, seed=seed + 1)
        rift = (-(((across + 0.02) / 0.035) ** 2)).exp() * smoothstep(
            -0.2, 0.3, noise.fbm(along * 3.0, across * 6.0, octaves=4, seed=seed + 2)
        )
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
        from vfx.ops import noise

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
        env = (
            smoothstep(-0.3, 0.35, noise.fbm(px * 0.5 + 0.8 * qx, py * 0.5 + 0.8 * qy, octaves=4, seed=seed + 6)) ** 1.5
        )
        a = noise.fbm(wx, wy, octaves=6, seed=seed + 2)
        b = noise.turbulence(wx * 1.5 + sp, wy * 1.5 - 4.1, octaves=5, seed=seed + 3)
        c = noise.fbm(wx * 0.9 - 3.3, wy * 0.9 + 2.2, octaves=5, seed=seed + 4)
        dust = noise.ridged(wx * 2.2 + 8.0, wy * 2.2 - 2.0, octaves=5, seed=seed + 5)
        da = (smoothstep(-0.25, 0.45, a) ** 2) * env
        db = ((1.0 - b).clamp(0.0, 1.0) ** 9) * smoothstep(-0.2, 0.35, a) * env
        dc = (smoothstep(0.05, 0.5, c) ** 3) * smoothstep(-0.05, 0.35, a) * env
        lanes = smoothstep(0.5, 0.9, dust) * smoothstep(0.05, 0.4, env) * float(p["dust"])
        fields = _upsample(torch.stack([da, db, dc, lanes, env]), h, w)
        da, db, dc, lanes, env = fields
        inten = float(p["intensity"])
        ca, cb, cc = (_lin(p[n], dev) for n in ("color_a", "color_b", "color_c"))
        gas = (ca * da[None] * 0.45 + cb * db[None] * 0.8 + cc * dc[None] * 0.7 + ca * env[None] * 0.025) * inten
        absorb = (1.0 - 0.92 * lanes)[None]
        img = (_lin(p["background"], dev) + gas) * absorb
        img = img.contiguous()
        return draw_stars(img, t, p, _seed(self, "stars"), h, w, dim=(1.0 - 0.85 * lanes))
