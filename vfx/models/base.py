"""``GenerativeModel``: the base class every architecture subclasses, and what generator nodes call.

Colour contract: images going in and out are sRGB-encoded colour in [0, 1], float, (N, 3, R, R),
like the PNGs a model trained on.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .errors import ModelError

#: caps on the config values every architecture shares, checked before anything is built
MAX_CLASSES = 10_000
MAX_CLASS_NAME = 200
MAX_LATENT_DIM = 4096


def _config_int(cfg: dict, key: str, lo: int, hi: int) -> int:
    """``cfg[key]`` as an int in ``lo..hi`` (a float with no fraction is fine); ``ModelError`` otherwise."""
    value = cfg[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value != value
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ModelError(f"{key} must be a whole number, not {value!r}")
    if not lo <= value <= hi:
        raise ModelError(f"{key} must be from {lo} to {hi}, not {value:g}")
    return int(value)


class GenerativeModel(nn.Module):
    """A VAE or GAN generator built from a JSON-able ``config``; subclasses set ``family`` and ``defaults``.

    A ``"vae"`` subclass implements ``encode`` and ``decode``; a ``"gan"`` subclass implements
    ``synthesize`` (output in [-1, 1], differentiable) and ``build_discriminator``.
    """

    family: str = ""
    #: config values used when a config leaves them out (merged under the common ones below)
    defaults: dict = {}

    def __init__(self, config: dict):
        super().__init__()
        cfg = {"resolution": 64, "latent_dim": 64, "num_classes": 0, "class_names": []}
        cfg.update(self.defaults)
        cfg.update({k: v for k, v in dict(config).items() if v is not None})
        cfg["family"] = self.family
        cfg.setdefault("architecture", type(self).__name__)
        res = _config_int(cfg, "resolution", 16, 512)
        if res & (res - 1):
            raise ModelError(f"resolution {res} is not supported: use a power of two from 16 to 512 (64 or 128)")
        cfg["resolution"] = res
        cfg["latent_dim"] = _config_int(cfg, "latent_dim", 1, MAX_LATENT_DIM)
        names = cfg.get("class_names") or []
        if (
            not isinstance(names, list)
            or len(names) > MAX_CLASSES
            or not all(isinstance(c, str) and len(c) <= MAX_CLASS_NAME for c in names)
        ):
            raise ModelError(
                f"class_names must be a list of at most {MAX_CLASSES} strings of at most {MAX_CLASS_NAME} characters"
            )
        n = _config_int(cfg, "num_classes", 0, MAX_CLASSES) if cfg.get("num_classes") else 0
        if names and n and n != len(names):
            raise ModelError(f"num_classes is {n} but {len(names)} class names are given")
        cfg["num_classes"] = n or len(names)
        cfg["class_names"] = list(names) or [str(i) for i in range(cfg["num_classes"])]
        self.config: dict = cfg

    # --- the config, as attributes ---------------------------------------------------------
    @property
    def resolution(self) -> int:
        """Width and height of the images, in pixels."""
        return self.config["resolution"]

    @property
    def latent_dim(self) -> int:
        """Length of a latent vector ``z``."""
        return self.config["latent_dim"]

    @property
    def num_classes(self) -> int:
        """Number of class labels; 0 for an unconditional model."""
        return self.config["num_classes"]

    @property
    def class_names(self) -> list[str]:
        """Class names by label index (empty for an unconditional model)."""
        return self.config["class_names"]

    @property
    def levels(self) -> int:
        """Number of 2x resolution steps between 4x4 and the output size."""
        return int(math.log2(self.resolution // 4))

    @property
    def device(self) -> torch.device:
        """The device the weights are on."""
        return next(self.parameters()).device

    # --- the API generator nodes use ---------------------------------------------------------
    def check_labels(self, labels, n: int, device=None):
        """Validate ``labels`` for a batch of ``n``: None for an unconditional model, a LongTensor[n] otherwise."""
        if self.num_classes == 0:
            if labels is not None:
                raise ModelError("this model is unconditional: it takes no class labels")
            return None
        if labels is None:
            raise ModelError(
                f"this model is class-conditional: give labels (0..{self.num_classes - 1}: "
                f"{', '.join(self.class_names)})"
            )
        labels = torch.as_tensor(labels, dtype=torch.long, device=device)
        if labels.shape != (n,):
            raise ModelError(f"labels must have shape ({n},), not {tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ModelError(f"labels must be in 0..{self.num_classes - 1}")
        return labels

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 3, R, R) in [0, 1] for latents ``z`` (N, latent_dim) and optional class labels (N,)."""
        if self.family == "vae":
            return self.decode(z, labels)
        out = self.synthesize(z, labels)
        return ((out.float() + 1) * 0.5).clamp(0, 1)

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        """(mu, logvar) of the posterior for images (N, 3, R, R) in [0, 1]. VAE only."""
        raise ModelError(
            f"a {self.family or 'this'} model cannot encode images: only VAE models can "
            f"(architecture '{self.config.get('architecture')}')"
        )

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 3, R, R) in [0, 1] decoded from ``z``. VAE: the same as ``generate``."""
        if self.family == "gan":
            return self.generate(z, labels)
        raise NotImplementedError

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """GAN only: the generator's raw output in [-1, 1], differentiable (training uses it)."""
        raise ModelError(f"architecture '{self.config.get('architecture')}' is not a GAN")

    def build_discriminator(self) -> nn.Module:
        """GAN only: a new discriminator ``D(images in [-1, 1], labels) -> logits (N,)`` for training."""
        raise ModelError(f"architecture '{self.config.get('architecture')}' is not a GAN")

    def check_latents(self, z: torch.Tensor) -> None:
        """Raise ``ModelError`` unless ``z`` is (N, latent_dim)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ModelError(f"z must have shape (N, {self.latent_dim}), not {tuple(z.shape)}")
