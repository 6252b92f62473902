"""Every hook a vfx plugin can implement.

A plugin is a module (or object) with functions decorated by ``vfx.hookimpl`` whose names are
those below; it is found through an entry point in the group ``vfx``. Hooks are registration
callbacks: the engine passes a ``register`` function and the plugin calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import click

hookspec = pluggy.HookspecMarker("vfx")
hookimpl = pluggy.HookimplMarker("vfx")


# --- node types -----------------------------------------------------------------------------


@hookspec
def register_nodes(register: Callable[[type], None]) -> None:
    """Register node types: call ``register(NodeClass)`` once per ``vfx.Node`` subclass.

    Called once when the plugin manager is built. The class's ``type`` (like
    ``"effect.blur"``) must be unique across all plugins; a clash is reported by
    ``vfx plugins`` and the later registration is refused. Return nothing.
    """


@hookspec
def register_encoder_backends(register: Callable[[str, Any], None]) -> None:
    """Register encoder backends: call ``register(name, backend)``. A backend has

    - ``available_encoders() -> dict[str, str]``: encoder name -> description, for
      ``vfx probe --encoders``;
    - ``open_writer(path, **settings)``: a writer with ``write(batch, audio)``, ``close()`` and
      ``abort()``; ``settings`` are codec, encoder (or None), width, height, fps, alpha, crf,
      bitrate, preset, pix_fmt, audio_codec (or None), audio_bitrate, sample_rate, channels, threads,
      color_matrix and color_range (``"auto"`` or a name, see ``encode.video``) and sar (a Fraction, or
      None for square pixels).

    ``encode.video`` writes through the backend its ``backend`` option names. Return nothing.
    """


# --- generative models ----------------------------------------------------------------------


@hookspec
def register_model_architectures(register: Callable[[str, type | str], None]) -> None:
    """Register generative model architectures: call ``register(name, ArchitectureClass)``.

    ``ArchitectureClass`` subclasses ``vfx.models.GenerativeModel`` (family ``"vae"`` or ``"gan"``)
    and is built as ``ArchitectureClass(config)``; it may also be given as a ``"module:Class"``
    string, imported on first use (keeps torch out of start-up). Model files name it in their config, and
    ``vfx train --arch NAME`` trains it. The first registration of a name wins; a later one is
    reported by ``vfx plugins`` and ignored. Return nothing.
    """


# --- command line ---------------------------------------------------------------------------


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``vfx`` command line: ``cli`` is the root ``click.Group``;
    decorate functions with ``@cli.command()``. Called once, the first time the CLI is asked for a
    command it does not know or for its list of commands (``vfx --help``). Return nothing.
    """
