"""Options shared by the commands that read a pipeline."""
from __future__ import annotations

import click

pipeline_argument = click.argument("pipeline", type=click.Path(dir_okay=False, path_type=str))


def set_option(f):
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help="Override a var (title=Hi), a setting (pipeline.fps=30) or an option (out.crf=18).")(f)


def device_option(f):
    return click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda",
                        help="Where tensors live and nodes run.")(f)


def load_graph(pipeline: str, overrides, device: str = "cpu", allow_no_encoder: bool = False):
    from ..engine import resolve_device
    from ..graph import build, build_for_preview
    from ..pipeline import load
    spec = load(pipeline, list(overrides))
    dev = resolve_device(device)
    return (build_for_preview if allow_no_encoder else build)(spec, device=dev), dev
