"""Printing: errors, tables and progress. rich is imported lazily so ``vfx --help`` stays fast."""
from __future__ import annotations

import sys
import time

import click


def print_error(exc) -> None:
    from ..errors import PipelineError
    if isinstance(exc, PipelineError):
        n = len(exc.problems)
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        if n > 1:
            click.echo(f"{n} problems found", err=True)
    else:
        click.echo(f"error: {exc}", err=True)


class Progress:
    """A rich progress bar on a terminal; plain timestamped lines otherwise (farm logs)."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._bar = None
        self._tasks = {}
        self._last_line = 0.0
        self._started = {}

    def __enter__(self):
        self._t0 = time.perf_counter()
        if not self.quiet and self.tty:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("{task.fields[fps]:>6.1f} fps"), TimeElapsedColumn(),
                                     TextColumn("ETA"), TimeRemainingColumn())
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        start = self._started.setdefault(name, getattr(self, "_t0", now))
        fps = done / max(now - start, 1e-9)
        if self._bar is not None:
            if name not in self._tasks:
                self._tasks[name] = self._bar.add_task(name, total=total, fps=0.0)
            self._bar.update(self._tasks[name], completed=done, fps=fps)
            return
        if done == total or now - self._last_line >= 2.0:
            self._last_line = now
            eta = (total - done) / fps if fps > 0 else 0
            click.echo(f"[{time.strftime('%H:%M:%S')}] {name}: {done}/{total} frames "
                       f"({100 * done / max(total, 1):.0f}%) {fps:.1f} fps eta {eta:.0f}s", file=self.stream)
