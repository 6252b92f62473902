"""``vfx studio``: the live viewer in the browser (docs/studio.md)."""

from __future__ import annotations

import click

from . import cli
from .cache import cache_options, open_cache
from .common import device_option, memory_option, pipeline_argument, set_option


@cli.command()
@pipeline_argument
@set_option
@device_option
@memory_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (anything but loopback warns)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port (0: any free one).")
@click.option("--no-browser", is_flag=True, help="Print the address only; do not open a browser.")
@cache_options
def studio(pipeline, overrides, device, host, port, no_browser, cache_dir, cache_size, cache_policy):
    """Open PIPELINE in the browser: viewer, timeline, graph, live reload, renders.

    \b
    The server listens on 127.0.0.1 with a fresh token in its address that every request must
    carry; saving the pipeline (or a file it reads) reloads it. Ctrl-C stops it.
    """
    import threading
    import webbrowser
    from pathlib import Path

    from ..errors import PipelineError, Problem
    from ..studio import Studio
    from ..studio.server import StudioServer, is_loopback
    from .output import print_error

    if not Path(pipeline).is_file():
        raise PipelineError(Problem("pipeline file not found", file=pipeline))
    cache = open_cache(cache_dir, cache_size, cache_policy)
    session = Studio(pipeline, overrides, device=device, cache=cache, policy=cache_policy)
    if session.problems:
        print_error(PipelineError(session.problems))
        click.echo("note: the studio shows these problems until the file is fixed", err=True)
    if not is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine and learns the address "
            "(token included) can read the pipeline's folder and start renders",
            err=True,
        )
    server = StudioServer(session, host=host, port=port)
    click.echo(f"vfx studio: {server.url}")
    click.echo("watching for changes; Ctrl-C stops", err=True)
    session.watch()

    if not no_browser:

        def open_page():
            for _ in range(500):
                if server.server.started:
                    break
                threading.Event().wait(0.01)
            webbrowser.open(server.url)

        threading.Thread(target=open_page, daemon=True).start()
    try:
        server.run()
    finally:
        session.close()
        server.sock.close()
