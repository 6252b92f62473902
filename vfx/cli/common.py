"""Options shared by the commands that read a pipeline, and the output check every command makes."""

from __future__ import annotations

import re

import click

pipeline_argument = click.argument("pipeline", type=click.Path(dir_okay=False, path_type=str))

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def set_option(f):
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a var (title=Hi), a setting (pipeline.fps=30) or an option (out.crf=18).",
    )(f)


def _check_device(ctx, param, value):
    if value is not None and not _DEVICE.fullmatch(value):
        raise click.BadParameter(f"unknown device {value!r}: use auto, cpu, cuda or cuda:N")
    return value


def device_option(f):
    return click.option(
        "--device",
        default="auto",
        show_default=True,
        metavar="auto|cpu|cuda",
        callback=_check_device,
        help="Where tensors live and nodes run.",
    )(f)


def _set_max_memory(ctx, param, value):
    if value is not None:
        import os
        from ..media.images import parse_memory

        try:
            os.environ["VFX_MAX_MEMORY"] = str(parse_memory(value))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def memory_option(f):
    return click.option(
        "--max-memory",
        metavar="SIZE",
        expose_value=False,
        callback=_set_max_memory,
        help="Memory budget for decoding an image, e.g. 4G (default 2G, or VFX_MAX_MEMORY); a larger image is refused.",
    )(f)


def load_graph(pipeline: str, overrides, device: str = "cpu", allow_no_encoder: bool = False):
    from ..engine import resolve_device
    from ..graph import build, build_for_preview
    from ..pipeline import load

    spec = load(pipeline, list(overrides))
    dev = resolve_device(device)
    return (build_for_preview if allow_no_encoder else build)(spec, device=dev), dev


def check_output(path, option: str, graph=None, pipeline=None, protected=None, folder: bool = False):
    """Refuse (``UnsafeOutput``, exit 2) a command-line output that would overwrite the pipeline
    file, an input of ``graph``, a file of ``protected``, or a folder; the message names the file
    and the option."""
    from ..outputs import Protected, check

    protected = protected or Protected()
    if graph is not None:
        protected.add_graph(graph)
    if pipeline is not None:
        protected.add(pipeline, "the pipeline file itself")
    where = f"{pipeline}: option '{option}'" if pipeline else f"option '{option}'"
    return check(path, protected, where=where, folder=folder)
