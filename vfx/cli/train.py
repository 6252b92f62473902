"""``vfx train vae|gan``: train a generative model on images / videos into a .safetensors model file."""

from __future__ import annotations

import click

from . import cli
from .common import device_option


@cli.command()
@click.argument("family", type=click.Choice(["vae", "gan"]))
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    metavar="[NAME=]PATH",
    help="Images: a folder (recursive), a sequence pattern (f_%04d.png, f_####.png, *.png), an image or a "
    "video. Repeat for more. NAME=PATH gives a class label (class-conditional model).",
)
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="The model file (.safetensors).")
@click.option("--arch", default=None, help="Architecture (default: conv_vae for vae, dcgan_sn for gan).")
@click.option(
    "--resolution",
    type=click.Choice(["16", "32", "64", "128"]),
    default="64",
    show_default=True,
    help="Square image size the model makes (64 or 128; 16 and 32 for quick tests).",
)
@click.option("--latent-dim", type=click.IntRange(1, 4096), default=None, help="Latent size (default 64).")
@click.option(
    "--channels",
    type=click.IntRange(4, 512),
    default=None,
    help="Network width at full resolution (default 32 at 64 px, 16 at 128 px).",
)
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True, help="Total training steps.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Adam learning rate (default 1e-3 vae, 2e-4 gan).",
)
@click.option(
    "--kl-weight", type=click.FloatRange(0), default=0.5, show_default=True, help="VAE: weight of the KL term."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Fixed seed: the same run on the CPU gives the same model."
)
@device_option
@click.option(
    "--amp", is_flag=True, help="Mixed precision on CUDA (bf16, or fp16 with loss scaling); ignored on the CPU."
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    metavar="N",
    help="Every N steps (and at the end) write OUT.ckpt.safetensors and OUT.samples/step_NNNNNN.png.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT.ckpt.safetensors (step, weights, optimiser, RNG).")
@click.option("--no-augment", is_flag=True, help="No random crops, flips or colour jitter.")
@click.option(
    "--video-frames",
    type=click.IntRange(1),
    default=256,
    show_default=True,
    help="Frames sampled evenly from each video.",
)
@click.option("--half", is_flag=True, help="Store the weights as float16 (half the file size).")
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="torch threads on the CPU (default: 1 on a 2-core machine, else half the cores).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def train(
    family,
    data,
    out,
    arch,
    resolution,
    latent_dim,
    channels,
    steps,
    batch_size,
    lr,
    kl_weight,
    seed,
    device,
    amp,
    checkpoint_every,
    resume,
    no_augment,
    video_frames,
    half,
    threads,
    quiet,
):
    """Train a FAMILY (vae or gan) model on images or videos and write it to --out.

    \b
    Examples:
      vfx train vae --data frames/ --out fire.safetensors --steps 3000
      vfx train gan --data fire=fire.mp4 --data smoke=smoke/ --out fx.safetensors --checkpoint-every 500
    """
    if not out.endswith(".safetensors"):
        raise click.BadParameter("the model file must end in .safetensors", param_hint="--out")
    from pathlib import Path
    from ..engine import resolve_device
    from ..models.train import TrainSettings, checkpoint_path, samples_dir, train as run
    from ..outputs import Protected, UnsafeOutput, resolved
    from .common import check_output

    reads = Protected()
    for d in data:
        for path in {d, d.split("=", 1)[-1]}:
            if Path(path).is_file():
                reads.add(path, "a --data input")
    check_output(out, "--out", protected=reads)
    if checkpoint_every:
        check_output(checkpoint_path(out), "--out", protected=reads)
    folders = {resolved(p) for d in data for p in {d, d.split("=", 1)[-1]} if Path(p).is_dir()}
    grids = samples_dir(out)
    inside = next((f for f in folders if f == resolved(grids) or f in resolved(grids).parents), None)
    if inside is not None:
        raise UnsafeOutput(
            f"option '--out': the sample grids of {out} would go to {grids}, inside the --data "
            f"folder {inside}, and be read back as training data; write the model elsewhere"
        )
    dev = resolve_device(device)
    settings = TrainSettings(
        family=family,
        data=list(data),
        out=out,
        architecture=arch,
        resolution=int(resolution),
        latent_dim=latent_dim,
        channels=channels,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        kl_weight=kl_weight,
        seed=seed,
        device=str(dev),
        amp=amp,
        checkpoint_every=checkpoint_every,
        resume=resume,
        augment=not no_augment,
        video_frames=video_frames,
        half=half,
        threads=threads,
    )
    from .output import Progress

    with Progress(quiet, kind="steps") as progress:
        result = run(settings, progress=progress, log=progress.note)
    if not quiet:
        if result.checkpoints:
            click.echo(
                f"wrote {checkpoint_path(out)} and {len(result.samples)} sample grids (last: {result.samples[-1]})"
            )
        last = result.history[-1] if result.history else {}
        click.echo(
            f"wrote {result.out} ({result.out.stat().st_size / 1e6:.1f} MB): {result.steps - result.start_step} "
            f"steps in {result.seconds:.1f}s ({result.steps_per_second:.2f} step/s, {dev}) on "
            f"{result.images} images" + (f"; last {' '.join(f'{k} {v:.4f}' for k, v in last.items())}" if last else "")
        )
