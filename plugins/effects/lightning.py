"""Built-in lightning: fractal bolts with branches, a white-hot core, a multi-scale glow, flicker and flash."""

from __future__ import annotations

import math

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, opt, timing
from vfx.ops import backend, filters, resample
from vfx.ops.color import LUMA
from vfx.ops.curves import rising_frames, smoothstep


class TimeList(opt.Option):
    """A list of times, each written like an ``opt.Time``: ``[12, "1.5s", "00:00:02:00"]``.

    Parses to a sorted list of distinct whole frames at the pipeline's frame rate.
    """

    type_name = "list of times"

    def parse(self, value, ctx):
        if not isinstance(value, list):
            raise ValueError(f'expected a list of times such as [12, "1.5s"], got {value!r}')
        frames = []
        for i, item in enumerate(value):
            try:
                frames.append(timing.to_frames(item, ctx.fps))
            except ValueError as exc:
                raise ValueError(f"entry {i + 1}: {exc}") from None
        return sorted(set(frames))


def _blur2d(img, sigma: float):
    """Gaussian blur of (N, H, W) frames, zero outside."""
    return filters.blur_planes(img.unsqueeze(-1), sigma, border="constant")[..., 0]


def _area(img, height: int, width: int):
    """Box-filtered shrink of (N, H, W) frames."""
    return resample.resize_planes(img.unsqueeze(-1), height, width, area=True)[..., 0]


def _bilinear(img, height: int, width: int):
    """Bilinear resize of (N, H, W) frames."""
    return resample.resize_planes(img.unsqueeze(-1), height, width)[..., 0]


# (sigma / glow_size, weight, grid cell in pixels) of each glow layer
_GLOW_SCALES = ((0.12, 0.5, 4), (0.35, 0.3, 8), (1.0, 0.2, 16))
_DETAIL = 0.006  # frame heights: midpoint displacement stops below this segment length
_MAX_SEGMENT = 5.0  # pixels: longer segments are split (straight) before rasterising


