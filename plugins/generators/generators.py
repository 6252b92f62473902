"""Generators: frames synthesised by learned models (``vfx.models``), a batch per forward pass.

``generator.gan`` and ``generator.vae`` walk through the model's latent space: one seeded keyframe
latent every ``period`` of walk time, joined by spherical interpolation (slerp). The latent of frame
``f`` is a pure function of ``f`` (the walk position is the running sum of ``speed`` from frame 0,
and keyframe ``k`` is drawn from a generator seeded by (pipeline seed, node id, k)), so any frame
range renders alone exactly as inside the whole render. ``generator.vae`` can also encode input
clips: reconstruct them, blend two of them in latent space, or stylise one with latent noise.

Models are ``.safetensors`` files (never pickles): a name shipped with vfx (``plugins/generators/models/``)
or a path relative to the pipeline file. A model makes sRGB pictures of R x R pixels (64 or 128);
the node converts them to linear light and resamples them to its size (``fit``, ``filter``).

Batching and exactness: the model runs on *chunks* of ``chunk`` consecutive frames aligned to
frame numbers (frames 0-7, 8-15, ... for a chunk of 8), every forward pass the same size. BLAS and
oneDNN/cuDNN kernels pick their blocking and thread split from the batch size, so the same latent
in a batch of 3 and a batch of 8 gives pictures that differ in the last bit; with fixed, aligned
chunks a frame is computed by the same arithmetic in a whole render, a ``--frames`` range, a farm
chunk or a single-frame preview, and gives the same pixels. Chunks are cached, so a render whose
engine batch is smaller than the chunk computes every frame once; a batch of several chunks pulls
its inputs once and runs one forward pass per chunk. The default chunk is 8 frames on the CPU
(where larger batches no longer help) and 64 on CUDA. On CUDA the forward pass runs under
``torch.autocast`` (bf16 where supported, else fp16), host tensors travel through pinned memory
with non-blocking copies queued ahead of the forward passes, and frames stay on the GPU; on the
CPU everything is float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, StreamInfo, opt
from vfx.ops import curves
from vfx.ops.color import srgb_decode, srgb_encode

#: default frames per forward pass (see the module docstring), by device type
DEFAULT_CHUNK = {"cpu": 8, "cuda": 64}
#: the largest forward pass a model gets, by model resolution (a model's config may set ``max_batch``)
MODEL_MAX_BATCH = {64: 256, 128: 128}
_DEFAULT_MAX_BATCH = 64
_LATENT_CACHE = 4096


def models_dir() -> Path:
    """The folder of the models shipped with vfx (``vfx_plugins/generators/models``)."""
    return Path(__file__).resolve().parent / "models"


def shipped_models() -> list[str]:
    """Names of the shipped models (file stems of ``models_dir()/*.safetensors``)."""
    folder = models_dir()
    return (
        sorted(
            p.name[: -len(".safetensors")]
            for p in folder.glob("*.safetensors")
            if not p.name.endswith(".ckpt.safetensors")
        )
        if folder.is_dir()
        else []
    )


def resolve_model(value: str, base_dir: Path) -> Path:
    """A ``model`` option value to a file: a shipped name, or a path relative to ``base_dir``.

    Raises ``ValueError`` with what was expected (an unknown name lists the shipped models).
    """
    looks_like_path = "/" in value or "\\" in value or "." in Path(value).name
    if not looks_like_path:
        path = models_dir() / f"{value}.safetensors"
        if path.is_file():
            return path
        names = shipped_models()
        import difflib

        hint = difflib.get_close_matches(value, names, n=1)
        raise ValueError(
            f"no shipped model named '{value}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else "")
            + f"; shipped models: {', '.join(names) if names else 'none installed'}; "
            "or give the path of a .safetensors file"
        )
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    if not path.is_file():
        raise ValueError(f"model file not found: {path}")
    return path


# ------------------------------------------------------------------------------------ maths


def slerp(a, b, t):
    """Spherical interpolation between rows of ``a`` and ``b`` (N, D) at fractions ``t`` (N,).

    Follows the great circle between the directions and interpolates the lengths with the same
    weights, the usual walk for Gaussian latents (their norm stays near sqrt(D)); nearly parallel
    rows fall back to linear interpolation. Float64 in, float64 out.
    """
    import torch

    t = t.view(-1, 1)
    na = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    nb = b / b.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dot = (na * nb).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    so_safe = torch.where(safe, so, torch.ones_like(so))
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so_safe, 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / so_safe, t)
    return wa * a + wb * b


#: progress between keyframe latents (``vfx.ops.curves.ease``): ``smooth`` and ``ease_in_out`` rest at
#: every keyframe
EASES = ("linear", "smooth", "ease_in", "ease_out", "ease_in_out")


# ------------------------------------------------------------------------------------ options


class _ClassRef(opt.Option):
    """A class of a conditional model, by name or by index."""

    type_name = "class name or index"

    def parse(self, value, ctx):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"expected a class name or index, got {value!r}")
        if isinstance(value, int) and value < 0:
            raise ValueError(f"a class index is at least 0, got {value}")
        return value


class _ModelOptions(vfx.Options):
    model = opt.Str(
        doc="a shipped model name (a file plugins/generators/models/<name>.safetensors of the vfx package) or the "
        "path of a .safetensors model file, relative to the pipeline file"
    )


# ``class`` is a Python keyword, so this option is added by name
_ClassOptions = type(
    "_ClassOptions",
    (_ModelOptions,),
    {
        "__module__": __name__,
        "class": _ClassRef(
            None,
            doc="class of a class-conditional model, by name or index (default: the first); "
            "an unconditional model takes none",
        ),
    },
)


class _WalkOptions(_ClassOptions):
    size = opt.Vec(
        None, integer=True, min=1, animate=False, doc="[width, height] in pixels (default: the pipeline size)"
    )
    duration = opt.Time(None, min_frames=1, doc="length (default: the pipeline duration, or the input's length)")
    period = opt.Time("2s", min_frames=1, doc="walk time between two keyframe latents")
    speed = opt.Float(
        1.0, doc="walk speed: 1 reaches the next keyframe latent every period, 0 holds, negative walks back"
    )
    ease = opt.Choice(
        "linear", choices=EASES, doc="progress between keyframe latents: linear, or easing that rests at each keyframe"
    )
    truncation = opt.Float(
        1.0, min=0.0, max=4.0, doc="scale of the latent: below 1 trades variety for typical, cleaner pictures"
    )
    fit = opt.Choice(
        "fill",
        choices=("fill", "fit", "stretch"),
        doc="how the square picture meets the frame: fill (cover, crop), fit (whole picture, "
        "transparent bars) or stretch",
    )
    filter = opt.Choice(
        "bicubic", choices=("bilinear", "bicubic", "lanczos"), doc="upscaling filter (lanczos is bicubic on a GPU)"
    )
    precision = opt.Choice(
        "auto",
        choices=("auto", "fp32", "fp16", "bf16"),
        doc="forward-pass precision: auto is bf16/fp16 autocast on CUDA and fp32 on the CPU",
    )
    chunk = opt.Int(
        None,
        min=1,
        max=4096,
        animate=False,
        doc="frames per model forward pass, aligned to frame numbers so a frame gets the same "
        "pixels in any range or batch (default: 8 on the CPU, 64 on CUDA)",
    )


# ------------------------------------------------------------------------------------ nodes


class _ModelGenerator(vfx.Generator):
    """Shared plumbing: model loading, the seeded latent walk, batched forward passes, resampling."""

    family: ClassVar[str] = ""
    animated_batches = True
    Options = _WalkOptions

    def __init__(self, node_id, options, ctx):
        super().__init__(node_id, options, ctx)
        self.model = None
        self.model_path: Path | None = None
        self.label: int | None = None
        #: the batch sizes ``render`` was called with, in order (tests check them against --batch-size)
        self.batch_sizes: list[int] = []
        #: the batch size of every model forward pass
        self.forward_sizes: list[int] = []
        self._latents: dict[int, object] = {}
        self._chunks = vfx.LRU(4)
        self._cum_speed: np.ndarray | None = None
        self._on_device = False

    # --- configure ------------------------------------------------------------------------
    def configure(self):
        o = self.options
        try:
            self.model_path = resolve_model(o.model, self.ctx.settings.base_dir)
        except ValueError as exc:
            raise ConfigureError(str(exc), option="model") from None
        from vfx.models import load_model

        try:
            self.model = load_model(self.model_path, device="cpu")
        except vfx.VfxError as exc:
            raise ConfigureError(str(exc), option="model") from None
        except Exception as exc:  # a corrupt file must still name the option
            raise ConfigureError(
                f"{self.model_path}: cannot load the model ({type(exc).__name__}: {exc})", option="model"
            ) from None
        family = self.model.family  # the registry knows only "vae" and "gan"
        if self.family and family != self.family:
            raise ConfigureError(
                f"{self.type} needs a {self.family.upper()} model; {self.model_path.name} is a "
                f"{family.upper()} (use generator.{family})",
                option="model",
            )
        self.label = self._resolve_class(getattr(o, "class"))
        self.resolution = int(self.model.resolution)
        self.latent_dim = int(self.model.latent_dim)
        self.configure_stream()

    def _resolve_class(self, value):
        names = list(self.model.class_names or [])
        n = int(self.model.num_classes or 0)
        if n == 0:
            if value is not None:
                raise ConfigureError(
                    f"{self.model_path.name} is unconditional: it has no classes to choose from", option="class"
                )
            return None
        listed = ", ".join(f"{i}: {name}" for i, name in enumerate(names))
        if value is None:
            return 0
        if isinstance(value, int):
            if value >= n:
                raise ConfigureError(
                    f"class index {value} is out of range; {self.model_path.name} has {n} classes ({listed})",
                    option="class",
                )
            return value
        if value in names:
            return names.index(value)
        if value.isdigit() and int(value) < n:
            return int(value)
        import difflib

        hint = difflib.get_close_matches(value, names, n=1)
        raise ConfigureError(
            f"unknown class '{value}'"
            + (f" (did you mean '{hint[0]}'?)" if hint else "")
            + f"; {self.model_path.name} has classes {listed}",
            option="class",
        )

    def configure_stream(self, count: int | None = None, audio=None):
        s = self.ctx.settings
        w, h = self.options.size or (s.width, s.height)
        frames = self.options.duration or count or s.duration
        self.video = StreamInfo(w, h, s.fps, frames, self.options.fit == "fit")
        self.audio = audio

    def input_files(self):
        return [self.model_path] if self.model_path else []

    # --- lifecycle ---------------------------------------------------------------------------
    def open(self):
        self._to_device()

    def _to_device(self):
        if not self._on_device:
            self.model = self.model.to(self.device).eval()
            self._on_device = True

    def close(self):
        self._latents.clear()
        self._chunks.clear()

    @property
    def on_cuda(self) -> bool:
        return str(self.device).startswith("cuda")

    # --- the latent walk ----------------------------------------------------------------------
    def keyframe_latent(self, k: int):
        """Keyframe latent ``k`` (float64, CPU): seeded by (pipeline seed, node id, k)."""
        import torch

        z = self._latents.get(k)
        if z is None:
            if len(self._latents) >= _LATENT_CACHE:
                self._latents.clear()
            z = torch.randn(self.latent_dim, generator=self.ctx.generator(k, "latent"), dtype=torch.float64)
            self._latents[k] = z
        return z

    def walk_positions(self, indices: list[int]) -> np.ndarray:
        """Walk time of each frame, in frames: the sum of ``speed`` over frames 0 .. f-1."""
        f = np.asarray(indices, np.int64)
        speed = self.options.speed
        if not isinstance(speed, vfx.Animated):
            return f.astype(np.float64) * float(speed)
        need = int(f.max()) + 1
        cum = self._cum_speed
        if cum is None or len(cum) < need + 1:
            n = max(need, min(2 * (len(cum) - 1) if cum is not None else 256, self.video.frame_count))
            values = speed.evaluate(np.arange(n), self.ctx.settings.fps)
            cum = self._cum_speed = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
        return cum[f]

    def walk_latents(self, indices: list[int]):
        """The walk's latent (N, latent_dim) float64 for each frame, before truncation."""
        import torch

        period = float(self.options.period)
        pos = self.walk_positions(indices) / period
        k = np.floor(pos).astype(np.int64)
        u = curves.ease(np.clip(pos - k, 0.0, 1.0), self.options.ease)
        a = torch.stack([self.keyframe_latent(int(i)) for i in k])
        b = torch.stack([self.keyframe_latent(int(i) + 1) for i in k])
        return slerp(a, b, torch.from_numpy(np.ascontiguousarray(u, np.float64)))

    def latents(self, indices: list[int]):
        """Truncated walk latents as float32 (N, latent_dim) on the CPU."""
        import torch

        z = self.walk_latents(indices)
        trunc = torch.from_numpy(self.values("truncation", indices)).view(-1, 1)
        return (z * trunc).to(torch.float32)

    # --- running the model ----------------------------------------------------------------------
    @property
    def chunk(self) -> int:
        """Frames per forward pass: the ``chunk`` option or the device default, capped by the model."""
        cap = int(self.model.config.get("max_batch") or MODEL_MAX_BATCH.get(self.resolution, _DEFAULT_MAX_BATCH))
        size = self.options.chunk or DEFAULT_CHUNK["cuda" if self.on_cuda else "cpu"]
        return max(1, min(size, cap))

    def _autocast(self):
        import contextlib
        import torch

        p = self.options.precision
        if not self.on_cuda:
            return contextlib.nullcontext()
        if p == "fp32":  # true float32: no TF32 in the convolutions either
            cudnn = torch.backends.cudnn
            return cudnn.flags(
                enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False
            )
        if p == "auto":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float16 if p == "fp16" else torch.bfloat16
        return torch.autocast("cuda", dtype=dtype)

    def to_device(self, t):
        """A CPU tensor onto the node's device (pinned memory, non-blocking on CUDA)."""
        if not self.on_cuda or t.device.type != "cpu":
            return t.to(self.device)
        return t.pin_memory().to(self.device, non_blocking=True)

    def labels(self, n: int):
        import torch

        if self.label is None:
            return None
        return torch.full((n,), self.label, dtype=torch.long, device=self.device)

    def forward(self, fn, *tensors):
        """``fn(*chunk, labels)`` over the batch, ``self.chunk`` rows at a time.

        Returns float32 outputs on the node's device (a tuple when ``fn`` returns one).
        """
        import torch

        self._to_device()
        n = tensors[0].shape[0]
        step = self.chunk
        outs = []
        with torch.inference_mode():
            # queue every host-to-device copy first: they overlap the forward passes that follow
            chunks = [tuple(self.to_device(t[i : i + step]) for t in tensors) for i in range(0, n, step)]
            for chunk in chunks:
                self.forward_sizes.append(int(chunk[0].shape[0]))
                with self._autocast():
                    out = fn(*chunk, self.labels(chunk[0].shape[0]))
                outs.append(out)
        if isinstance(outs[0], tuple):
            return tuple(torch.cat([o[j].float() for o in outs]) for j in range(len(outs[0])))
        return torch.cat([o.float() for o in outs])

    # --- pictures in and out -------------------------------------------------------------------
    def to_frames(self, srgb):
        """Model pictures (N, 3, R, R) sRGB in [0, 1] to the node's frames: (N, 4, H, W) linear RGBA."""
        import torch
        from vfx.ops import resample

        n, _, r, _ = srgb.shape
        W, H = self.video.width, self.video.height
        rgba = torch.ones((n, r, r, 4), dtype=torch.float32, device=srgb.device).permute(0, 3, 1, 2)
        rgba[:, :3] = srgb_decode(srgb.float().clamp(0.0, 1.0))
        filt = self.options.filter
        fit = self.options.fit
        if fit == "stretch":
            out = resample.resize(rgba, W, H, filt)
        elif fit == "fill":
            c = r * min(W, H) / max(W, H)  # the part of the square that shows
            ci = int(round(c))
            if abs(c - ci) < 1e-6 and (r - ci) % 2 == 0:
                o = (r - ci) // 2  # an exact crop of whole model pixels, then one resize
                crop = rgba[:, :, o : o + ci, :] if W >= H else rgba[:, :, :, o : o + ci]
                out = resample.resize(crop, W, H, filt)
            else:
                s = max(W, H)
                big = resample.resize(rgba, s, s, filt)
                y0, x0 = (s - H) // 2, (s - W) // 2
                out = big[:, :, y0 : y0 + H, x0 : x0 + W]
        else:
            s = min(W, H)
            out = torch.zeros((n, H, W, 4), dtype=torch.float32, device=srgb.device).permute(0, 3, 1, 2)
            y0, x0 = (H - s) // 2, (W - s) // 2
            inner = resample.resize(rgba, s, s, filt)
            out[:, :, y0 : y0 + s, x0 : x0 + s] = inner
            out[:, 3, y0 : y0 + s, x0 : x0 + s] = 1.0
        if out is rgba or not out.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        out.clamp_(0.0, 1.0)
        if fit != "fit":
            out[:, 3] = 1.0
        return out

    def from_frames(self, pixels):
        """Frames (N, 4, h, w) linear premultiplied to model pictures (N, 3, R, R) sRGB in [0, 1].

        The inverse of ``to_frames``'s placement: with ``fill`` the frame lands in the middle of the
        square (edge pixels repeated above and below, or left and right), with ``fit`` the frame's
        middle square is the picture, with ``stretch`` the whole frame is squeezed into it.
        Transparent parts count as black.
        """
        import torch
        from vfx.ops import resample

        r = self.resolution
        n, _, h, w = pixels.shape
        fit = self.options.fit

        def scaled(x, tw, th):
            shrink = tw < x.shape[3] or th < x.shape[2]
            return resample.resize(x, tw, th, "area" if shrink else "bicubic")

        if fit == "stretch":
            pic = scaled(pixels, r, r)
        elif fit == "fit":
            c = min(h, w)
            y0, x0 = (h - c) // 2, (w - c) // 2
            pic = scaled(pixels[:, :, y0 : y0 + c, x0 : x0 + c], r, r)
        else:
            tw, th = (r, max(1, round(r * h / w))) if w >= h else (max(1, round(r * w / h)), r)
            pic = scaled(pixels, tw, th)
            pad_y, pad_x = r - th, r - tw
            pic = torch.nn.functional.pad(
                pic[:, :3].contiguous(),
                (pad_x // 2, pad_x - pad_x // 2, pad_y // 2, pad_y - pad_y // 2),
                mode="replicate",
            )
        return srgb_encode(pic[:, :3].float().clamp(0.0, 1.0)).contiguous()

    # --- render ------------------------------------------------------------------------------
    def render(self, indices):
        self.batch_sizes.append(len(indices))
        return FrameBatch(indices, self.to_frames(self.pictures(indices)))

    def pictures(self, indices):
        """Model pictures (N, 3, R, R) sRGB in [0, 1] for these frames, computed by whole chunks."""
        import torch

        size = self.chunk
        need = sorted({f // size for f in indices})
        missing = [c for c in need if c not in self._chunks]
        if missing:
            frames = [f for c in missing for f in range(c * size, (c + 1) * size)]
            out = self.synthesize(frames)
            self._chunks.resize(len(self._chunks) + len(missing))  # room for the whole batch
            for j, c in enumerate(missing):
                self._chunks.put(c, out[j * size : (j + 1) * size])
        for c in need:
            self._chunks.get(c)
        rows = torch.stack([self._chunks.peek(f // size)[f % size] for f in indices])
        self._chunks.resize(max(4, 2 * len(need)))
        return rows

    def synthesize(self, indices):
        """Model pictures (N, 3, R, R) sRGB in [0, 1] for these frames (whole chunks), on the node's device."""
        z = self.latents(indices)
        return self.forward(self.model.generate, z)


class GanGenerator(_ModelGenerator):
    """Frames from a GAN generator walking smoothly through its latent space.

    Every ``period`` of walk time there is a keyframe latent drawn from a generator seeded by the
    pipeline seed, the node id and the keyframe's number; frames between two keyframes take the
    spherical interpolation (slerp) of the two, eased by ``ease``. ``speed`` (animatable) sets how
    fast the walk goes; the walk position of a frame is the sum of the speeds before it, so any
    frame renders alone exactly as in a whole render. ``truncation`` scales the latent. A
    class-conditional model draws the ``class`` asked for. The model's square sRGB pictures are
    converted to linear light and resampled to the node's size (``fit``, ``filter``); the output
    is opaque (except the bars of ``fit = "fit"``). The model runs on aligned ``chunk``-frame
    batches (cached), under autocast on CUDA, so a frame gets the same pixels in any range.
    """

    type = "generator.gan"
    family = "gan"


class VaeGenerator(_ModelGenerator):
    """Frames from a VAE: a latent walk like ``generator.gan``, or a VAE applied to input clips.

    ``mode`` picks what is decoded:

    - ``walk``: the seeded latent walk of ``generator.gan`` (``period``, ``speed``, ``ease``,
      ``truncation``), decoded;
    - ``reconstruct``: each frame of ``input`` scaled down to the model's resolution, encoded
      (the posterior mean) and decoded: the clip as the model sees it;
    - ``blend``: the latents of ``input`` and ``input_b`` mixed by ``mix`` (0: input, 1: input_b,
      animatable), decoded; ``input_b`` holds its last frame if it is shorter;
    - ``stylise``: the latent of ``input`` plus ``amount`` (animatable) times the seeded latent
      walk, decoded: a coherent drift away from the input that changes over ``period``.

    Input frames are placed into the model's square the inverse way ``fit`` places the model's
    pictures into the frame, so a reconstruction lines up with its input. The output's length is
    the input's (or ``duration``); audio passes through from ``input``.
    """

    type = "generator.vae"
    family = "vae"

    class Options(_WalkOptions):
        mode = opt.Choice(
            "walk",
            choices=("walk", "reconstruct", "blend", "stylise"),
            doc="walk the latent space, or encode input clips: reconstruct, blend or stylise",
        )
        input = opt.Input(None, doc="the clip to encode (reconstruct, blend, stylise)")
        input_b = opt.Input(None, doc="the second clip of blend")
        mix = opt.Float(0.5, min=0.0, max=1.0, doc="blend: 0 is input, 1 is input_b")
        amount = opt.Float(0.5, min=0.0, doc="stylise: strength of the latent noise added")

    def configure(self):
        o = self.options
        needs = {"walk": (), "reconstruct": ("input",), "stylise": ("input",), "blend": ("input", "input_b")}
        for name in ("input", "input_b"):
            given = getattr(o, name) is not None
            if name in needs[o.mode] and not given:
                raise ConfigureError(f"mode '{o.mode}' needs {name}", option=name)
            if given and name not in needs[o.mode]:
                raise ConfigureError(
                    f"{name} is not used by mode '{o.mode}'"
                    + ("" if o.mode != "walk" else "; use mode reconstruct, blend or stylise"),
                    option=name,
                )
        super().configure()

    def configure_stream(self, count=None, audio=None):
        src = self.input("input")
        if src is not None:
            count, audio = src.video.frame_count, src.audio
        super().configure_stream(count, audio)

    def render_audio(self, start, count):
        return self.input("input").audio_samples(start, count)

    def pull_encoded(self, name: str, indices):
        """Posterior means (N, latent_dim) of an input's frames (its last frame past its end)."""
        node = self.input(name)
        last = node.video.frame_count - 1
        pixels = self.pull(node, [min(i, last) for i in indices]).pixels
        pics = self.from_frames(pixels)
        mu, _logvar = self.forward(self.model.encode, pics)
        return mu

    def synthesize(self, indices):
        import torch

        mode = self.options.mode
        if mode == "walk":
            return super().synthesize(indices)
        mu = self.pull_encoded("input", indices)
        if mode == "blend":
            mix = torch.from_numpy(self.values("mix", indices)).to(torch.float32).to(mu.device).view(-1, 1)
            mu = torch.lerp(mu, self.pull_encoded("input_b", indices), mix)
        elif mode == "stylise":
            amount = torch.from_numpy(self.values("amount", indices)).view(-1, 1)
            noise = (self.walk_latents(indices) * amount).to(torch.float32)
            mu = mu + self.to_device(noise)
        return self.forward(self.model.decode, mu)
