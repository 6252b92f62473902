"""``vfx eval``: compare two renders frame by frame (PSNR, SSIM), or two image sets (SWD)."""

from __future__ import annotations

import json
import math
import sys

import click

from . import cli


def _fmt(x, digits: int = 2) -> str:
    """A number for the table: "n/a" for None, "inf" for an infinite PSNR."""
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}f}"


@cli.command("eval")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--prefix",
    is_flag=True,
    help="When the frame counts differ, compare the first min(A, B) frames (with a warning) instead of failing.",
)
@click.option("--per-frame", is_flag=True, help="Also list every frame's PSNR and SSIM in the table.")
@click.option("--no-temporal", is_flag=True, help="Skip the temporal consistency (a third of the time).")
@click.option(
    "--swd",
    is_flag=True,
    help="Compare A and B as two unordered image sets: sliced Wasserstein distance on "
    "Laplacian-pyramid patches (x1000, lower is closer), e.g. real vs generated frames.",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="With --swd: read at most N frames of each.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --swd: random patches and directions.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def evaluate(a, b, as_json, prefix, per_frame, no_temporal, swd, limit, seed, quiet):
    """Compare A with B: two videos, image folders or patterns such as frames/%04d.png.

    \b
    Per frame: PSNR and SSIM (scikit-image, 8-bit RGB, data_range 255); the mean, the pooled
    PSNR (of the mean squared error over all frames) and the worst frame with its index; and the
    temporal consistency of each input (mean SSIM of consecutive frames, 1 for a static clip).
    Identical frames have PSNR inf, printed "inf" (in JSON the string "inf").
    Different frame sizes are an error; different frame counts too, unless --prefix.
    Exit status 2 when an input is missing or the two cannot be compared.

    \b
    With --swd: how far the distribution of B's frames is from A's, as the sliced Wasserstein
    distance of Laplacian-pyramid patches (Karras et al. 2018); order and pairing do not matter.
    """
    from ..evaluate import compare, swd_paths
    from .output import Progress

    if swd:
        result = swd_paths(a, b, limit=limit, seed=seed)
        if as_json:
            click.echo(json.dumps({"a": a, "b": b, "swd": result.as_dict()}, indent=2))
            return
        _print_swd(a, b, result)
        return
    with Progress(quiet=quiet or as_json, stream=sys.stderr) as progress:
        result = compare(a, b, prefix=prefix, temporal=not no_temporal, progress=progress)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    _print_table(result, per_frame)


def _print_table(r, per_frame: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"{r.a.spec} vs {r.b.spec}: {len(r.frames)} frames, {r.a.width}x{r.a.height}")
    t.add_column("metric")
    t.add_column("mean", justify="right")
    t.add_column("worst", justify="right")
    t.add_column("worst frame", justify="right")
    wp, ws = r.worst_psnr, r.worst_ssim
    t.add_row("PSNR (dB)", _fmt(r.psnr_mean), _fmt(wp.psnr), str(wp.index))
    t.add_row("PSNR pooled (dB)", _fmt(r.psnr_pooled), "", "")
    t.add_row("SSIM", _fmt(r.ssim_mean, 4), _fmt(ws.ssim, 4), str(ws.index))
    t.add_row("temporal SSIM A", _fmt(r.temporal_a, 4), "", "")
    t.add_row("temporal SSIM B", _fmt(r.temporal_b, 4), "", "")
    console.print(t)
    if per_frame:
        f = Table(title="per frame")
        f.add_column("frame", justify="right")
        f.add_column("PSNR (dB)", justify="right")
        f.add_column("SSIM", justify="right")
        for s in r.frames:
            f.add_row(str(s.index), _fmt(s.psnr), _fmt(s.ssim, 4))
        console.print(f)


def _print_swd(a, b, r) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"SWD x1000: {a} ({r.images[0]} images) vs {b} ({r.images[1]} images)")
    for size in r.levels:
        t.add_column(f"{size}px", justify="right")
    t.add_column("mean", justify="right")
    t.add_row(*[_fmt(v) for v in r.levels.values()], _fmt(r.mean))
    Console().print(t)
