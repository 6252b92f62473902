"""``vfx cache info|clear``, and the ``--cache`` options of the commands that read through it."""

from __future__ import annotations

import click

from . import cli


def cache_options(f):
    """``--cache [DIR]``, ``--cache-size`` and ``--cache-policy`` (render and preview)."""
    f = click.option(
        "--cache-policy",
        type=click.Choice(["auto", "all"]),
        default="auto",
        show_default=True,
        help="Which nodes to store: auto, those slower to render than to read back; all, every one.",
    )(f)
    f = click.option(
        "--cache-size",
        metavar="SIZE",
        default=None,
        help="Bound of the cache folder, e.g. 20G (default 20G, or VFX_CACHE_SIZE); least recently used go first.",
    )(f)
    return click.option(
        "--cache",
        "cache_dir",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[DIR]",
        help="Read unchanged nodes' frames from the node cache and fill it (DIR, default "
        "VFX_CACHE_DIR or ~/.cache/vfx/nodes); see docs/cache.md.",
    )(f)


def open_cache(cache_dir: str | None, size: str | None, policy: str, *, memory: bool = True):
    """The ``NodeCache`` the options ask for (None without ``--cache``); a bad folder or size is
    a ``CacheError`` (exit 2) naming the option."""
    from ..cache import CacheError, NodeCache

    if cache_dir is None:
        if size is not None:
            raise click.UsageError("--cache-size needs --cache")
        return None
    try:
        return NodeCache.open(cache_dir or None, disk_limit=size, policy=policy, memory=memory)
    except CacheError as exc:
        text = str(exc)
        raise CacheError(text if text.startswith("--cache") else f"option '--cache': {text}") from None


def report(cache, echo=click.echo) -> None:
    """One line of what the cache served and stored, and a note per corrupt entry it recomputed."""
    if cache is None:
        return
    s = cache.stats
    served = s.total("memory_hits") + s.total("disk_hits")
    echo(
        f"cache: {served} frames read back ({s.total('disk_hits')} from disk), "
        f"{s.total('rendered')} rendered, {s.total('stored_disk')} stored"
        + (f" in {cache.disk.folder}" if cache.disk is not None else "")
    )
    for why in cache.write_errors:
        click.echo(f"note: the cache stopped storing frames: {why}", err=True)
    for path, why in cache.corrupt():
        click.echo(f"note: cache entry {path} was corrupt ({why}); recomputed", err=True)


@cli.group()
def cache():
    """Show or empty the node cache (see docs/cache.md)."""


@cache.command("info")
@click.argument("folder", required=False, type=click.Path(path_type=str))
def info(folder):
    """What the cache at FOLDER (default VFX_CACHE_DIR or ~/.cache/vfx/nodes) holds."""
    from ..cache import CacheError, DiskStore, default_folder
    from ..cache.disk import check_folder
    from ..cache.nodecache import format_size

    path = folder or str(default_folder())
    try:
        check_folder(path, create=False)
        store = DiskStore(path, 1 << 62)
    except CacheError as exc:
        raise CacheError(f"vfx cache info: {exc}") from None
    got = store.info()
    click.echo(f"folder:   {got.folder}")
    click.echo(f"entries:  {got.entries} frames of {got.nodes} nodes")
    click.echo(f"size:     {format_size(got.bytes)}")
    if got.partials:
        click.echo(f"partials: {got.partials} (being written, or left by a killed writer)")


@cache.command("clear")
@click.argument("folder", required=False, type=click.Path(path_type=str))
def clear(folder):
    """Remove every entry of the cache at FOLDER; files the cache did not create stay."""
    from ..cache import CacheError, clear_folder, default_folder
    from ..cache.nodecache import format_size

    path = folder or str(default_folder())
    try:
        files, size = clear_folder(path)
    except CacheError as exc:
        raise CacheError(f"vfx cache clear: {exc}") from None
    click.echo(f"removed {files} files ({format_size(size)}) from {path}")
