"""The networks of the built-in architectures ``conv_vae`` and ``dcgan_sn`` (registered by
``vfx_plugins.generators.architectures``, which stays light: this module, and torch, load on first use).

Both work at any power-of-two resolution from 16 (tests) up; 64 and 128 are the supported sizes.
Widths: ``channels`` at the full-resolution level, doubling at each 2x step down, capped at
``max_channels``; the bottom of each network is 4x4. Defaults keep a model under 5 MB as float32.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vfx.models import GenerativeModel


def _label_embedding(model: GenerativeModel):
    """(embedding, its size) of a class-conditional model's labels; (None, 0) for an unconditional one."""
    e = int(model.config["embed_dim"]) if model.num_classes else 0
    return (nn.Embedding(model.num_classes, e) if e else None), e


def _widths(model: GenerativeModel) -> list[int]:
    """Channel count after each 2x step down from full resolution (index 0: R/2)."""
    cfg = model.config
    if cfg.get("channels") is None:
        cfg["channels"] = max(8, min(64, 2048 // cfg["resolution"]))
    if cfg.get("max_channels") is None:
        cfg["max_channels"] = 96
    c, top = int(cfg["channels"]), int(cfg["max_channels"])
    return [min(c * 2**i, top) for i in range(model.levels)]


class ConvVAE(GenerativeModel):
    """A convolutional VAE: stride-2 conv encoder to 4x4, linear to (mu, logvar); transposed-conv decoder.

    Class-conditional when ``num_classes > 0``: a learned label embedding (``embed_dim``) is joined
    to the encoder's features and to ``z`` before the decoder.
    """

    family = "vae"
    defaults = {"latent_dim": 64, "embed_dim": 16}

    def __init__(self, config: dict):
        super().__init__(config)
        w = _widths(self)
        self.embed, e = _label_embedding(self)
        enc, cin = [], 3
        for c in w:
            enc += [nn.Conv2d(cin, c, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        self.encoder = nn.Sequential(*enc)
        self.to_stats = nn.Linear(w[-1] * 16 + e, 2 * self.latent_dim)
        self.from_latent = nn.Linear(self.latent_dim + e, w[-1] * 16)
        dec = []
        for i in range(len(w) - 1, 0, -1):
            dec += [nn.ConvTranspose2d(w[i], w[i - 1], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        dec += [nn.ConvTranspose2d(w[0], 3, 4, 2, 1)]
        self.decoder = nn.Sequential(*dec)
        self._bottom = w[-1]

    def encode(self, images, labels=None):
        """(mu, logvar), each (N, latent_dim), for images (N, 3, R, R) in [0, 1]."""
        labels = self.check_labels(labels, images.shape[0], images.device)
        h = self.encoder(images * 2 - 1).flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels).to(h.dtype)], 1)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z, labels=None):
        """Images (N, 3, R, R) in [0, 1] for latents ``z`` (N, latent_dim)."""
        self.check_latents(z)
        labels = self.check_labels(labels, z.shape[0], z.device)
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels).to(z.dtype)], 1)
        h = self.from_latent(z).view(z.shape[0], self._bottom, 4, 4)
        return torch.sigmoid(self.decoder(nn.functional.leaky_relu(h, 0.2)).float())


class Discriminator(nn.Module):
    """Spectrally normalised conv discriminator; projection discriminator when conditional."""

    def __init__(self, widths: list[int], num_classes: int):
        super().__init__()
        layers, cin = [], 3
        for c in widths:
            layers += [spectral_norm(nn.Conv2d(cin, c, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            cin = c
        layers += [spectral_norm(nn.Conv2d(cin, cin, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.out = spectral_norm(nn.Linear(cin, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, cin)) if num_classes else None

    def forward(self, images, labels=None):
        """Logits (N,) for images (N, 3, R, R) in [-1, 1]."""
        h = self.features(images).sum(dim=(2, 3))
        logits = self.out(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(1)
        return logits


class DCGANSN(GenerativeModel):
    """A DCGAN generator (linear to 4x4, transposed convs with batch norm, tanh) trained against a
    spectrally normalised discriminator with the hinge loss. Class-conditional when ``num_classes > 0``:
    label embedding joined to ``z`` in G, projection in D. Only G is in a model file.
    """

    family = "gan"
    defaults = {"latent_dim": 64, "embed_dim": 16}

    def __init__(self, config: dict):
        super().__init__(config)
        w = _widths(self)
        self.embed, e = _label_embedding(self)
        self.project = nn.Linear(self.latent_dim + e, w[-1] * 16, bias=False)
        self.bn0 = nn.BatchNorm2d(w[-1])
        ups = []
        for i in range(len(w) - 1, 0, -1):
            ups += [
                nn.ConvTranspose2d(w[i], w[i - 1], 4, 2, 1, bias=False),
                nn.BatchNorm2d(w[i - 1]),
                nn.ReLU(inplace=True),
            ]
        ups += [nn.ConvTranspose2d(w[0], 3, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*ups)
        self._widths = w

    def synthesize(self, z, labels=None):
        """Raw generator output (N, 3, R, R) in [-1, 1]."""
        self.check_latents(z)
        labels = self.check_labels(labels, z.shape[0], z.device)
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels).to(z.dtype)], 1)
        h = self.project(z).view(z.shape[0], self._widths[-1], 4, 4)
        return self.net(torch.relu(self.bn0(h)))

    def build_discriminator(self):
        """A fresh spectrally normalised (projection) discriminator matched to this generator."""
        return Discriminator(self._widths, self.num_classes)
