"""Evaluate the shipped models on their held-out frames and draw their sample sheets.

    .venv/bin/python models/evaluate_shipped.py              # all three
    .venv/bin/python models/evaluate_shipped.py fire         # one

For every model (``plugins/generators/models/<name>.safetensors``, held-out frames from
``models/make_data.py`` in ``models/data/out/<name>/heldout``):

* VAE: each held-out frame is encoded and decoded through the model (``encode`` -> posterior
  mean -> ``decode``); the reconstructions are written to ``models/out/recon/<name>/`` and
  compared with ``vfx.evaluate.compare`` (the same as
  ``vfx eval --no-temporal models/data/out/<name>/heldout models/out/recon/<name>``).
* Every model: SWD (``vfx.evaluate.swd``) between the held-out frames and as many samples
  (z ~ N(0, I), fixed seed), with two references of the same size: the *floor*, held-out frames vs
  as many training frames (two samples of the real distribution: what a perfect model would
  score), and the *ceiling*, held-out frames vs the untrained model (the same architecture and
  config, initialised with the training seed). Also the SWD between the two halves of the
  training frames (1200 vs 1200, subsampled to 1024 each).
* A sample sheet ``docs/gallery/model_<name>.png``.

Results are merged into ``models/shipped_metrics.json`` (the numbers of docs/models.md) and printed.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "models" / "data" / "out"
OUT = ROOT / "models" / "out"
GALLERY = ROOT / "docs" / "gallery"
MODELS = ROOT / "plugins" / "generators" / "models"
NAMES = ("fire", "sky", "nebula")
SAMPLE_SEED = 1234


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)


@torch.no_grad()
def samples(model, n: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    z = torch.randn(n, model.latent_dim, generator=torch.Generator().manual_seed(seed))
    out = [model.generate(z[i:i + 64]) for i in range(0, n, 64)]
    return to_uint8(torch.cat(out))


@torch.no_grad()
def reconstruct(model, images: np.ndarray) -> np.ndarray:
    out = []
    for i in range(0, len(images), 64):
        mu, _ = model.encode(to_tensor(images[i:i + 64]))
        out.append(model.decode(mu))
    return to_uint8(torch.cat(out))


def untrained(path: Path):
    """The model's architecture and config with fresh weights, initialised as training started."""
    from vfx.models import build_model, read_config
    cfg = read_config(path)
    torch.manual_seed(int(cfg.get("training", {}).get("seed", 0)))
    return build_model({k: v for k, v in cfg.items() if k != "training"}).eval()


def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Rows of images (each (k, H, W, 3)) into one uint8 sheet on a dark grey background."""
    h, w = rows[0].shape[1:3]
    cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, 3), 40, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            sheet[y:y + h, x:x + w] = img
    return sheet


def evaluate(name: str) -> dict:
    from vfx.evaluate import compare, load_images, swd
    from vfx.media.encode import write_png
    from vfx.models import load_model
    path = MODELS / f"{name}.safetensors"
    model = load_model(path, "cpu")
    held = load_images(DATA / name / "heldout")
    train = load_images(DATA / name / "train")
    n = len(held)
    rng = np.random.default_rng(0)
    result = {"model": os.path.relpath(path, ROOT), "family": model.family,
              "architecture": model.config["architecture"], "size_bytes": path.stat().st_size,
              "parameters": sum(p.numel() for p in model.parameters()),
              "config": {k: model.config[k] for k in ("resolution", "latent_dim", "channels")},
              "training": model.config.get("training"), "heldout_frames": n}
    gen = samples(model, n)
    result["swd"] = {
        "model_vs_heldout": swd(held, gen).as_dict(),
        "floor_train_vs_heldout": swd(held, train[rng.choice(len(train), n, replace=False)]).as_dict(),
        "ceiling_untrained_vs_heldout": swd(held, samples(untrained(path), n)).as_dict(),
        "train_halves": swd(train[0::2], train[1::2]).as_dict(),
    }
    k = 8
    pick = np.sort(np.random.default_rng(1).choice(n, 2 * k, replace=False))   # held-out frames shown
    if model.family == "vae":
        rec = reconstruct(model, held)
        folder = OUT / "recon" / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        for i, img in enumerate(rec):
            write_png(folder / f"r_{i:04d}.png", img)
        cmp = compare(DATA / name / "heldout", folder, temporal=False)
        result["reconstruction"] = {"psnr_mean": cmp.psnr_mean, "psnr_pooled": cmp.psnr_pooled,
                                    "psnr_worst": cmp.worst_psnr.psnr, "ssim_mean": cmp.ssim_mean,
                                    "ssim_worst": cmp.worst_ssim.ssim, "frames": len(cmp.frames)}
        # rows: held-out frames, their reconstructions (twice), then random samples
        rows = [held[pick[:k]], rec[pick[:k]], held[pick[k:]], rec[pick[k:]], gen[:k], gen[k:2 * k]]
    else:
        rows = [gen[i * k:(i + 1) * k] for i in range(3)] + [held[pick[:k]]]     # 3 rows of samples, 1 real
    GALLERY.mkdir(parents=True, exist_ok=True)
    sheet = GALLERY / f"model_{name}.png"
    write_png(sheet, grid(rows))
    result["sample_sheet"] = os.path.relpath(sheet, ROOT)
    result["sample_sheet_bytes"] = sheet.stat().st_size
    return result


def main(argv: list[str]) -> int:
    global MODELS, GALLERY, OUT
    import argparse
    ap = argparse.ArgumentParser(description="Evaluate the shipped models; see the module docstring.")
    ap.add_argument("names", nargs="*", choices=[[], *NAMES], default=[])
    ap.add_argument("--models", type=Path, default=MODELS, help="folder of <name>.safetensors (a dry run)")
    ap.add_argument("--gallery", type=Path, default=GALLERY, help="where the sample sheets go")
    ap.add_argument("--out", type=Path, default=OUT, help="where the reconstructions go")
    ap.add_argument("--metrics", type=Path, default=ROOT / "models" / "shipped_metrics.json",
                    help="the JSON file the results are merged into")
    args = ap.parse_args(argv)
    MODELS, GALLERY, OUT = args.models.resolve(), args.gallery.resolve(), args.out.resolve()
    torch.set_num_threads(1)
    names = args.names or list(NAMES)
    OUT.mkdir(parents=True, exist_ok=True)
    metrics_path = args.metrics.resolve()
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    for name in names:
        t0 = time.perf_counter()
        metrics[name] = evaluate(name)
        metrics[name]["eval_seconds"] = round(time.perf_counter() - t0, 1)
        metrics_path.write_text(json.dumps(metrics, indent=2))
        m = metrics[name]
        s = m["swd"]
        line = (f"{name}: {m['family']} {m['size_bytes'] / 1e6:.2f} MB, {m['parameters']} params; SWD x1e3 "
                f"model {s['model_vs_heldout']['mean']:.1f}, floor {s['floor_train_vs_heldout']['mean']:.1f}, "
                f"ceiling {s['ceiling_untrained_vs_heldout']['mean']:.1f}, train halves {s['train_halves']['mean']:.1f}")
        if "reconstruction" in m:
            r = m["reconstruction"]
            line += (f"; reconstruction PSNR {r['psnr_mean']:.2f} dB (worst {r['psnr_worst']:.2f}), "
                     f"SSIM {r['ssim_mean']:.4f} (worst {r['ssim_worst']:.4f}) on {r['frames']} held-out frames")
        print(line + f"; sheet {m['sample_sheet']} ({m['sample_sheet_bytes'] / 1e3:.0f} KB)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
