"""``vfx render`` and ``vfx validate``."""

from __future__ import annotations

import click

from . import cli
from .cache import cache_options, open_cache, report
from .common import device_option, load_graph, memory_option, pipeline_argument, set_option
from .verify import prepare_signing, sign_options


@cli.command()
@pipeline_argument
@set_option
@device_option
@memory_option
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="Frames per node call (default: chosen from the device and a memory budget).",
)
@click.option(
    "--frames",
    "frame_spec",
    metavar="START-END",
    help="Render only these output frames, inclusive: 120-239, 5s-10s, 48.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--threads", type=click.IntRange(1, 256), default=None, help="torch intra-op threads.")
@click.option(
    "--matrix",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A CSV of variants: one render per row, its columns overriding [vars] (see docs/farm.md).",
)
@cache_options
@sign_options
def render(
    pipeline,
    overrides,
    device,
    batch_size,
    frame_spec,
    quiet,
    threads,
    matrix,
    cache_dir,
    cache_size,
    cache_policy,
    sign_cert,
    sign_key,
):
    """Render PIPELINE (a .toml file) to the files its encoders name."""
    from ..engine import RenderOptions, render as run
    from ..errors import PipelineError, RenderError, VfxError
    from ..timing import parse_frame_range
    from .output import Progress

    if matrix:
        if sign_cert or sign_key:
            raise click.UsageError("--sign signs one render: sign each variant with its own --set, not --matrix")
        if frame_spec:
            raise click.UsageError("--frames cannot be combined with --matrix")
        from .farm import render_matrix

        from ..cache import NodeCache

        # the rows share one cache; without --cache, one in memory (the nodes rows share render once)
        cache = open_cache(cache_dir, cache_size, cache_policy) or NodeCache.open(disk=False, policy=cache_policy)
        try:
            return render_matrix(
                pipeline,
                overrides,
                matrix,
                RenderOptions(device=device, batch_size=batch_size, torch_threads=threads, cache=cache),
                quiet,
            )
        finally:
            if not quiet:
                report(cache)
    graph, dev = load_graph(pipeline, overrides, device)
    provs, key = prepare_signing(graph, overrides, sign_cert, sign_key, quiet)
    cache = open_cache(cache_dir, cache_size, cache_policy, memory=False)
    frames = None
    if frame_spec:
        enc = graph.encoders[0]
        try:
            frames = parse_frame_range(frame_spec, enc.video.fps, enc.video.frame_count)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--frames") from None
    opts = RenderOptions(device=str(dev), batch_size=batch_size, frames=frames, torch_threads=threads, cache=cache)
    from ..credentials import Staging

    # outputs to sign are rendered and signed in a staging folder, then moved into place
    with Staging(graph, provs or {}, key) as staging:
        try:
            with Progress(quiet=quiet) as progress:
                result = run(graph, opts, progress=progress)
        except (PipelineError, RenderError):
            raise
        except VfxError as exc:
            raise RenderError(str(exc)) from exc
        result.outputs = staging.commit(result.outputs)
    if not quiet:
        for path in result.outputs[:5]:
            click.echo(f"wrote {path}")
        if len(result.outputs) > 5:
            click.echo(f"... and {len(result.outputs) - 5} more files")
        click.echo(
            f"{result.frames} frames in {result.seconds:.2f}s ({result.fps:.1f} fps, batch {result.batch_size}, {dev})"
        )
        report(cache)


@cli.command()
@pipeline_argument
@set_option
@memory_option
def validate(pipeline, overrides):
    """Check PIPELINE without rendering: exit 0 if it would render, 2 with every problem listed."""
    graph, _ = load_graph(pipeline, overrides, "cpu")
    for enc in graph.encoders:
        v = enc.video
        click.echo(
            f"ok: {enc.id} -> {', '.join(str(p) for p in enc.output_paths()[:1])} "
            f"({v.width}x{v.height} @ {float(v.fps):g} fps, {v.frame_count} frames"
            f"{', with audio' if enc.audio_source() is not None else ''})"
        )
