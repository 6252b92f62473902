"""The ``vfx`` command line. Only this package prints; rich is imported here and only here.

Every command module adds itself to ``cli``; plugins add more through ``register_commands``.
Exit codes: 0 success, 2 a bad pipeline or bad input, 1 a render that failed, 128 + N a render
stopped by signal N (130 Ctrl-C / SIGINT, 143 SIGTERM, 129 SIGHUP), its partial files removed.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from .. import __version__


class VfxGroup(click.Group):
    """Loads plugin commands lazily, when a command name is not one of the built-ins."""

    _plugins_loaded = False

    def _load_plugin_commands(self):
        if VfxGroup._plugins_loaded:
            return
        VfxGroup._plugins_loaded = True
        from ..plugins import get_registry

        try:
            get_registry().manager.hook.register_commands(cli=self)
        except Exception as exc:  # a broken plugin must not break the CLI
            click.echo(f"warning: a plugin's register_commands failed: {exc}", err=True)

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None:
            self._load_plugin_commands()
            cmd = super().get_command(ctx, name)
        return cmd

    def list_commands(self, ctx):
        self._load_plugin_commands()
        return super().list_commands(ctx)


@click.group(cls=VfxGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vfx")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors.")
@click.pass_context
def cli(ctx, debug):
    """vfx: render declarative video pipelines.

    \b
    Quick start:
      vfx nodes                     list node types
      vfx validate pipeline.toml    check a pipeline without rendering
      vfx render pipeline.toml      render it
      vfx preview pipeline.toml -f 48 -o frame.png
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C is, so that the same cleanup runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_TERMINATING = ("SIGTERM", "SIGHUP")


def _on_signal(fired: list):
    def handler(signum, frame):
        if fired:  # the first signal's cleanup is under way: let it finish
            return
        fired.append(signum)
        raise Terminated(signum)

    return handler


def _install_signal_handlers() -> dict:
    """Handle SIGTERM and SIGHUP like SIGINT; return the handlers they replace."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    handler = _on_signal([])
    for name in _TERMINATING:
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    return previous


def _stopped(exc: BaseException) -> None:
    """Report a render stopped by a signal and exit 128 + its number."""
    cause = exc if isinstance(exc, KeyboardInterrupt) else (exc.__cause__ or exc.__context__)
    signum = cause.signum if isinstance(cause, Terminated) else signal.SIGINT
    click.echo("aborted" if signum == signal.SIGINT else f"aborted ({signal.Signals(signum).name})", err=True)
    sys.exit(128 + signum)


def main(argv=None):
    """Console entry point: run the CLI and turn VfxErrors into messages and exit codes."""
    from ..errors import VfxError
    from . import commands  # noqa: F401  (registers the built-in commands)

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    previous = _install_signal_handlers()
    try:
        cli.main(args=argv, prog_name="vfx", standalone_mode=False)
    except VfxError as exc:
        if debug:
            raise
        from .output import print_error

        print_error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        _stopped(exc)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except KeyboardInterrupt as exc:
        _stopped(exc)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            raise
        click.echo(f"error: internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)", err=True)
        sys.exit(1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
