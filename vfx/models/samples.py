"""Sample grids: a fixed set of latents rendered into one PNG, to watch a model train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..util.atomic import AtomicFile
from .base import GenerativeModel


@torch.no_grad()
def sample_grid(model: GenerativeModel, count: int = 64, seed: int = 0, pad: int = 2) -> np.ndarray:
    """uint8 (H, W, 3) grid of ``count`` samples for fixed latents (row r: class r mod num_classes)."""
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(count, model.latent_dim, generator=gen)
    labels = None
    if model.num_classes:
        labels = (torch.arange(count) // cols % model.num_classes).to(model.device)
    was_training = model.training
    model.eval()
    try:
        imgs = model.generate(z.to(model.device), labels).float().clamp(0, 1).cpu()
    finally:
        model.train(was_training)
    r = model.resolution
    grid = np.zeros((rows * (r + pad) + pad, cols * (r + pad) + pad, 3), np.uint8)
    arr = (imgs.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
    for i in range(count):
        y, x = divmod(i, cols)
        grid[pad + y * (r + pad) : pad + y * (r + pad) + r, pad + x * (r + pad) : pad + x * (r + pad) + r] = arr[i]
    return grid


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 (H, W, 3) image as PNG atomically."""
    from PIL import Image

    atomic = AtomicFile(Path(path))
    try:
        Image.fromarray(image).save(atomic.temp, format="PNG")
        return atomic.commit()
    except BaseException:
        atomic.discard()
        raise
