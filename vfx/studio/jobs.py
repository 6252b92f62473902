"""Renders started from the page: the engine ``vfx render`` runs, in a thread, one at a time.

The pipeline is loaded and built afresh (``vfx.graph.build``: the same checks, output safety
included, that ``vfx render`` makes), rendered with ``vfx.engine.render`` through the studio's
node cache, and its progress published on the studio's event bus. ``cancel`` stops it between
batches; the engine then removes the partial files, as it does for Ctrl-C.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PipelineError, Problem, VfxError
from . import describe
from .files import url_for


class Busy(Exception):
    """A render is already running."""


@dataclass
class Job:
    """One render: its range, progress and outcome."""

    id: int
    start: int
    stop: int
    state: str = "running"  # running, done, failed, cancelled
    done: int = 0
    total: int = 0
    fps: float = 0.0
    eta: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None

    def as_dict(self, folder: Path) -> dict:
        outputs = []
        for i, p in enumerate(self.outputs[:20]):
            rel = url_for(folder, p)
            outputs.append({"path": str(p), "url": f"files/{rel}" if rel else f"outputs/{self.id}/{i}"})
        return {
            "id": self.id,
            "start": self.start,
            "stop": self.stop,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "percent": round(100 * self.done / self.total, 1) if self.total else 0.0,
            "fps": round(self.fps, 2),
            "eta": round(self.eta, 1),
            "seconds": round(self.seconds, 3),
            "outputs": outputs,
            "count": len(self.outputs),
            "error": self.error,
        }


class Renders:
    """The studio's renders: at most one running; the finished ones' outputs stay servable."""

    def __init__(self, studio: Any):
        self.studio = studio
        studio.jobs = self
        self.jobs: dict[int, Job] = {}
        self.current: Job | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, start: int | None = None, stop: int | None = None) -> Job:
        """Render frames ``[start, stop)`` of the pipeline's encoders (all of them by default)."""
        from ..engine import frame_range
        from ..graph import build
        from ..pipeline import load

        studio = self.studio
        with self._lock:
            if self.current is not None and self.current.state == "running":
                raise Busy("a render is already running")
            spec = load(studio.pipeline, studio.overrides)
            graph = build(spec, device=studio.device)
            enc = graph.encoders[0]
            total = enc.video.frame_count
            first = 0 if start is None else start
            last = total if stop is None else stop
            if not 0 <= first < last:
                graph.close()
                raise PipelineError(Problem(f"no frames to render in {first}-{last}", file=studio.pipeline))
            try:
                first, last = frame_range(enc, (first, last))
            except VfxError as exc:
                graph.close()
                raise PipelineError(Problem(str(exc), file=studio.pipeline)) from None
            job = Job(id=len(self.jobs) + 1, start=first, stop=last, total=(last - first) * len(graph.encoders))
            self.jobs[job.id] = job
            self.current = job
            self._cancel = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(job, graph, self._cancel), name="vfx-studio-render", daemon=True
            )
            self._thread.start()
        return job

    def _run(self, job: Job, graph, cancel: threading.Event) -> None:
        from ..engine import RenderOptions, render

        studio = self.studio
        finished: dict[str, int] = {}
        last_sent = [0.0]

        def progress(name: str, done: int, total: int) -> None:
            finished[name] = done
            job.done = sum(finished.values())
            elapsed = time.perf_counter() - job.started
            job.fps = job.done / elapsed if elapsed > 0 else 0.0
            job.eta = (job.total - job.done) / job.fps if job.fps > 0 else 0.0
            now = time.perf_counter()
            if now - last_sent[0] >= 0.1 or done == total:
                last_sent[0] = now
                studio.bus.publish("render", job.as_dict(studio.folder))

        options = RenderOptions(device=studio.device, frames=(job.start, job.stop), cache=studio.cache)
        try:
            result = render(graph, options, progress=progress, cancel=cancel)
            job.outputs = list(result.outputs)
            job.state = "done"
            if job.done < job.total:  # a cancel the engine saw only after its last batch: say so
                job.error = f"cancelled: the files hold {job.done} of {job.total} frames"
        except VfxError as exc:
            job.state = "cancelled" if cancel.is_set() else "failed"
            job.error = str(exc)
            if isinstance(exc, PipelineError):
                job.error = "\n".join(describe.problem(p)["text"] for p in exc.problems)
        except Exception as exc:  # an engine bug: report it on the page rather than lose it
            job.state = "failed"
            job.error = f"internal error: {type(exc).__name__}: {exc}"
        job.seconds = time.perf_counter() - job.started
        studio.bus.publish("render", job.as_dict(studio.folder))

    def cancel(self) -> bool:
        """Ask the running render to stop; True if one was running."""
        job = self.current
        if job is None or job.state != "running":
            return False
        self._cancel.set()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict | None:
        job = self.current
        return job.as_dict(self.studio.folder) if job is not None else None

    def outputs(self) -> list[Path]:
        """Every file a finished render of this studio wrote."""
        return [p for job in self.jobs.values() for p in job.outputs]