class Lightning(vfx.Effect):
    """Fractal lightning bolts over the plate: branching, a white-hot core, coloured glow, flicker, re-strikes, flash.

    **Shape.** A bolt runs from ``start`` to ``end`` (or, with ``region``, from a random point near
    the top edge of the region to one near its bottom edge, new for every strike). It is built by
    midpoint displacement, all segments at once per level: each segment is split at its middle,
    and the middle point moves perpendicular to the segment by a seeded normal amount of
    ``roughness`` times the segment's length. Levels continue until segments are shorter than 0.6 %
    of the frame height (so a bolt has the same shape at any resolution); what is still longer than
    5 pixels is then cut into straight pieces.
    At every level but the last few, each segment may sprout a branch (probability ``branches``,
    halved for every generation of branch) from its middle, turned by about ``branch_angle``
    degrees either way, as long as ``branch_length`` times the segment; branches are subdivided like
    the main channel from then on. Width tapers from ``width`` at the root to 60 % at the end of
    the main channel, and along every branch from 60 % of its parent's width to a tenth at its tip;
    branches are dimmer with each generation.

    **Rendering.** Segments are rasterised as anti-aliased thick lines from their distance field,
    evaluated only on a small patch of pixels around each segment (a few thousand segments, a few
    hundred thousand pixel evaluations) and combined with a max. The core is white-hot (``core``
    bright, tinted 15 % towards ``color``); the glow is the core blurred at three sizes (12 %,
    35 % and 100 % of ``glow_size``, each on a grid of 4, 8 and 16 pixel cells), in ``color``.

    **Time.** A strike lasts ``duration``. Its first stroke is brightest; ``restrikes`` return
    strokes follow at seeded moments within the first 80 % of the strike, each with a new bolt
    shape between the same end points. Brightness decays after every stroke, flickers
    deterministically frame by frame (``flicker``) and fades out over the last 30 %. Strikes start
    at the union of: the ``strikes`` list; random moments at ``rate`` per second (a Poisson process
    drawn per one-second window from the seed); and the frames where ``trigger`` (animatable, so
    keyframes, expressions or a driver can feed it) crosses 0.5 upwards (from below 0.5 on the frame
    before to 0.5 or more; the frame before frame 0 counts as 0). With none of these given there is
    one strike at frame 0. Every random choice is seeded by the strike's first frame, so any frame
    renders alone exactly as in a whole render.

    **Flash.** While a bolt shows, ``flash`` times its brightness times ``color`` is added to the
    whole plate (as light on it: scaled by the plate's alpha).
    """

    type = "effect.lightning"
    animated_batches = True

    class Options(vfx.Effect.Options):
        start = opt.Vec(
            [0.45, 0.0],
            min=-2.0,
            max=3.0,
            doc="[x, y] where the bolt starts, 0..1 of the frame (-2..3: it may start off-screen)",
        )
        end = opt.Vec([0.55, 1.0], min=-2.0, max=3.0, doc="[x, y] where the bolt ends, 0..1 of the frame (-2..3)")
        region = opt.Vec(
            None,
            length=4,
            animate=False,
            doc="[x0, y0, x1, y1] (0..1): random start near the top, end near the bottom, per strike",
        )
        strikes = TimeList(None, doc='times of strikes: frames or time strings, such as [0, "1.5s"]')
        rate = opt.Float(0.0, min=0.0, max=100.0, animate=False, doc="random strikes per second (0: none)")
        trigger = opt.Float(
            None, doc="a strike whenever this crosses 0.5 upwards (drive it with keyframes or a driver)"
        )
        duration = opt.Time("0.5s", min_frames=1, doc="how long one strike lasts")
        restrikes = opt.Int(2, min=0, max=8, animate=False, doc="return strokes per strike (each a new bolt shape)")
        roughness = opt.Float(0.16, min=0.0, max=1.0, doc="midpoint offset, in segment lengths (standard deviation)")
        branches = opt.Float(0.5, min=0.0, max=1.0, doc="probability that a segment sprouts a branch, per level")
        branch_length = opt.Float(0.6, min=0.0, max=2.0, doc="length of a branch relative to the segment it leaves")
        branch_angle = opt.Float(35.0, min=0.0, max=90.0, doc="mean angle of branches from their parent, degrees")
        width = opt.Float(0.004, min=0.0, max=0.5, doc="width of the core at the root, frame heights")
        color = opt.Color("#7d9dff", doc="colour of the glow and the flash")
        core = opt.Float(1.6, min=0.0, doc="brightness of the white-hot core")
        glow = opt.Float(2.0, min=0.0, doc="brightness of the glow")
        glow_size = opt.Float(0.06, min=0.0, max=1.0, doc="size (sigma) of the widest glow, frame heights")
        intensity = opt.Float(1.0, min=0.0, doc="overall brightness")
        flicker = opt.Float(0.5, min=0.0, max=1.0, doc="how much the brightness varies from frame to frame")
        flash = opt.Float(0.1, min=0.0, doc="fraction of the bolt colour added to the whole plate during a strike")

    def configure(self):
        super().configure()
        o = self.options
        if o.region is not None:
            x0, y0, x1, y1 = o.region
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ConfigureError(
                    f"region must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, "
                    f"got {list(o.region)}",
                    option="region",
                )
        n = self.video.frame_count
        if o.strikes is not None:
            late = [f for f in o.strikes if f >= n]
            if late:
                raise ConfigureError(
                    f"strike at frame {late[0]} is past the end of the input ({n} frames)", option="strikes"
                )
        self._cache = vfx.LRU(64)

    # ------------------------------------------------------------------ when
    def _default_strikes(self) -> bool:
        o = self.options
        return o.strikes is None and o.rate <= 0 and o.trigger is None

    def _strike_starts(self, indices) -> dict[int, list[int]]:
        """For each frame, the first frames of the strikes that show on it."""
        o = self.options
        dur = o.duration
        lo, hi = max(0, min(indices) - dur + 1), max(indices)
        starts: set[int] = set()
        if o.strikes is not None:
            starts.update(f for f in o.strikes if lo <= f <= hi)
        if self._default_strikes() and lo == 0:
            starts.add(0)
        if o.rate > 0:
            starts.update(self._random_strikes(lo, hi))
        if o.trigger is not None:
            starts.update(self._trigger_strikes(indices, dur))
        return {i: sorted(s for s in starts if s <= i < s + dur) for i in indices}

    def _random_strikes(self, lo: int, hi: int) -> list[int]:
        """Strikes of a Poisson process at ``rate`` per second: per window of one second (at least one
        strike's length) a Poisson count drawn from the window's own seed, at uniform frames in it."""
        fps = float(self.video.fps)
        window = max(int(round(fps)), self.options.duration, 1)
        out = []
        for b in range(lo // window, hi // window + 1):
            rng = np.random.default_rng(self.ctx.seed_for(b, "rate"))
            count = rng.poisson(self.options.rate * window / fps)
            frames = b * window + rng.integers(0, window, size=count)
            out.extend(int(f) for f in frames if lo <= f <= hi)
        return out

    def _trigger_strikes(self, indices, dur) -> list[int]:
        """Frames where ``trigger`` crosses 0.5 upwards within reach of the frames asked for."""
        wanted = set()
        for i in indices:
            wanted.update(range(max(0, i - dur + 1), i + 1))
        frames = sorted(wanted | {f - 1 for f in wanted if f > 0})
        return [f for f in rising_frames(frames, self.values("trigger", frames)) if f in wanted]

    def _envelope(self, start: int, frame: int, flicker: float) -> tuple[float, int]:
        """(brightness, stroke) of the strike that started at ``start``, at ``frame``."""
        dur = self.options.duration
        rng = np.random.default_rng(self.ctx.seed_for(start, "strokes"))
        n = self.options.restrikes
        times = np.concatenate([[0.0], np.sort(rng.uniform(0.12, 0.8, size=n)) * dur])
        amps = np.concatenate([[1.0], rng.uniform(0.55, 1.0, size=n)])
        o = frame - start
        k = int(np.searchsorted(times, o, side="right") - 1)
        decay = max(1.0, 0.12 * dur)
        level = amps[k] * math.exp(-(o - times[k]) / decay)
        level = max(level, 0.25 * amps[k] * (1 - o / dur))  # the channel keeps glowing faintly
        jitter = np.random.default_rng(self.ctx.seed_for(start, f"flicker{o}")).uniform()
        level *= 1 - flicker * jitter * (0.0 if o - times[k] < 1 else 1.0)  # each stroke opens at full brightness
        level *= 1 - float(smoothstep(0.7 * dur, dur, o + 0.5))
        return level, k

    # ------------------------------------------------------------------ shape
    def _ends(self, start: int, frame_vals: dict, w: int, h: int):
        """Pixel positions of the bolt's two ends for the strike starting at ``start``."""
        region = self.options.region
        if region is None:
            s = np.asarray(frame_vals["start"], np.float64) * (w, h)
            e = np.asarray(frame_vals["end"], np.float64) * (w, h)
            return s, e
        x0, y0, x1, y1 = region
        u = np.random.default_rng(self.ctx.seed_for(start, "ends")).uniform(size=4)
        s = np.array([x0 + (x1 - x0) * u[0], y0 + (y1 - y0) * 0.1 * u[1]]) * (w, h)
        e = np.array([x0 + (x1 - x0) * u[2], y1 - (y1 - y0) * 0.1 * u[3]]) * (w, h)
        return s, e

    def _bolt(self, start: int, stroke: int, p0, p1, v: dict, h: int):
        """Segments of one bolt: (a, b) end points (S, 2), half widths at a and b (S, 2), brightness (S,)."""
        key = (
            start,
            stroke,
            tuple(np.round(p0, 4)),
            tuple(np.round(p1, 4)),
            h,
            *(round(float(v[k]), 6) for k in ("roughness", "branches", "branch_length", "branch_angle", "width")),
        )
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rng = np.random.default_rng(self.ctx.seed_for(start, f"bolt{stroke}"))
        rough = float(v["roughness"])
        p_branch = float(v["branches"])
        blen = float(v["branch_length"])
        angle = math.radians(float(v["branch_angle"]))
        hw = 0.5 * float(v["width"]) * h
        a = np.asarray(p0, np.float64)[None].copy()
        b = np.asarray(p1, np.float64)[None].copy()
        wa, wb = np.array([hw]), np.array([0.6 * hw])
        bright = np.array([1.0])
        gen = np.array([0])
        length = float(np.hypot(*(b[0] - a[0])))
        levels = int(np.clip(math.ceil(math.log2(max(length / h, 1e-6) / _DETAIL)), 1, 12))
        for level in range(levels):
            d = b - a
            seg = np.hypot(d[:, 0], d[:, 1])
            unit = d / np.maximum(seg, 1e-9)[:, None]
            perp = np.stack([-unit[:, 1], unit[:, 0]], 1)
            mid = (a + b) / 2 + perp * (rng.standard_normal(len(a)) * rough * seg)[:, None]
            wm = (wa + wb) / 2
            na = np.concatenate([a, mid])
            nb = np.concatenate([mid, b])
            nwa = np.concatenate([wa, wm])
            nwb = np.concatenate([wm, wb])
            nbright = np.concatenate([bright, bright])
            ngen = np.concatenate([gen, gen])
            if level < levels - 3 and p_branch > 0 and blen > 0:
                sprout = rng.uniform(size=len(a)) < p_branch * 0.5**gen
                sprout &= gen < 3
                k = int(sprout.sum())
                if k:
                    side = np.where(rng.uniform(size=k) < 0.5, -1.0, 1.0)
                    turn = side * np.clip(rng.normal(angle, 0.35 * angle + 0.05, size=k), 0.0, math.pi / 2)
                    u = unit[sprout]
                    c, s = np.cos(turn), np.sin(turn)
                    direction = np.stack([u[:, 0] * c - u[:, 1] * s, u[:, 0] * s + u[:, 1] * c], 1)
                    blength = seg[sprout] * blen * rng.uniform(0.6, 1.4, size=k)
                    start_pt = mid[sprout]
                    na = np.concatenate([na, start_pt])
                    nb = np.concatenate([nb, start_pt + direction * blength[:, None]])
                    nwa = np.concatenate([nwa, 0.6 * wm[sprout]])
                    nwb = np.concatenate([nwb, 0.06 * wm[sprout]])
                    nbright = np.concatenate([nbright, bright[sprout] * 0.6])
                    ngen = np.concatenate([ngen, gen[sprout] + 1])
            a, b, wa, wb, bright, gen = na, nb, nwa, nwb, nbright, ngen
        # split what is still long (branches born late) into straight pieces
        d = b - a
        seg = np.hypot(d[:, 0], d[:, 1])
        pieces = np.maximum(1, np.ceil(seg / _MAX_SEGMENT)).astype(np.int64)
        if pieces.max() > 1:
            idx = np.repeat(np.arange(len(a)), pieces)
            j = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
            t0 = (j / pieces[idx])[:, None]
            t1 = ((j + 1) / pieces[idx])[:, None]
            a, b = a[idx] + d[idx] * t0, a[idx] + d[idx] * t1
            wa, wb = wa[idx] + (wb[idx] - wa[idx]) * t0[:, 0], wa[idx] + (wb[idx] - wa[idx]) * t1[:, 0]
            bright = bright[idx]
        out = (a, b, np.stack([wa, wb], 1), bright)
        self._cache.put(key, out)
        return out

    # ------------------------------------------------------------------ render
    def render(self, indices):
        src = self.pull(self.input("input"), indices)
        starts = self._strike_starts(indices)
        if not any(starts.values()):
            return src
        vals = self.values_for(indices)
        pixels = src.pixels
        n, _, h, w = pixels.shape
        segs, levels, live = [], np.zeros(n), []
        for k, i in enumerate(indices):
            fv = {name: v[k] for name, v in vals.items()}
            total = 0.0
            for s in starts[i]:
                level, stroke = self._envelope(s, i, float(fv["flicker"]))
                level *= float(fv["intensity"])
                if level <= 1e-4:
                    continue
                p0, p1 = self._ends(s, fv, w, h)
                a, b, hw, bright = self._bolt(s, stroke, p0, p1, fv, h)
                segs.append((k, a, b, hw, bright * level))
                total = max(total, level)
            levels[k] = total
            if total > 0:
                live.append(k)
        if not live:
            return src
        core = self._rasterise(segs, n, h, w, pixels.device)  # (N, H, W) core brightness 0..
        glow = self._glow(core, vals, h, w)  # (N, H/4, W/4, 4) coloured glow
        from vfx.ops import color as vcolor

        color = np.asarray([vcolor.srgb_to_linear(c[:3]) for c in vals["color"]])
        flash = (np.asarray(vals["flash"], np.float64) * levels)[:, None] * color  # (N, 3)
        out = self._composite(pixels.permute(0, 2, 3, 1), core, glow, vals, flash)
        return FrameBatch(indices, out.permute(0, 3, 1, 2))

    def _rasterise(self, segs, n, h, w, device):
        """Anti-aliased thick segments, max-combined, into (N, H, W) from per-segment pixel patches."""
        import torch

        fi = np.concatenate([np.full(len(a), k) for k, a, _, _, _ in segs])
        a = np.concatenate([s[1] for s in segs])
        b = np.concatenate([s[2] for s in segs])
        hw = np.concatenate([s[3] for s in segs])
        val = np.concatenate([s[4] for s in segs])
        core = torch.zeros(n * h * w + 1, dtype=torch.float32, device=device)
        # patches sized by width class: thin branches need far fewer pixels than the main channel
        wide = hw.max(1)
        for sel in (wide <= 1.0, (wide > 1.0) & (wide <= 3.0), wide > 3.0):
            if sel.any():
                self._raster_patch(core, fi[sel], a[sel], b[sel], hw[sel], val[sel], n, h, w, device)
        return core[:-1].view(n, h, w)

    @staticmethod
    def _raster_patch(core, fi, a, b, hw, val, n, h, w, device):
        """Max-combine anti-aliased capsules into ``core`` from a K x K pixel patch per segment."""
        import torch

        margin = float(hw.max()) + 1.5
        k = int(math.ceil(_MAX_SEGMENT + 2 * margin)) + 1
        lo = np.floor(np.minimum(a, b) - margin).astype(np.int64)
        f32 = torch.float32
        A = torch.as_tensor(a, dtype=f32, device=device)
        D = torch.as_tensor(b - a, dtype=f32, device=device)
        HW = torch.as_tensor(hw, dtype=f32, device=device)
        V = torch.as_tensor(val, dtype=f32, device=device)
        LO = torch.as_tensor(lo, device=device)
        F = torch.as_tensor(fi, device=device)
        off = torch.arange(k, device=device)
        px = LO[:, 0:1, None] + off.view(1, 1, k)  # (S, 1, K) pixel columns
        py = LO[:, 1:2, None] + off.view(1, k, 1)  # (S, K, 1) pixel rows
        rx = (px + 0.5).to(f32) - A[:, 0].view(-1, 1, 1)
        ry = (py + 0.5).to(f32) - A[:, 1].view(-1, 1, 1)
        dx, dy = D[:, 0].view(-1, 1, 1), D[:, 1].view(-1, 1, 1)
        t = ((rx * dx + ry * dy) / (dx * dx + dy * dy).clamp(min=1e-9)).clamp(0, 1)
        ex, ey = rx - t * dx, ry - t * dy
        dist = (ex * ex + ey * ey).sqrt()
        half = HW[:, 0].view(-1, 1, 1) + t * (HW[:, 1] - HW[:, 0]).view(-1, 1, 1)
        width = (2 * half).clamp(max=1.0)  # lines thinner than a pixel get dimmer
        cov = (half.clamp(min=0.5) + 0.5 - dist).clamp(0, 1) * width * V.view(-1, 1, 1)
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        idx = torch.where(inside, (F.view(-1, 1, 1) * h + py) * w + px, n * h * w)
        core.scatter_reduce_(0, idx.reshape(-1), cov.reshape(-1), reduce="amax")

    def _glow(self, core, vals, h, w):
        """The glow: the core blurred at three sizes, each on a grid of its own scale, summed on a
        quarter-resolution grid and coloured: (N, H/4, W/4, 4) light (alpha 0)."""
        import torch
        from vfx.ops import color as vcolor

        n = core.shape[0]
        dev = core.device
        q = 4
        hq, wq = math.ceil(h / q), math.ceil(w / q)
        small = _area(core, hq, wq)
        glow = torch.zeros_like(small)
        for frac, weight, cell in _GLOW_SCALES:
            level = small if cell == q else _area(small, math.ceil(h / cell), math.ceil(w / cell))
            for k in range(n):
                size = float(vals["glow_size"][k]) * h
                amount = float(vals["glow"][k])
                width = max(float(vals["width"][k]) * h, 1.0)
                if size <= 0 or amount <= 0:
                    continue
                sigma = max(frac * size, 0.6 * cell)
                # a blurred line's peak falls as width / sigma: scale it back up
                blurred = _blur2d(level[k : k + 1], sigma / cell) * (amount * weight * sigma / width)
                glow[k] += blurred[0] if cell == q else _bilinear(blurred, hq, wq)[0]
        col = torch.as_tensor(
            np.stack([vcolor.srgb_to_linear(c[:3]) for c in vals["color"]]), dtype=torch.float32, device=dev
        )  # (N, 3)
        return torch.cat([glow.unsqueeze(-1) * col.view(n, 1, 1, 3), torch.zeros_like(glow).unsqueeze(-1)], -1)

    def _composite(self, plate, core, glow, vals, flash):
        """Per frame: ``plate + glow (upsampled) + core x core colour``, the flash's colour on the plate
        (times its alpha) and, on a transparent plate, alpha where the light is."""
        import torch
        from vfx.ops import color as vcolor

        n, h, w, _ = plate.shape
        dev = plate.device
        out = vfx.frames.empty_planes((n, h, w, 4), dev)
        cpu = backend.allows("opencv", dev)
        if cpu:
            import cv2
        for i in range(n):
            col = vcolor.srgb_to_linear(vals["color"][i][:3])
            core_col = (1.0 + 0.15 * (col - 1.0)) * float(vals["core"][i])
            light = resample.resize_planes(glow[i : i + 1], h, w)[0]
            if glow.shape[1:3] == (h, w):
                light = light.clone()  # ours to add the core into
            # the white-hot core, added within the bolt's bounding box
            rows = torch.nonzero(core[i].amax(1) > 0).view(-1)
            if rows.numel():
                cols = torch.nonzero(core[i].amax(0) > 0).view(-1)
                r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
                box = core[i, r0:r1, c0:c1]
                if cpu:
                    bx = box.contiguous().numpy()
                    rgba = cv2.merge(
                        [bx * float(core_col[0]), bx * float(core_col[1]), bx * float(core_col[2]), np.zeros_like(bx)]
                    )
                    roi = light.numpy()[r0:r1, c0:c1]
                    cv2.add(roi, rgba, dst=roi)
                else:
                    light[r0:r1, c0:c1, :3] += box.unsqueeze(-1) * torch.as_tensor(
                        core_col, dtype=torch.float32, device=dev
                    )
            torch.add(plate[i], light, out=out[i])
            f = flash[i]
            if np.any(f > 0):
                if self.video.has_alpha:
                    out[i, ..., :3] += plate[i, ..., 3:4] * torch.as_tensor(f, dtype=torch.float32, device=dev)
                elif cpu:
                    cv2.add(out[i].numpy(), (float(f[0]), float(f[1]), float(f[2]), 0.0), dst=out[i].numpy())
                else:
                    out[i, ..., :3] += torch.as_tensor(f, dtype=torch.float32, device=dev)
            if self.video.has_alpha:
                lum = (LUMA[0] * light[..., 0:1] + LUMA[1] * light[..., 1:2] + LUMA[2] * light[..., 2:3]).clamp(0, 1)
                a = plate[i, ..., 3:4]
                out[i, ..., 3:4] = a + (1 - a) * lum
        return out
