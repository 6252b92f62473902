"""``vfx preview``: one frame, or a contact sheet of evenly spaced frames, as a PNG."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from .cache import cache_options, open_cache
from .common import check_output, device_option, load_graph, memory_option, pipeline_argument, set_option


@cli.command()
@pipeline_argument
@set_option
@device_option
@memory_option
@click.option(
    "-f", "--frame", "frame_spec", default="0", show_default=True, help='Frame to show: 48, "2s" or "00:00:02:00".'
)
@click.option("-n", "--node", "node_id", default=None, help="Node to show (default: what the first encoder gets).")
@click.option("-o", "--output", default="preview.png", show_default=True, type=click.Path(dir_okay=False))
@click.option(
    "--sheet",
    type=click.IntRange(2, 400),
    default=None,
    metavar="N",
    help="A contact sheet of N evenly spaced frames instead of one frame.",
)
@click.option("--columns", type=click.IntRange(1, 50), default=None, help="Columns of the contact sheet.")
@click.option("--thumb-width", type=click.IntRange(16, 4096), default=320, show_default=True)
@cache_options
def preview(
    pipeline,
    overrides,
    device,
    frame_spec,
    node_id,
    output,
    sheet,
    columns,
    thumb_width,
    cache_dir,
    cache_size,
    cache_policy,
):
    """Write one frame of PIPELINE (or a contact sheet) to a PNG, without encoding video."""
    import numpy as np
    from ..contact_sheet import sheet_indices, tile
    from ..ops import color, resample
    from ..engine import render_frames
    from ..errors import PipelineError, Problem
    from ..util.atomic import AtomicFile
    from ..media.encode import write_png
    from ..timing import to_frames

    graph, dev = load_graph(pipeline, overrides, device, allow_no_encoder=True)
    check_output(output, "--output", graph=graph, pipeline=pipeline)
    cache = open_cache(cache_dir, cache_size, cache_policy)
    if node_id is None:
        node = (
            graph.encoders[0].input("input")
            if graph.encoders
            else next(graph.nodes[n] for n in reversed(graph.order) if graph.nodes[n].video is not None)
        )
    elif node_id not in graph.nodes or graph.nodes[node_id].video is None:
        raise PipelineError(Problem(f"no node '{node_id}' with video to preview", file=pipeline, node=node_id))
    else:
        node = graph.nodes[node_id]
    total = node.video.frame_count
    if sheet:
        indices = sheet_indices(sheet, 0, total)
    else:
        try:
            frame = to_frames(frame_spec, node.video.fps)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--frame") from None
        if frame >= total:
            raise click.BadParameter(f"frame {frame} is past the end ({total} frames)", param_hint="--frame")
        indices = [frame]
    pixels = []
    for i in range(0, len(indices), 8):
        batch = render_frames(graph, node, indices[i : i + 8], device=str(dev), cache=cache)
        p = batch.pixels
        if sheet:
            th = max(1, round(thumb_width * p.shape[2] / p.shape[3]))
            p = resample.resize(p, thumb_width, th, "area")
        pixels.append(color.from_linear(p.cpu(), alpha=not sheet))
    images = np.concatenate(pixels)
    image = tile(images, columns) if sheet else images[0]
    target = AtomicFile(Path(output).resolve())
    try:
        write_png(target.temp, image)
        target.commit()
    except BaseException:
        target.discard()
        raise
    what = f"contact sheet of {len(indices)} frames" if sheet else f"frame {indices[0]}"
    click.echo(f"wrote {output} ({what} of '{node.id}')")
