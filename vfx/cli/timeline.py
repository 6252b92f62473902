"""``vfx import`` (an OpenTimelineIO timeline or EDL to a pipeline) and ``vfx export-timeline``."""

from __future__ import annotations

from pathlib import Path

import click

from . import cli
from .common import check_output, load_graph, pipeline_argument, set_option


def _fps(ctx, param, value):
    if value is None:
        return None
    from ..timing import parse_fps

    try:
        return parse_fps(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _size(ctx, param, value):
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 1920x1080, got {value!r}") from None
    if w < 16 or h < 16 or w % 2 or h % 2:
        raise click.BadParameter(f"expected even sizes of at least 16, got {value!r}")
    return (w, h)


@cli.command("import")
@click.argument("timeline", type=click.Path(dir_okay=False, path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The pipeline TOML to write.")
@click.option("--fps", callback=_fps, default=None, help="Frame rate (default: the timeline's; an EDL's: 24).")
@click.option("--size", callback=_size, default=None, metavar="WxH", help="Frame size (default: the first clip's).")
@click.option("--render-to", default=None, help="Output video path of the pipeline's encoder (default: NAME.mp4).")
@click.option(
    "--media",
    "media_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True),
    help="Folder to find clips in by file, clip or reel name when the timeline's path is missing (repeatable).",
)
def import_(timeline, output, fps, size, render_to, media_dirs):
    """Write a pipeline that renders TIMELINE (.otio, or a CMX 3600 .edl through OTIO's adapter)."""
    from ..outputs import Protected
    from ..timeline import import_timeline
    from ..util.atomic import write_text

    protected = Protected()
    protected.add(timeline, "the timeline itself")
    check_output(output, "--output", protected=protected)
    text = import_timeline(
        Path(timeline), Path(output), fps=fps, size=size, render_to=render_to, media_dirs=[Path(d) for d in media_dirs]
    )
    write_text(Path(output), text)
    click.echo(f"wrote {output}", err=True)


@cli.command("export-timeline")
@pipeline_argument
@set_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .otio (or .edl) to write.")
def export_timeline(pipeline, overrides, output):
    """Write the edit of PIPELINE (clips, cuts, gaps, dissolves, speed, tracks) as an OTIO timeline."""
    from ..timeline import export_timeline as export, write_otio
    from ..util.atomic import AtomicFile

    graph, _ = load_graph(pipeline, overrides, "cpu")
    check_output(output, "--output", graph=graph, pipeline=pipeline)
    timeline = export(graph, Path(output))
    target = AtomicFile(Path(output).resolve(), unique=True)
    try:
        write_otio(timeline, target.temp)
        target.commit()
    except BaseException:
        target.discard()
        raise
    click.echo(f"wrote {output}", err=True)
