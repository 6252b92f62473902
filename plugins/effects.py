"""Built-in effects: grade, blur, glow, vignette, grain and fade.

Every effect here works on whole batches of premultiplied linear RGBA frames on the pipeline's
device and reads its options per batch with ``self.values``, so keyframes, expressions and
drivers on any numeric or colour option cost nothing extra. ``gaussian_blur`` is public: other
nodes (glows, explosions, lightning) can use the same fast Gaussian. On a CPU, grade, grain and
a half-resolution glow hand their per-pixel work to Numba kernels (``grade_kernel``, ``grain_kernel``,
``glow_kernel``); the torch code here is what GPUs run, and tests check that both agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, imageops, jit, opt
from vfx.frames import empty_pixels, empty_planes

#: Rec.709 / sRGB luma weights for linear RGB
LUMA = (0.2126, 0.7152, 0.0722)
#: the Gaussian kernel is cut at this many sigmas (as in scipy and scikit-image)
BLUR_TRUNCATE = 4.0
#: above this sigma (pixels) ``gaussian_blur`` works on a box-downsampled copy
BLUR_MAX_DIRECT = 8.0
#: on the CPU, convolve and resample with OpenCV (several times faster than torch there); GPUs
#: use torch. Tests switch this off to check the torch path on the CPU.
USE_OPENCV = True


def _opencv(x) -> bool:
    return USE_OPENCV and x.device.type == "cpu"


# --- small tensor helpers ------------------------------------------------------------------------

def _channels_last(t):
    import torch
    return t.contiguous(memory_format=torch.channels_last)


def _col(values, like):
    """Per-frame values (N,) or (N, k) as a float32 (N, k, 1, 1) tensor on ``like``'s device."""
    import torch
    v = torch.as_tensor(np.ascontiguousarray(values, dtype=np.float32), device=like.device)
    if v.ndim == 1:
        v = v[:, None]
    return v[:, :, None, None]


def _straight(px, has_alpha: bool = True):
    """(rgb, alpha) of premultiplied pixels: colour divided by alpha, 0 where alpha is 0."""
    import torch
    a = px[:, 3:4]
    if not has_alpha:
        return px[:, :3], a
    inv = torch.where(a > 1e-6, 1.0 / a.clamp_min(1e-6), torch.zeros((), device=px.device))
    return px[:, :3] * inv, a


def _assemble(rgb, alpha, *, premultiply: bool, out):
    """Colour and alpha (colour times alpha where ``premultiply``) written into ``out``, a
    channels-last (N, 4, H, W) tensor."""
    if premultiply:
        import torch
        torch.mul(rgb, alpha, out=out[:, :3])
    else:
        out[:, :3] = rgb
    out[:, 3:4] = alpha
    return out


def _luma(rgb):
    return rgb[:, 0:1] * LUMA[0] + rgb[:, 1:2] * LUMA[1] + rgb[:, 2:3] * LUMA[2]


def srgb_encode(x):
    """Linear to sRGB-encoded values: a new tensor; negatives stay on the linear segment.

    Written as pow(max(x, c)) + 12.92 (min(x, c) - c), which is the two-piece curve exactly
    (the pieces meet at c) without a per-pixel select; on a CPU in three OpenCV passes.
    """
    c = 0.0031308
    if _opencv(x):
        import cv2
        import torch
        a = x.contiguous().numpy().reshape(-1, x.shape[-1])
        high = cv2.pow(cv2.max(a, c), 1 / 2.4)
        cv2.addWeighted(high, 1.055, cv2.min(a, c), 12.92, -(0.055 + 12.92 * c), dst=high)
        return torch.from_numpy(high).view(x.shape)
    return x.clamp_min(c).pow_(1 / 2.4).mul_(1.055).sub_(0.055 + 12.92 * c).add_(x.clamp_max(c).mul_(12.92))


def srgb_decode(x):
    """sRGB-encoded to linear values (torch); values above 1 follow the power curve."""
    d = 0.04045
    return _pow_(x.clamp_min(d).add_(0.055).div_(1.055), 2.4).sub_(d / 12.92).add_(x.clamp_max(d).div_(12.92))


def _pow_(x, exponent):
    """``x ** exponent`` in place, for x >= 0; ``exponent`` a number or one per frame (and channel).

    On a CPU OpenCV's ``pow`` runs it (about three times faster than torch's), frame by frame.
    """
    import torch
    if not (_opencv(x) and x.is_contiguous()):
        return x.pow_(exponent)
    import cv2
    e = np.asarray(exponent.cpu() if torch.is_tensor(exponent) else exponent, np.float64)
    e = np.broadcast_to(e.reshape(e.shape[0], -1) if e.ndim else e, x.shape[:2])     # (frames, channels)
    def power(a, e: float):
        if e == 0.0:
            a.fill(1.0)                      # OpenCV's pow refuses an exponent of 0 in place
        else:
            cv2.pow(a, e, dst=a)

    for k in range(x.shape[0]):
        if np.all(e[k] == e[k, 0]):
            power(x[k].numpy(), float(e[k, 0]))
        else:
            for c in range(x.shape[1]):
                power(x[k, c].numpy(), float(e[k, c]))
    return x


def _linear_rgb(colors):
    """(N, 4) straight sRGB option values to (N, 3) linear RGB (float64 numpy)."""
    from vfx.color import srgb_to_linear
    return srgb_to_linear(np.asarray(colors)[:, :3])


def _groups(values):
    """Frame positions grouped by equal value: [(value, [positions])]."""
    values = np.asarray(values)
    return [(float(v), np.flatnonzero(values == v).tolist()) for v in np.unique(values)]


