"""Render the training and held-out frames of the shipped models from the project's own effects.

Each dataset is one small pipeline in ``models/data/<name>.toml`` rendered many times with
different seeds and options, exactly as ``vfx render models/data/<name>.toml --set ...`` would
(the same ``vfx.pipeline.load`` / ``vfx.graph.build`` / ``vfx.engine.render`` calls, in one process
so the start-up cost is paid once). Every variant's options are drawn from a ``random.Random``
seeded by the variant number, so a run is reproducible. Held-out variants use pipeline seeds from
100000 up, which the training variants never use: many short variants rather than a few long
ones, so that the held-out set spans the range of options (the SWD floor depends on it).

Output (ignored by git): ``models/data/out/<name>/{train,heldout}/v<NNNN>_<FFFF>.png``.

    .venv/bin/python models/make_data.py fire sky nebula            # the shipped datasets
    .venv/bin/python models/make_data.py fire --variants 10 --heldout 2
    .venv/bin/python models/make_data.py fire --print-commands      # the equivalent vfx commands
"""
from __future__ import annotations

import argparse
import random
import shlex
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
HELDOUT_SEED = 100000

GREYS = ["#27221f", "#3a3430", "#4a4642", "#5b544c", "#2e2a2a", "#6a625a"]


def _hex(rgb) -> str:
    return "#" + "".join(f"{max(0, min(255, int(round(c)))):02x}" for c in rgb)


def fire_overrides(r: random.Random) -> list[str]:
    return [
        f"boom.position=[{r.uniform(0.35, 0.65):.3f}, {r.uniform(0.4, 0.7):.3f}]",
        f"boom.speed={r.uniform(0.9, 2.2):.3f}",
        f"boom.spread={r.choice([360.0, 360.0, r.uniform(90, 360)]):.1f}",
        f"boom.direction={r.uniform(60, 120):.1f}",
        f"boom.temperature={r.uniform(4000, 9000):.0f}",
        f"boom.cooling={r.uniform(1.6, 4.0):.2f}",
        f"boom.lifetime={r.uniform(0.7, 1.5):.2f}",
        f"boom.turbulence={r.uniform(0.03, 0.12):.3f}",
        f"boom.size={r.uniform(0.010, 0.022):.4f}",
        f"boom.smoke={r.uniform(0.15, 0.6):.2f}",
        f"boom.smoke_color='{r.choice(GREYS)}'",
        f"boom.brightness={r.uniform(0.7, 1.4):.2f}",
        f"boom.bloom={r.uniform(0.2, 0.8):.2f}",
    ]


def sky_overrides(r: random.Random) -> list[str]:
    zen = (r.uniform(20, 70), r.uniform(60, 120), r.uniform(140, 200))
    hor = (r.uniform(170, 225), r.uniform(195, 230), r.uniform(215, 245))
    return [
        f"sky.zenith='{_hex(zen)}'",
        f"sky.horizon='{_hex(hor)}'",
        f"sky.horizon_line={r.uniform(0.75, 1.2):.2f}",
        f"sky.sun_position=[{r.uniform(-0.1, 1.1):.3f}, {r.uniform(0.05, 0.6):.3f}]",
        f"sky.sun_glow={r.uniform(0.2, 1.2):.2f}",
        f"sky.clouds={r.uniform(0.15, 0.85):.2f}",
        f"sky.cloud_softness={r.uniform(0.2, 1.2):.2f}",
        f"sky.cloud_scale={r.uniform(0.6, 2.0):.2f}",
        f"sky.wind_direction={r.uniform(0, 360):.0f}",
        f"sky.perspective={r.uniform(0.5, 1.0):.2f}",
        f"sky.haze={r.uniform(0.1, 0.6):.2f}",
    ]


def nebula_overrides(r: random.Random) -> list[str]:
    def colour():
        h = r.random()
        import colorsys
        return _hex([255 * c for c in colorsys.hsv_to_rgb(h, r.uniform(0.5, 0.9), r.uniform(0.6, 1.0))])
    return [
        f"nebula.color_a='{colour()}'",
        f"nebula.color_b='{colour()}'",
        f"nebula.color_c='{colour() if r.random() < 0.7 else '#000000'}'",
        f"nebula.intensity={r.uniform(0.6, 1.6):.2f}",
        f"nebula.scale={r.uniform(0.6, 2.0):.2f}",
        f"nebula.dust={r.uniform(0.2, 0.9):.2f}",
        f"nebula.density={r.uniform(0.5, 2.0):.2f}",
    ]


DATASETS = {
    # name: (overrides drawn per variant, training variants, held-out variants)
    "fire": (fire_overrides, 120, 60),
    "sky": (sky_overrides, 200, 60),
    "nebula": (nebula_overrides, 200, 60),
}


def variant_overrides(name: str, index: int, heldout: bool) -> list[str]:
    """The --set overrides of one variant: its pipeline seed, options and output pattern."""
    draw, _, _ = DATASETS[name]
    seed = HELDOUT_SEED + index if heldout else index + 1
    r = random.Random(f"{name}:{seed}")
    split = "heldout" if heldout else "train"
    return [f"pipeline.seed={seed}", *draw(r), f"output=out/{name}/{split}/v{seed:06d}_%04d.png"]


def render_variant(pipeline: Path, overrides: list[str]) -> int:
    from vfx.engine import RenderOptions, render
    from vfx.graph import build
    from vfx.pipeline import load
    spec = load(pipeline, overrides)
    graph = build(spec, device="cpu")
    try:
        return render(graph, RenderOptions(device="cpu")).frames
    finally:
        graph.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="+", choices=sorted(DATASETS))
    ap.add_argument("--variants", type=int, default=None, help="training variants (default: the dataset's)")
    ap.add_argument("--heldout", type=int, default=None, help="held-out variants (default: the dataset's)")
    ap.add_argument("--split", choices=("all", "train", "heldout"), default="all",
                    help="render only the training or only the held-out variants")
    ap.add_argument("--print-commands", action="store_true", help="print the equivalent vfx render commands")
    args = ap.parse_args(argv)
    for name in args.names:
        _, n_train, n_held = DATASETS[name]
        n_train = args.variants if args.variants is not None else n_train
        n_held = args.heldout if args.heldout is not None else n_held
        pipeline = DATA / f"{name}.toml"
        jobs = [(i, False) for i in range(n_train if args.split != "heldout" else 0)] + \
               [(i, True) for i in range(n_held if args.split != "train" else 0)]
        if args.print_commands:
            for i, held in jobs:
                sets = " ".join(f"--set {shlex.quote(o)}" for o in variant_overrides(name, i, held))
                print(f".venv/bin/vfx render -q {pipeline.relative_to(HERE.parent)} {sets}")
            continue
        out = DATA / "out" / name
        for split in (("train", "heldout") if args.split == "all" else (args.split,)):
            if (out / split).exists():
                shutil.rmtree(out / split)
        t0 = time.perf_counter()
        frames = 0
        for k, (i, held) in enumerate(jobs):
            frames += render_variant(pipeline, variant_overrides(name, i, held))
            if (k + 1) % 20 == 0 or k + 1 == len(jobs):
                print(f"{name}: {k + 1}/{len(jobs)} variants, {frames} frames, "
                      f"{time.perf_counter() - t0:.0f}s", flush=True)
        n_tr = len(list((out / "train").glob("*.png")))
        n_ho = len(list((out / "heldout").glob("*.png")))
        print(f"{name}: {n_tr} training frames in {out / 'train'}, {n_ho} held-out frames in "
              f"{out / 'heldout'} ({time.perf_counter() - t0:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
