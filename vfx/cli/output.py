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
    """The one progress reporter (render, evaluate, train, farm): a rich bar on a terminal, plain
    timestamped lines otherwise (farm logs), at most one every 2 seconds and one at the end.

    ``kind`` says what is counted, and so what calling it takes: ``"frames"`` (the engine's
    ``(name, done, total)``), ``"steps"`` (training's ``(step, total, losses)``) or ``"farm"``
    (a ``vfx.farm.executor.FarmProgress``, under ``label``).
    """

    def __init__(self, quiet: bool = False, stream=None, *, kind: str = "frames", label: str = "farm"):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.kind, self.label = kind, label
        self._bar = None
        self._tasks: dict = {}
        self._last_line = 0.0
        self._started: dict = {}
        self._report = {"frames": self.frames, "steps": self.steps, "farm": self.farm}[kind]

    def __enter__(self):
        self._t0 = time.perf_counter()
        if not self.quiet and self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
            from rich.progress import TimeElapsedColumn, TimeRemainingColumn

            fields = {
                "frames": [TextColumn("{task.fields[fps]:>6.1f} fps")],
                "steps": [TextColumn("{task.fields[rate]:>5.2f} step/s"), TextColumn("{task.fields[losses]}")],
                "farm": [
                    TextColumn("frames  {task.fields[chunks]} chunks  {task.fields[fps]:>6.1f} fps{task.fields[extra]}")
                ],
            }[self.kind]
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                *fields,
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, *args) -> None:
        if not self.quiet:
            self._report(*args)

    def _update(self, task: str, done: int, total: int, line, final: bool, start: int = 0, now=None, **fields) -> None:
        """Move ``task``'s bar, or print ``line()`` when it is due."""
        if self._bar is not None:
            if task not in self._tasks:
                self._tasks[task] = self._bar.add_task(
                    task,
                    total=total,
                    completed=start,
                    **{k: 0.0 if isinstance(v, float) else "" for k, v in fields.items()},
                )
            self._bar.update(self._tasks[task], completed=done, **fields)
            return
        now = time.perf_counter() if now is None else now
        if final or now - self._last_line >= 2.0:
            self._last_line = now
            click.echo(f"[{time.strftime('%H:%M:%S')}] {line()}", file=self.stream)

    def frames(self, name: str, done: int, total: int) -> None:
        now = time.perf_counter()
        start = self._started.setdefault(name, getattr(self, "_t0", now))
        fps = done / max(now - start, 1e-9)
        eta = (total - done) / fps if fps > 0 else 0
        self._update(
            name,
            done,
            total,
            lambda: f"{name}: {done}/{total} frames ({100 * done / max(total, 1):.0f}%) {fps:.1f} fps eta {eta:.0f}s",
            done == total,
            now=now,
            fps=fps,
        )

    def steps(self, step: int, total: int, losses: dict) -> None:
        now = time.perf_counter()
        first = self._started.setdefault("train", (step - 1, now))
        done = step - first[0]
        rate = done / max(now - first[1], 1e-9) if done > 1 else 0.0
        text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        eta = (total - step) / rate if rate > 0 else 0
        self._update(
            "train",
            step,
            total,
            lambda: f"step {step}/{total} {text} ({rate:.2f} step/s, eta {eta:.0f}s)",
            step == total,
            start=step - 1,
            now=now,
            rate=rate,
            losses=text,
        )

    def farm(self, p) -> None:
        fps = p.frames_done / p.elapsed if p.elapsed > 0 else 0.0
        extra = (f"  {p.retries} retried" if p.retries else "") + (f"  {p.failed} failed" if p.failed else "")
        chunks = f"{p.chunks_done}/{p.chunks_total}"
        eta = (p.frames_total - p.frames_done) / fps if fps > 0 else 0
        self._update(
            self.label,
            p.frames_done,
            max(p.frames_total, 1),
            lambda: (
                f"{self.label}: {p.frames_done}/{p.frames_total} frames, {chunks} chunks, "
                f"{fps:.1f} fps, eta {eta:.0f}s{extra}"
            ),
            p.chunks_done + p.failed >= p.chunks_total,
            chunks=chunks,
            fps=fps,
            extra=extra,
        )

    def note(self, message: str) -> None:
        """A message between progress updates (above the bar on a terminal; notes go to stderr)."""
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            click.echo(message, file=sys.stderr if message.startswith("note") else self.stream)