# --- Gaussian blur ---------------------------------------------------------------------------------

def gaussian_kernel(sigma: float, truncate: float = BLUR_TRUNCATE) -> np.ndarray:
    """The normalised 1-D Gaussian, cut at ``truncate`` sigmas (float32, odd length)."""
    r = max(1, int(math.ceil(truncate * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _per_frame_cv(x, height: int, width: int, fn):
    """Run ``fn(src, dst)`` (OpenCV, HWC float32 arrays) on every frame of a CPU (N, C, H, W) tensor."""
    import torch
    n, c = x.shape[:2]
    out = torch.empty((n, height, width, c), dtype=torch.float32)
    src = x.permute(0, 2, 3, 1)
    for i in range(n):
        frame = src[i]
        if not frame.is_contiguous():
            frame = frame.contiguous()
        a, d = frame.numpy(), out[i].numpy()
        if c == 1:
            a, d = a.reshape(a.shape[:2]), d.reshape(d.shape[:2])
        fn(a, d)
    return out.permute(0, 3, 1, 2)


def _blur_direct(x, sigma: float):
    """Two 1-D convolutions with clamped edges (OpenCV on the CPU, torch conv2d on a GPU)."""
    import torch
    k = gaussian_kernel(sigma)
    n, c, h, w = x.shape
    if _opencv(x):
        import cv2
        return _per_frame_cv(x, h, w, lambda a, d: cv2.sepFilter2D(
            a, -1, k, k, dst=d, borderType=cv2.BORDER_REPLICATE))
    F = torch.nn.functional
    r = (len(k) - 1) // 2
    kt = torch.as_tensor(k, device=x.device)
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kt.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kt.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return _channels_last(y)


def _downsample(x, f: int):
    """Mean of every f x f block (dimensions must be multiples of f)."""
    import torch
    n, c, h, w = x.shape
    if _opencv(x):
        import cv2
        return _per_frame_cv(x, h // f, w // f, lambda a, d: cv2.resize(
            a, (w // f, h // f), dst=d, interpolation=cv2.INTER_AREA))
    return torch.nn.functional.avg_pool2d(x, f)


def _upsample(x, f: int):
    """Bilinear upsampling by an integer factor (pixel centres aligned, as align_corners=False)."""
    import torch
    n, c, h, w = x.shape
    if _opencv(x):
        import cv2
        return _per_frame_cv(x, h * f, w * f, lambda a, d: cv2.resize(
            a, (w * f, h * f), dst=d, interpolation=cv2.INTER_LINEAR))
    return torch.nn.functional.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)


def gaussian_blur(x, sigma: float, *, max_direct: float = BLUR_MAX_DIRECT):
    """A (N, C, H, W) float32 tensor blurred by a Gaussian of ``sigma`` pixels; edges clamped.

    Returns a new tensor (the input is not modified). Up to ``max_direct`` it is two exact 1-D
    convolutions (kernel cut at 4 sigma). Above, the frame is box-downsampled by a power of two
    f (so that sigma / f is between max_direct / 2 and max_direct), blurred there with
    sqrt(sigma^2 - (f^2 - 1)/12 - f^2/6) / f (the variance of the box and of the bilinear
    upsampling taken out), and upsampled bilinearly. The clamped border is reproduced at the
    coarse scale from the full-resolution edge rows and columns, so edges match a clamped
    full-size Gaussian too.
    """
    import torch
    sigma = float(sigma)
    n, c, h, w = x.shape
    if sigma <= 1e-3:
        return x.clone(memory_format=torch.channels_last)
    max_direct = max(2.0, float(max_direct))
    f = 1
    while sigma / f > max_direct and min(h, w) >= 16 * f:
        f *= 2
    if f == 1:
        return _blur_direct(x, sigma)
    F = torch.nn.functional
    ph, pw = (-h) % f, (-w) % f
    xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    small = _downsample(xp, f)
    hc, wc = small.shape[2:]
    ss = math.sqrt(max(sigma * sigma - (f * f - 1) / 12 - f * f / 6, (0.5 * f) ** 2)) / f
    m = int(math.ceil(BLUR_TRUNCATE * ss)) + 1
    # The margin a clamped full-size blur would see: edge rows/columns repeated, then block-averaged.
    top = F.avg_pool2d(xp[:, :, :1, :], (1, f)).expand(-1, -1, m, -1)
    bottom = F.avg_pool2d(xp[:, :, -1:, :], (1, f)).expand(-1, -1, m, -1)
    left = F.avg_pool2d(xp[:, :, :, :1], (f, 1)).expand(-1, -1, -1, m)
    right = F.avg_pool2d(xp[:, :, :, -1:], (f, 1)).expand(-1, -1, -1, m)

    def corner(yy, xx):
        return xp[:, :, yy, xx].reshape(n, c, 1, 1).expand(-1, -1, m, m)

    big = torch.cat([
        torch.cat([corner(0, 0), top, corner(0, -1)], 3),
        torch.cat([left, small, right], 3),
        torch.cat([corner(-1, 0), bottom, corner(-1, -1)], 3)], 2)
    big = _blur_direct(_channels_last(big), ss)
    up = _upsample(_channels_last(big[:, :, m - 1:m + hc + 1, m - 1:m + wc + 1]), f)
    return _channels_last(up[:, :, f:f + h, f:f + w])


def _blur_per_frame(x, sigmas, max_direct: float = BLUR_MAX_DIRECT):
    """``gaussian_blur`` with one sigma per frame (frames with equal sigma blurred together)."""
    groups = _groups(sigmas)
    if len(groups) == 1:
        return gaussian_blur(x, groups[0][0], max_direct=max_direct)
    import torch
    out = torch.empty_like(x, memory_format=torch.channels_last)
    for sigma, rows in groups:
        out[rows] = gaussian_blur(x[rows], sigma, max_direct=max_direct)
    return out


# --- .cube LUTs ---------------------------------------------------------------------------------

class CubeError(ValueError):
    """A .cube file that cannot be read; ``line`` is 1-based (None: the file as a whole)."""

    def __init__(self, message: str, line: int | None = None):
        self.line = line
        super().__init__(message)


@dataclass
class CubeLUT:
    """A 3-D LUT: ``table[b, g, r]`` is the output RGB for the input at that grid point."""

    size: int
    table: np.ndarray                 # (size, size, size, 3) float32, indexed [b, g, r]
    domain_min: tuple = (0.0, 0.0, 0.0)
    domain_max: tuple = (1.0, 1.0, 1.0)
    title: str = ""


def _numbers(tokens, count, line, what):
    if len(tokens) != count:
        raise CubeError(f"{what}: expected {count} number(s), got {len(tokens)}", line)
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise CubeError(f"{what}: expected numbers, got {' '.join(tokens)!r}", line) from None
    if not all(math.isfinite(v) for v in values):
        raise CubeError(f"{what}: values must be finite, got {' '.join(tokens)!r}", line)
    return values


def read_cube(path: Path) -> CubeLUT:
    """Parse an Adobe/Resolve ``.cube`` 3-D LUT: TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX (or
    LUT_3D_INPUT_RANGE), ``#`` comments and size^3 rows of "r g b", red changing fastest.
    Raises ``CubeError`` naming the line."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise CubeError(f"cannot read the file: {exc.strerror or exc}") from None
    size = None
    size_line = None
    title = ""
    dmin, dmax = [0.0] * 3, [1.0] * 3
    rows: list[list[float]] = []
    last_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("TITLE"):
            title = line[5:].strip().strip('"')
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        last_line = number
        tokens = line.split()
        key = tokens[0]
        try:
            float(key)
            is_data = True
        except ValueError:
            is_data = False
        if is_data:
            if size is None:
                raise CubeError("a data row before LUT_3D_SIZE", number)
            if len(rows) == size ** 3:
                raise CubeError(f"more than {size}^3 = {size ** 3} data rows", number)
            rows.append(_numbers(tokens, 3, number, "data row"))
        elif key == "LUT_3D_SIZE":
            if size is not None:
                raise CubeError(f"LUT_3D_SIZE given twice (first on line {size_line})", number)
            if len(tokens) != 2 or not tokens[1].isdigit() or not 2 <= int(tokens[1]) <= 256:
                raise CubeError(f"LUT_3D_SIZE must be a whole number from 2 to 256, got "
                                f"{' '.join(tokens[1:])!r}", number)
            size, size_line = int(tokens[1]), number
        elif key == "LUT_1D_SIZE":
            raise CubeError("1-D LUTs (LUT_1D_SIZE) are not supported: effect.grade applies 3-D LUTs", number)
        elif key == "DOMAIN_MIN":
            dmin = _numbers(tokens[1:], 3, number, "DOMAIN_MIN")
        elif key == "DOMAIN_MAX":
            dmax = _numbers(tokens[1:], 3, number, "DOMAIN_MAX")
        elif key == "LUT_3D_INPUT_RANGE":
            lo, hi = _numbers(tokens[1:], 2, number, "LUT_3D_INPUT_RANGE")
            dmin, dmax = [lo] * 3, [hi] * 3
        else:
            raise CubeError(f"unknown keyword {key!r} (expected TITLE, LUT_3D_SIZE, DOMAIN_MIN, DOMAIN_MAX "
                            "or data rows)", number)
    if size is None:
        raise CubeError("no LUT_3D_SIZE line: not a 3-D .cube LUT")
    if len(rows) != size ** 3:
        raise CubeError(f"LUT_3D_SIZE {size} needs {size ** 3} data rows, found {len(rows)}", last_line)
    if not all(lo < hi for lo, hi in zip(dmin, dmax)):
        raise CubeError(f"DOMAIN_MIN {dmin} must be below DOMAIN_MAX {dmax} in every channel")
    table = np.asarray(rows, np.float32).reshape(size, size, size, 3)
    return CubeLUT(size, table, tuple(dmin), tuple(dmax), title)


def apply_lut(rgb, lut: CubeLUT, volume):
    """Trilinear lookup of (N, 3, H, W) values in a LUT, whole batch at once.

    ``volume`` is what ``lut_volume`` made for the device: on a CPU an atlas of blue slices that
    OpenCV's bilinear ``remap`` reads twice (two neighbouring slices, then a linear blend in
    blue: trilinear interpolation, three times faster than a 3-D ``grid_sample``); elsewhere a
    (1, 3, B, G, R) tensor for ``grid_sample``.
    """
    import torch
    if isinstance(volume, list):
        return _apply_lut_atlas(rgb, lut, volume)
    lo = torch.tensor(lut.domain_min, dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    hi = torch.tensor(lut.domain_max, dtype=torch.float32, device=rgb.device).view(1, 3, 1, 1)
    grid = ((rgb - lo) * (2.0 / (hi - lo)) - 1.0).permute(0, 2, 3, 1).unsqueeze(0)   # (1, N, H, W, 3): x=r
    out = torch.nn.functional.grid_sample(volume, grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)                        # (1, 3, N, H, W)
    return out[0].transpose(0, 1)


def lut_volume(lut: CubeLUT, device):
    """The LUT laid out for ``apply_lut`` on ``device``."""
    import torch
    if torch.device(device).type == "cpu":
        # Slice b (an (r, g) image, with its last row and column repeated so that bilinear reads at
        # the far edge never touch the next slice) is tile (b % cols, b // cols) of a square-ish
        # grid, which keeps atlas coordinates small and so precise in float32; one plane per
        # output channel, so the lookups come back planar.
        size, cols = lut.size, _atlas_columns(lut.size)
        stride = size + 1
        atlas = np.zeros((-(-size // cols) * stride, cols * stride, 3), np.float32)
        for b in range(size):
            y, x = divmod(b, cols)
            atlas[y * stride:(y + 1) * stride, x * stride:(x + 1) * stride] = np.pad(
                lut.table[b], ((0, 1), (0, 1), (0, 0)), mode="edge")
        return [np.ascontiguousarray(atlas[..., c]) for c in range(3)]
    return lut_tensor(lut, device)


def lut_tensor(lut: CubeLUT, device):
    """The LUT as a (1, 3, B, G, R) tensor, for ``grid_sample`` on any device."""
    import torch
    table = torch.from_numpy(np.ascontiguousarray(lut.table.transpose(3, 0, 1, 2)))
    return table.unsqueeze(0).to(device)


def _atlas_columns(size: int) -> int:
    return math.ceil(math.sqrt(size))


def _apply_lut_atlas(rgb, lut: CubeLUT, planes):
    import cv2
    import torch
    n, _, h, w = rgb.shape
    size, stride = lut.size, lut.size + 1
    lo = np.asarray(lut.domain_min, np.float32).reshape(3, 1, 1)
    scale = (size - 1) / (np.asarray(lut.domain_max, np.float32) - lo.ravel()).reshape(3, 1, 1)
    cols = _atlas_columns(size)
    out = torch.empty((n, 3, h, w))
    for k in range(n):
        u = rgb[k].contiguous().numpy() - lo
        u *= scale
        np.clip(u, 0, size - 1, out=u)
        r, g, b = u
        b0 = np.minimum(np.floor(b), size - 2)
        fb = b - b0
        maps = []
        for slice_ in (b0, b0 + 1):               # the two blue slices around each pixel
            row = np.floor((slice_ + 0.5) * (1.0 / cols))
            x = (slice_ - row * cols) * stride + r
            y = row * stride + g
            maps.append((x.astype(np.float32, copy=False), y.astype(np.float32, copy=False)))
        dst = out[k].numpy()
        for c, plane in enumerate(planes):
            a = cv2.remap(plane, *maps[0], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d = cv2.remap(plane, *maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            d -= a
            d *= fb
            np.add(a, d, out=dst[c])
    return out


# --- nodes ------------------------------------------------------------------------------------------

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

    class Options(vfx.Effect.Options):
        exposure = opt.Float(0.0, min=-16.0, max=16.0, doc="exposure change in stops (1: twice as bright)")
        contrast = opt.Float(1.0, min=0.0, max=8.0,
                             doc="contrast around pivot: pivot * (x / pivot)^contrast (1: unchanged)")
        pivot = opt.Float(0.18, min=0.001, max=16.0, doc="linear value that contrast leaves unchanged")
        saturation = opt.Float(1.0, min=0.0, max=8.0, doc="0 grey, 1 unchanged, 2 twice as saturated (Rec.709 luma)")
        lift = opt.Vec([0.0, 0.0, 0.0], length=3,
                       doc="[r, g, b] raise (or with negatives lower) the blacks: x + lift * (1 - x)")
        gamma = opt.Vec([1.0, 1.0, 1.0], length=3, min=0.01,
                        doc="[r, g, b] midtone power: out = base^(1 / gamma) (above 1 brightens)")
        gain = opt.Vec([1.0, 1.0, 1.0], length=3, min=0.0, doc="[r, g, b] multiplier (the whites)")
        temperature = opt.Float(0.0, min=-4.0, max=4.0,
                                doc="white balance, cool (-) to warm (+): red +t/2 and blue -t/2 stops")
        tint = opt.Float(0.0, min=-4.0, max=4.0, doc="white balance, green (-) to magenta (+): green -u/2 stops")
        white = opt.Color(None, doc="a colour in the shot that should become neutral grey (straight sRGB)")
        lut = opt.InputPath(None, doc="a .cube 3-D LUT applied last, relative to the pipeline file")
        lut_space = opt.Choice("srgb", choices=("srgb", "linear"),
                               doc="what the LUT's input and output are: sRGB-encoded (most looks) or linear")
        lut_mix = opt.Float(1.0, min=0.0, max=1.0, doc="0 ignores the LUT, 1 applies it fully")

    def configure(self):
        super().configure()
        self._lut = None
        self._volume = None
        self._kernel_table = None
        path = self.options.lut
        if path is not None:
            try:
                self._lut = read_cube(path)
            except CubeError as exc:
                where = f"line {exc.line} of {path.name}" if exc.line else str(path.name)
                raise ConfigureError(f"{where}: {exc}", option="lut") from None
        white = self.options.white
        if white is not None and not isinstance(white, opt.Animated):
            if float(_linear_rgb(np.asarray([white])).min()) < 1e-3:
                raise ConfigureError(f"white {list(white[:3])} has a channel at or near 0: pick a grey or "
                                     "near-white part of the shot", option="white")

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
        out = {k: None if v is None else tuple(_col(x, like) for x in v) if isinstance(v, tuple) else _col(v, like)
               for k, v in steps.items()}
        if "lut" in steps and (self._volume is None or self._volume[0] != like.device):
            self._volume = (like.device, lut_volume(self._lut, like.device))
        return out

    def _grade(self, rgb, steps: dict):
        """The grade of straight linear colour (N, 3, H, W): a new tensor, or ``rgb`` changed in place."""
        import torch
        gains = steps.get("gains")
        if "contrast" in steps:                  # the gains (all positive) ride along in its passes
            c, pivot = steps["contrast"]
            scaled, negative = (1.0 / pivot, rgb.clamp_max(0.0)) if gains is None else \
                (gains / pivot, rgb.clamp_max(0.0).mul_(gains))
            rgb = _pow_(rgb.clamp_min(0.0).mul_(scaled), c).mul_(pivot).add_(negative)
        elif gains is not None:
            rgb = rgb * gains
        if "saturation" in steps:                # Y + s (x - Y) = s x + (1 - s) Y
            sat = steps["saturation"]
            y = _luma(rgb).mul_(1.0 - sat)
            rgb = (rgb * sat).add_(y)
        if "lift_gain" in steps:
            lf, gn = steps["lift_gain"]
            rgb = gn * (rgb + lf * (1.0 - rgb))
        if "gamma" in steps:
            rgb = _pow_(rgb.clamp_min(0.0), steps["gamma"]).add_(rgb.clamp_max(0.0))
        if "lut" in steps:
            srgb = self.options.lut_space == "srgb"
            looked = apply_lut(srgb_encode(rgb) if srgb else rgb, self._lut, self._volume[1])
            looked = srgb_decode(looked) if srgb else looked
            mix = steps["lut"]
            rgb = looked if mix is None else torch.lerp(rgb, looked, mix)
        return rgb

    def render(self, indices):
        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        steps = self._steps(indices)
        if not steps:
            return batch
        has_alpha = self.input("input").video.has_alpha
        n, _, h, w = px.shape
        out = empty_pixels(n, h, w, px.device)
        if jit.enabled(px):
            self._render_kernel(px, steps, has_alpha, out)
            return FrameBatch(indices, out)
        steps = self._settings(steps, px)
        for y0, y1 in imageops.row_strips(px):
            # per-channel arithmetic runs fastest on whole planes: one copy to NCHW, one back
            rgb, alpha = _straight(px[:, :, y0:y1].contiguous(), has_alpha)
            _assemble(self._grade(rgb, steps), alpha, premultiply=has_alpha, out=out[:, :, y0:y1])
        return FrameBatch(indices, out)

    def _render_kernel(self, px, steps: dict, has_alpha: bool, out):
        """The CPU path: each frame through ``grade_kernel.grade_frame`` in one pass."""
        from . import grade_kernel as K
        n = px.shape[0]
        params = np.zeros((n, K.PARAMS), np.float32)
        flags = K.ALPHA if has_alpha else 0
        params[:, K.P_GAINS:K.P_GAINS + 3] = steps.get("gains", 1.0)
        if "gains" in steps:
            flags |= K.GAINS
        if "contrast" in steps:
            flags |= K.CONTRAST
            params[:, K.P_CONTRAST], params[:, K.P_PIVOT] = steps["contrast"]
        if "saturation" in steps:
            flags |= K.SATURATION
            params[:, K.P_SAT] = steps["saturation"]
        if "lift_gain" in steps:
            flags |= K.LIFT_GAIN
            params[:, K.P_LIFT:K.P_LIFT + 3], params[:, K.P_GAIN:K.P_GAIN + 3] = steps["lift_gain"]
        if "gamma" in steps:
            flags |= K.GAMMA
            params[:, K.P_INV_GAMMA:K.P_INV_GAMMA + 3] = steps["gamma"]
        table, size = np.zeros(1, np.float32), 2
        if "lut" in steps:
            lut = self._lut
            flags |= K.LUT | (K.LUT_SRGB if self.options.lut_space == "srgb" else 0)
            lo = np.asarray(lut.domain_min, np.float32)
            params[:, K.P_LUT_LO:K.P_LUT_LO + 3] = lo
            params[:, K.P_LUT_SCALE:K.P_LUT_SCALE + 3] = (lut.size - 1) / (np.asarray(lut.domain_max, np.float32) - lo)
            if steps["lut"] is not None:
                flags |= K.LUT_MIX
                params[:, K.P_MIX] = steps["lut"]
            if self._kernel_table is None:
                self._kernel_table = K.padded_table(lut.table)
            table, size = self._kernel_table, lut.size
        for k in range(n):
            K.grade_frame(jit.rgba(px[k]), jit.rgba(out[k], out=True), params[k], table, size, flags)


class Blur(vfx.Effect):
    """Gaussian blur of any size, on premultiplied RGBA so soft alpha edges do not darken.

    Give ``sigma`` (the Gaussian's standard deviation in pixels) or ``radius`` (the visible
    extent, ``radius = 3 * sigma``); with neither, sigma is 2. The kernel is cut at 4 sigma, as
    in scipy and scikit-image, and edges are clamped (border pixels repeat). Up to sigma 8 the
    blur is exactly two 1-D convolutions; larger blurs run on a frame box-downsampled by a power
    of two (to a sigma of 4 to 8 there), corrected for the variance the downsampling and the
    bilinear upsampling add, so the cost hardly grows with the radius while the result stays
    close to the true Gaussian (against scikit-image on 0..1 pictures: mean error about 1e-4,
    largest about 1e-3).
    """

    type = "effect.blur"
    animated_batches = True

    class Options(vfx.Effect.Options):
        sigma = opt.Float(None, min=0.0, max=1000.0,
                          doc="standard deviation in pixels (default 2 unless radius is given)")
        radius = opt.Float(None, min=0.0, max=3000.0, doc="blur radius in pixels instead of sigma: sigma = radius / 3")

    def configure(self):
        super().configure()
        if self.options.sigma is not None and self.options.radius is not None:
            raise ConfigureError("give sigma or radius, not both (radius = 3 * sigma)", option="radius")

    def sigmas(self, indices):
        if self.options.radius is not None:
            return self.values("radius", indices) / 3.0
        if self.options.sigma is not None:
            return self.values("sigma", indices)
        return np.full(len(indices), 2.0)

    def render(self, indices):
        batch = self.pull(self.input("input"), indices)
        sigmas = self.sigmas(indices)
        if np.all(sigmas <= 1e-3):
            return batch
        return FrameBatch(indices, _blur_per_frame(batch.pixels, sigmas))


class Glow(vfx.Effect):
    """Bloom: the bright parts of the picture, blurred at several scales, added back as light.

    The bright pass works on Rec.709 luminance L of the (premultiplied, linear) colour with a
    soft knee: the part of each pixel above ``threshold`` is kept, ``rgb * max(s, L - t) / L``
    with ``s = clamp(L - t + k, 0, 2k)^2 / 4k`` (t threshold, k knee), so the glow eases in
    over ``threshold - knee .. threshold + knee`` instead of switching on. That light is blurred
    at ``octaves`` scales, sigma = ``radius / 3``, then halved for each further octave, averaged,
    tinted by ``color`` and scaled by ``intensity``. ``blend = "add"`` adds it to the input
    (physically, light adds); ``"screen"`` adds ``glow * (1 - min(x, 1))``, which is the screen
    formula 1 - (1 - x)(1 - glow) for x in 0..1 and never pushes a bright pixel much past white.
    Alpha becomes ``g + a * (1 - g)`` with g the glow's brightest channel (clamped to 1, taken at
    the glow's working resolution), so a glow around an element on a transparent plate shows when that plate is composited. When the
    finest octave's sigma is 2 pixels or more, the bright pass and the blurs run at half
    resolution (a glow has no fine detail to lose), which halves the cost.
    """

    type = "effect.glow"
    animated_batches = True

    class Options(vfx.Effect.Options):
        threshold = opt.Float(0.6, min=0.0, max=100.0, doc="linear luminance above which pixels glow")
        knee = opt.Float(0.2, min=0.0, max=10.0, doc="softness of the threshold, in luminance (0: hard cut)")
        radius = opt.Float(60.0, min=0.5, max=3000.0, doc="extent of the widest glow in pixels (3 sigma)")
        octaves = opt.Int(4, min=1, max=8, animate=False, doc="blur scales, each half the size of the previous")
        intensity = opt.Float(1.0, min=0.0, max=100.0, doc="strength of the glow")
        color = opt.Color("white", doc="tint of the glow")
        blend = opt.Choice("add", choices=("add", "screen"), doc="how the glow is combined with the input")

    def render(self, indices):
        import torch
        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        intensity = self.values("intensity", indices)
        if np.all(intensity <= 0):
            return batch
        n, _, h, w = px.shape
        octaves = self.options.octaves
        sigma0 = self.values("radius", indices) / 3.0
        # Glows are soft: when the finest octave is wide enough, the bright pass and every blur run
        # at half resolution (the sigmas corrected for the 2x2 box and the final bilinear upsampling).
        half = bool(np.all(sigma0 / 2 ** (octaves - 1) >= 2.0)) and min(h, w) >= 32
        if half:
            f = 2
            ph, pw = h % 2, w % 2
            src = torch.nn.functional.pad(px, (0, pw, 0, ph), mode="replicate") if ph or pw else px
            src = _downsample(src, 2)
        else:
            f, src = 1, px[:, :3]
        kernels = f > 1 and jit.enabled(px)
        if kernels:
            from . import glow_kernel
            threshold, knee = self.values("threshold", indices), self.values("knee", indices)
            bright = empty_planes((n, src.shape[2], src.shape[3], 3))
            for i in range(n):
                glow_kernel.bright_pass(jit.rgba(src[i]), bright[i].numpy().reshape(-1),
                                        np.float32(threshold[i]), np.float32(knee[i]))
            bright = bright.permute(0, 3, 1, 2)
        else:
            src = src[:, :3]
            t = _col(self.values("threshold", indices), px)
            k = _col(self.values("knee", indices), px)
            lum = _luma(src)
            soft = torch.minimum((lum - t + k).clamp_min(0.0), 2 * k)
            soft = soft * soft / (4 * k + 1e-6)
            weight = torch.maximum(soft, lum - t).clamp_min(0.0) / lum.clamp_min(1e-6)
            bright = _channels_last(src * weight)
        glow = None
        for o in range(octaves):
            sigma = sigma0 / 2 ** o
            if f > 1:
                sigma = np.sqrt(np.maximum(sigma ** 2 - 0.25 - 4 / 6, 0.25)) / f
            part = _blur_per_frame(bright, sigma, max_direct=3.0)
            glow = part if glow is None else glow.add_(part)
        color = self.values("color", indices)
        tint = _linear_rgb(color) * color[:, 3:4] * (intensity / octaves)[:, None]
        opaque = not self.input("input").video.has_alpha
        if kernels:
            out = empty_pixels(n, h, w)
            screen = self.options.blend == "screen"
            for i in range(n):
                glow_kernel.combine(jit.rgba(px[i]), glow[i].permute(1, 2, 0).contiguous().numpy(), jit.rgba(out[i], out=True),
                        h, w, tint[i].astype(np.float32), opaque, screen)
            return FrameBatch(indices, out)
        glow.mul_(_col(tint, px))
        # The glow's coverage g (its brightest channel) travels with it as a fourth channel, so the
        # upsampling and the final sum each take one pass over four interleaved channels.
        coverage = torch.zeros_like(glow[:, :1]) if opaque else glow.amax(dim=1, keepdim=True).clamp_(0.0, 1.0)
        glow = _channels_last(torch.cat([glow, coverage], dim=1))
        if f > 1:
            glow = _upsample(glow, 2)[:, :, :h, :w]
        if not opaque:
            glow[:, 3:4].mul_(1.0 - px[:, 3:4])              # alpha: a + g (1 - a) = g + a (1 - g)
        if self.options.blend == "screen":
            glow[:, :3].mul_(1.0 - px[:, :3].clamp(0.0, 1.0))
        out = torch.empty_like(px, memory_format=torch.channels_last)
        return FrameBatch(indices, torch.add(px, glow, out=out))


class Vignette(vfx.Effect):
    """Darkens (or tints) the picture towards its edges.

    The distance from ``center`` is measured in an ellipse that ``roundness`` blends between the
    frame's shape (0: distance 1 at the middle of each edge) and a circle (1), scaled so that
    the corners of the frame are always at distance sqrt(2) = 1.41 from a centred vignette. The
    vignette starts at distance ``radius`` and reaches full strength ``softness`` further out
    (a smoothstep); there each pixel's colour moves ``amount`` of the way to ``color`` (its
    alpha scales the amount; alpha of the picture is kept, so a tinted vignette stays within
    the picture's coverage).
    """

    type = "effect.vignette"
    animated_batches = True

    class Options(vfx.Effect.Options):
        amount = opt.Float(0.5, min=0.0, max=1.0, doc="strength at the edges: 0 none, 1 fully the colour")
        radius = opt.Float(0.6, min=0.0, max=3.0, doc="distance from the centre where it starts (corners: 1.41)")
        softness = opt.Float(0.8, min=0.0, max=4.0, doc="distance over which it fades in (0: hard edge)")
        roundness = opt.Float(1.0, min=0.0, max=1.0, doc="0 follows the frame's aspect, 1 is a circle")
        center = opt.Vec([0.5, 0.5], doc="[x, y] of the centre, 0..1 of the frame's width and height")
        color = opt.Color("black", doc="the colour at the edges (black darkens)")

    def render(self, indices):
        import torch
        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        amount = self.values("amount", indices)
        color = self.values("color", indices)
        strength = amount * color[:, 3]
        if np.all(strength <= 0):
            return batch
        n, _, h, w = px.shape
        round_ = self.values("roundness", indices)
        diag = math.hypot(w, h) / (2 * math.sqrt(2))
        sx = (w / 2) * (1 - round_) + diag * round_
        sy = (h / 2) * (1 - round_) + diag * round_
        center = self.values("center", indices)
        xs = torch.arange(w, device=px.device, dtype=torch.float32) + 0.5
        ys = torch.arange(h, device=px.device, dtype=torch.float32) + 0.5
        dx = (xs.view(1, 1, 1, w) - _col(center[:, 0] * w, px)) / _col(sx, px)
        dy = (ys.view(1, 1, h, 1) - _col(center[:, 1] * h, px)) / _col(sy, px)
        r = torch.sqrt(dx * dx + dy * dy)
        r0 = _col(self.values("radius", indices), px)
        soft = _col(np.maximum(self.values("softness", indices), 1e-4), px)
        u = ((r - r0) / soft).clamp(0.0, 1.0)
        f = u * u * (3 - 2 * u) * _col(strength, px)              # (N, 1, H, W)
        out = px * (1.0 - f)                                      # all four channels: fast and dense
        rgb = _linear_rgb(color)
        if np.any(rgb > 0):                                       # towards a colour: add it, within alpha
            out[:, :3] += (f * px[:, 3:4]) * _col(rgb, px)
        out[:, 3:4] = px[:, 3:4]
        return FrameBatch(indices, _channels_last(out))


class Grain(vfx.Effect):
    """Film grain: Gaussian noise of a given size, monochrome or per channel, seeded per frame.

    The grain is added to the colour in a square-root encoding (close to how the eye sees
    brightness, like sRGB): ``e = sqrt(x)``, ``e' = e + amount * w * noise``, ``out = e'^2``. It
    is weaker in the deep shadows and the highlights: ``w = 1 - response + response * 4 L (1 - L)``
    with L the square-root-encoded luma (clamped to 0..1), so with ``response = 1`` pure black
    and pure white get none and mid-grey the most. ``size`` is the grain's scale in pixels
    (noise drawn at 1/size of the resolution and upsampled bicubically, renormalised to unit
    deviation per frame). ``color`` mixes monochrome grain (0) with independent grain per channel (1).
    The noise of frame i comes from that frame's own generator, so a frame renders the same
    alone or in any batch, and differs between frames and seeds.
    """

    type = "effect.grain"
    animated_batches = True

    class Options(vfx.Effect.Options):
        amount = opt.Float(0.04, min=0.0, max=1.0,
                           doc="grain strength: standard deviation in square-root-encoded units")
        size = opt.Float(1.5, min=1.0, max=32.0, doc="grain size in pixels")
        color = opt.Float(0.0, min=0.0, max=1.0, doc="0 monochrome grain, 1 independent grain per channel")
        response = opt.Float(0.7, min=0.0, max=1.0,
                             doc="how much less grain in shadows and highlights (0: the same everywhere)")

    def _noise(self, frame: int, channels: int, stream: str, size: float, h: int, w: int):
        """Gaussian noise (1, channels, h, w) for one frame, of grain size ``size`` pixels, and the
        factor that brings it to unit deviation (applied by the caller, with the grain's strength)."""
        import torch
        g = self.ctx.generator(frame, stream)
        if size <= 1.0:
            return torch.randn((1, channels, h, w), generator=g).to(self.device), 1.0
        hs, ws = max(2, round(h / size)), max(2, round(w / size))
        small = torch.randn((1, channels, hs, ws), generator=g)
        if USE_OPENCV and str(self.device) == "cpu":
            import cv2
            big = _per_frame_cv(small, h, w, lambda a, d: cv2.resize(a, (w, h), dst=d, interpolation=cv2.INTER_CUBIC))
        else:
            big = torch.nn.functional.interpolate(small.to(self.device), size=(h, w), mode="bicubic",
                                                  align_corners=False)
        return big, 1.0 / max(float(big.std()), 1e-6)

    def render(self, indices):
        import torch
        batch = self.pull(self.input("input"), indices)
        px = batch.pixels
        amount = self.values("amount", indices)
        if np.all(amount <= 0):
            return batch
        n, _, h, w = px.shape
        size, color = self.values("size", indices), self.values("color", indices)
        channels = 3 if np.any(color > 0) else 1
        noise = torch.empty((n, channels, h, w), device=px.device)
        scale = np.ones(n)                    # unit deviation, folded into the grain's weight
        for k, i in enumerate(indices):
            c = float(color[k])
            if c <= 0.0:
                noise[k], scale[k] = self._noise(i, 1, "grain", float(size[k]), h, w)
            elif c >= 1.0:
                noise[k], scale[k] = self._noise(i, 3, "grain-color", float(size[k]), h, w)
            else:
                mono, f = self._noise(i, 1, "grain", float(size[k]), h, w)
                chroma, g = self._noise(i, 3, "grain-color", float(size[k]), h, w)
                noise[k] = chroma[0].mul_(g * math.sqrt(c)).add_(mono[0], alpha=f * math.sqrt(1.0 - c))
        has_alpha = self.input("input").video.has_alpha
        out = empty_pixels(n, h, w, px.device)
        if jit.enabled(px):
            from .grain_kernel import add_grain
            response = self.values("response", indices)
            for k in range(n):
                add_grain(jit.rgba(px[k]), noise[k].view(channels, h * w).numpy(), jit.rgba(out[k], out=True),
                          np.float32(amount[k] * scale[k]), np.float32(response[k]), has_alpha)
            return FrameBatch(indices, out)
        resp = _col(self.values("response", indices), px)
        amount = _col(amount * scale, px)
        for y0, y1 in imageops.row_strips(px):
            rgb, alpha = _straight(px[:, :, y0:y1].contiguous(), has_alpha)
            lum = _luma(rgb).clamp_(0.0, 1.0).sqrt_()
            weight = lum.mul_(1.0 - lum).mul_(4.0 * resp).add_(1.0 - resp).mul_(amount)
            e = rgb.clamp_min(0.0).sqrt_().add_(noise[:, :, y0:y1].mul_(weight)).clamp_min_(0.0)
            _assemble(e.mul_(e), alpha, premultiply=has_alpha, out=out[:, :, y0:y1])
        return FrameBatch(indices, out)


class Fade(vfx.Effect):
    """Fades from a colour (black by default) at the start and to it at the end, or to transparent.

    ``in`` frames at the start: frame 0 is fully ``color``, frame ``in`` and later fully the
    input, in between a linear mix (``curve = "smooth"`` eases it with a smoothstep). ``out``
    mirrors this at the end using the input's length: the last frame is fully the colour and
    ``out`` frames before it fully the input. The mix is in linear light on premultiplied
    pixels, so ``color = "transparent"`` fades the picture's alpha out too.
    """

    type = "effect.fade"
    animated_batches = True

    class Options(vfx.Effect.Options):
        vars()["in"] = opt.Time(0, doc="fade-in length at the start (0: none)")
        out = opt.Time(0, doc="fade-out length at the end (0: none)")
        color = opt.Color("black", doc="the colour faded from and to (\"transparent\" fades alpha)")
        curve = opt.Choice("linear", choices=("linear", "smooth"), doc="linear mix or smoothstep")

    def configure(self):
        super().configure()
        count = self.video.frame_count
        for name in ("in", "out"):
            length = getattr(self.options, name)
            if length >= count:
                raise ConfigureError(f"a {length}-frame fade does not fit the input's {count} frames", option=name)
        color = self.options.color
        translucent = isinstance(color, opt.Animated) or color[3] < 1.0
        self.video = self.video.with_(has_alpha=self.video.has_alpha or translucent)

    def weights(self, indices) -> np.ndarray:
        """How much of the input shows at each frame (0: only the colour, 1: only the input)."""
        f = np.asarray(indices, np.float64)
        last = self.video.frame_count - 1
        fade_in, fade_out = getattr(self.options, "in"), self.options.out
        v = np.ones_like(f)
        if fade_in > 0:
            v = np.minimum(v, f / fade_in)
        if fade_out > 0:
            v = np.minimum(v, (last - f) / fade_out)
        v = np.clip(v, 0.0, 1.0)
        return v * v * (3 - 2 * v) if self.options.curve == "smooth" else v

    def render(self, indices):
        import torch
        batch = self.pull(self.input("input"), indices)
        v = self.weights(indices)
        if np.all(v >= 1.0):
            return batch
        px = batch.pixels
        color = self.values("color", indices)
        target = np.concatenate([_linear_rgb(color) * color[:, 3:4], color[:, 3:4]], axis=1)
        out = torch.lerp(_col(target, px).expand_as(px), px, _col(v, px))
        return FrameBatch(indices, _channels_last(out))


@vfx.hookimpl
def register_nodes(register):
    for cls in (Grade, Blur, Glow, Vignette, Grain, Fade):
        register(cls)
