"""Training loops for ``vfx train vae|gan``: seeded, checkpointed, resumable, optionally mixed precision.

Losses. VAE: ``(sum of squared errors + kl_weight * KL) / pixels per image``, averaged over the
batch (a Gaussian decoder; the reported ``mse`` is per pixel, ``kl`` per image in nats).
GAN: hinge loss, one D step then one G step per training step, Adam(betas 0.0, 0.9).

Randomness: weights from ``torch.manual_seed(seed)``; batches, augmentation and noise from one CPU
``torch.Generator`` seeded with ``seed + 1``. Same seed, data and options => the same model on the CPU.

A checkpoint (``OUT.ckpt.safetensors``) holds the step, the model (and discriminator) weights, every
optimiser's state, the GradScaler state, the data generator's state and torch's RNG states; resuming
restores all of them, so N steps then M resumed steps equal N + M steps in one run on the CPU.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..engine import default_torch_threads
from .base import GenerativeModel
from .data import DataSource, augment, load_dataset
from .errors import ModelError, ModelFileError
from .io import CHECKPOINT_PREFIX, FORMAT, load_tensors, read_config, save_model, state_tensors, write_safetensors
from .registry import architecture, build_model
from .samples import sample_grid, write_png

DEFAULT_ARCH = {"vae": "conv_vae", "gan": "dcgan_sn"}
DEFAULT_LR = {"vae": 1e-3, "gan": 2e-4}


@dataclass
class TrainSettings:
    """Everything ``vfx train`` is told; None means "the architecture's / family's default"."""

    family: str
    data: list[str]
    out: str
    architecture: str | None = None
    resolution: int = 64
    latent_dim: int | None = None
    channels: int | None = None
    steps: int = 2000
    batch_size: int = 32
    lr: float | None = None
    kl_weight: float = 0.5
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    checkpoint_every: int = 0
    resume: bool = False
    augment: bool = True
    video_frames: int = 256
    half: bool = False
    grid: int = 64
    threads: int | None = None


@dataclass
class TrainResult:
    """What a run produced: files, speed and the loss history (one dict per step run)."""

    out: Path
    steps: int
    start_step: int
    seconds: float
    images: int
    history: list[dict] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)

    @property
    def steps_per_second(self) -> float:
        """Training steps per second in this run (data loading excluded)."""
        return (self.steps - self.start_step) / self.seconds if self.seconds > 0 else 0.0


def checkpoint_path(out: str | Path) -> Path:
    """``model.safetensors`` -> ``model.ckpt.safetensors``."""
    out = Path(out)
    return (
        out.with_name(out.stem + ".ckpt.safetensors")
        if out.suffix == ".safetensors"
        else out.with_name(out.name + ".ckpt.safetensors")
    )


def samples_dir(out: str | Path) -> Path:
    """``model.safetensors`` -> ``model.samples/``."""
    out = Path(out)
    return out.with_name((out.stem if out.suffix == ".safetensors" else out.name) + ".samples")


# --- optimiser state <-> safetensors ---------------------------------------------------------


def _flatten(obj, prefix: str, tensors: dict):
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _unflatten(obj, tensors: dict):
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    return obj


# --- the run ---------------------------------------------------------------------------------


class _Run:
    def __init__(self, s: TrainSettings, log: Callable[[str], None]):
        if s.family not in DEFAULT_ARCH:
            raise ModelError(f"unknown model family '{s.family}': use vae or gan")
        if s.steps < 1 or s.batch_size < 1:
            raise ModelError("--steps and --batch-size must be at least 1")
        self.s, self.log = s, log
        self.out = Path(s.out)
        self.ckpt = checkpoint_path(self.out)
        self.device = torch.device(s.device)
        self.amp_dtype = None
        if s.amp:
            if self.device.type == "cuda":
                self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
                log(f"mixed precision: {str(self.amp_dtype).replace('torch.', '')} autocast")
            else:
                log("note: --amp is ignored on the CPU (mixed precision needs CUDA); training in float32")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def autocast(self):
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=self.amp_dtype is not None
        )

    def setup(self) -> None:
        s = self.s
        resume_cfg = None
        if s.resume:
            if not self.ckpt.is_file():
                raise ModelFileError(f"--resume: no checkpoint at {self.ckpt} (written by --checkpoint-every)")
            resume_cfg = read_config(self.ckpt)
            res = int(resume_cfg["resolution"])
            if res != s.resolution:
                self.log(f"note: resuming at the checkpoint's resolution {res} (not {s.resolution})")
            s.resolution = res
        arch_name = (resume_cfg or {}).get("architecture") or s.architecture or DEFAULT_ARCH[s.family]
        if s.architecture and s.architecture != arch_name:
            raise ModelError(
                f"--resume: the checkpoint {self.ckpt} is architecture '{arch_name}', not '{s.architecture}'"
            )
        cls = architecture(arch_name)
        if cls.family != s.family:
            raise ModelError(f"architecture '{arch_name}' is a {cls.family} model: use `vfx train {cls.family}`")
        self.data = load_dataset([DataSource.parse(d) for d in s.data], s.resolution, s.video_frames)
        if resume_cfg is not None:
            config = resume_cfg
            if list(config.get("class_names") or []) != self.data.class_names and (
                config.get("num_classes") or self.data.class_names
            ):
                raise ModelError(
                    f"--resume: the checkpoint has classes {config.get('class_names')}, the data "
                    f"{self.data.class_names}"
                )
        else:
            config = {
                "architecture": arch_name,
                "resolution": s.resolution,
                "latent_dim": s.latent_dim,
                "channels": s.channels,
                "num_classes": len(self.data.class_names),
                "class_names": self.data.class_names,
            }
        torch.manual_seed(s.seed)
        self.model: GenerativeModel = build_model(config).to(self.device).train()
        self.gen = torch.Generator().manual_seed(s.seed + 1)
        lr = s.lr or DEFAULT_LR[s.family]
        if s.family == "vae":
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
            self.disc, self.opt_d = None, None
        else:
            self.disc = self.model.build_discriminator().to(self.device).train()
            self.opt = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(0.0, 0.9))
            self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=lr, betas=(0.0, 0.9))
        self.step = 0
        if s.resume:
            self.load_checkpoint()

    # --- checkpoints ---
    def save_checkpoint(self) -> Path:
        tensors = state_tensors(self.model, CHECKPOINT_PREFIX)
        state = {"step": self.step, "family": self.s.family, "settings": asdict(self.s)}
        state["opt"] = _flatten(self.opt.state_dict(), "opt", tensors)
        if self.disc is not None:
            tensors.update(state_tensors(self.disc, "disc."))
            state["opt_d"] = _flatten(self.opt_d.state_dict(), "opt_d", tensors)
        state["scaler"] = self.scaler.state_dict() if self.scaler.is_enabled() else None
        tensors["rng.data"] = self.gen.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "vfx_format": FORMAT,
            "vfx_config": json.dumps(self.model_config(), sort_keys=True),
            "vfx_checkpoint": json.dumps(state),
        }
        return write_safetensors(self.ckpt, tensors, meta)

    def load_checkpoint(self) -> None:
        tensors, meta = load_tensors(self.ckpt)
        if "vfx_checkpoint" not in meta:
            raise ModelFileError(f"{self.ckpt}: not a vfx training checkpoint")
        state = json.loads(meta["vfx_checkpoint"])
        if state.get("family") != self.s.family:
            raise ModelError(f"--resume: {self.ckpt} is a {state.get('family')} checkpoint")

        def sub(prefix):
            return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

        try:
            self.model.load_state_dict(sub(CHECKPOINT_PREFIX))
            self.opt.load_state_dict(_unflatten(state["opt"], tensors))
            if self.disc is not None:
                self.disc.load_state_dict(sub("disc."))
                self.opt_d.load_state_dict(_unflatten(state["opt_d"], tensors))
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ModelFileError(f"{self.ckpt}: the checkpoint does not fit this model ({str(exc)[:300]})") from None
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        self.gen.set_state(tensors["rng.data"])
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(state["step"])
        self.log(f"resumed from {self.ckpt} at step {self.step}")
        if self.step >= self.s.steps:
            self.log(f"note: the checkpoint is at step {self.step}, --steps is {self.s.steps}: nothing to train")

    def model_config(self) -> dict:
        s = self.s
        cfg = dict(self.model.config)
        cfg["training"] = {
            "steps": self.step,
            "seed": s.seed,
            "batch_size": s.batch_size,
            "lr": s.lr or DEFAULT_LR[s.family],
            "augment": s.augment,
            "data": [str(d) for d in s.data],
            "images": len(self.data),
        }
        if s.family == "vae":
            cfg["training"]["kl_weight"] = s.kl_weight
        return cfg

    # --- steps ---
    def batch(self):
        idx = torch.randint(len(self.data), (self.s.batch_size,), generator=self.gen)
        x = augment(
            self.data.images[idx].to(self.device, non_blocking=True), self.s.resolution, self.gen, self.s.augment
        )
        y = self.data.labels[idx].to(self.device) if self.model.num_classes else None
        return x, y

    def noise(self, *shape):
        return torch.randn(*shape, generator=self.gen).to(self.device)

    def backward(self, loss, opt):
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(opt)
        self.scaler.update()

    def vae_step(self) -> dict:
        x, y = self.batch()
        with self.autocast():
            mu, logvar = self.model.encode(x, y)
            mu, logvar = mu.float(), logvar.float()
            z = mu + self.noise(*mu.shape) * torch.exp(0.5 * logvar)
            rec = self.model.decode(z, y).float()
        sse = ((rec - x) ** 2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).mean()
        pixels = x[0].numel()
        loss = (sse + self.s.kl_weight * kl) / pixels
        self.backward(loss, self.opt)
        return {"loss": loss.item(), "mse": sse.item() / pixels, "kl": kl.item()}

    def gan_step(self) -> dict:
        x, y = self.batch()
        b, g, d = x.shape[0], self.model, self.disc
        with self.autocast():
            with torch.no_grad():
                fake = g.synthesize(self.noise(b, g.latent_dim), y)
            loss_d = F.relu(1 - d(x * 2 - 1, y).float()).mean() + F.relu(1 + d(fake, y).float()).mean()
        self.backward(loss_d, self.opt_d)
        for p in d.parameters():
            p.requires_grad_(False)
        with self.autocast():
            loss_g = -d(g.synthesize(self.noise(b, g.latent_dim), y), y).float().mean()
        self.backward(loss_g, self.opt)
        for p in d.parameters():
            p.requires_grad_(True)
        return {"d": loss_d.item(), "g": loss_g.item()}

    def run(self, progress) -> TrainResult:
        s = self.s
        result = TrainResult(self.out, s.steps, self.step, 0.0, len(self.data))
        step_fn = self.vae_step if s.family == "vae" else self.gan_step
        t0 = time.perf_counter()
        while self.step < s.steps:
            losses = step_fn()
            self.step += 1
            if not all(math.isfinite(v) for v in losses.values()):
                raise ModelError(
                    f"training diverged at step {self.step} (loss {losses}); try a lower --lr"
                    + ("" if s.amp is False else " or no --amp")
                )
            result.history.append(losses)
            if progress is not None:
                progress(self.step, s.steps, losses)
            if s.checkpoint_every and (self.step % s.checkpoint_every == 0 or self.step == s.steps):
                result.checkpoints.append(self.save_checkpoint())
                grid = sample_grid(self.model, s.grid, seed=s.seed + 7)
                result.samples.append(write_png(samples_dir(self.out) / f"step_{self.step:06d}.png", grid))
        result.seconds = time.perf_counter() - t0
        self.model.eval()
        self.model.config.update(self.model_config())
        save_model(self.model, self.out, half=s.half)
        return result


def train(
    settings: TrainSettings,
    progress: Callable[[int, int, dict], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a model as ``settings`` say and write it to ``settings.out`` (atomically).

    ``progress(step, total, losses)`` is called after every step; ``log(message)`` for notes.
    """
    run = _Run(settings, log or (lambda _msg: None))
    before = torch.get_num_threads()
    if run.device.type == "cpu":
        # one thread on a 2-core machine: two ran a step 4-6x slower when the other core was busy
        torch.set_num_threads(default_torch_threads(settings.threads))
    try:
        run.setup()
        return run.run(progress)
    finally:
        torch.set_num_threads(before)
