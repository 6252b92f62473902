"""Run a farm render on Ray: one task per chunk (and one for the audio), retried when a worker
dies, with progress gathered by a small actor, and the segments joined by the driver.

Imported only by the farm commands: importing ``vfx`` or its CLI never imports Ray.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

import ray

from ..errors import VfxError
from ..outputs import UnsafeOutput, refusal
from .join import check_joinable, join_outputs
from .manifest import SegmentDir, default_segment_dir
from .planning import Chunk, plan_chunks
from .segments import Job, graph_needs_gpu, load_job, render_audio, render_segment

#: Fault injection for the tests, read by the driver: "N" makes chunk N's first attempt SIGKILL its
#: worker after its first batch; "N:always" kills every attempt (so the chunk fails for good)
KILL_ENV = "VFX_FARM_KILL"


@dataclass
class FarmOptions:
    """How ``run_farm`` renders: chunking, which Ray, task resources, retries, resume."""

    chunk_size: int = 48
    address: str | None = None  # None / "local": start Ray here; "auto" or HOST:PORT: connect
    workers: int | None = None  # CPUs of a local Ray (default: every core)
    cpus_per_task: float = 1
    retries: int = 3  # extra attempts when a worker dies
    gpu: str = "auto"  # auto | always | never
    resume: bool = False
    keep_segments: bool = False
    log: Path | None = None  # where Ray's own messages go (default: <segment folder>.log)


@dataclass
class FarmJob:
    """One output to render: a pipeline (or one variant of a template)."""

    job: Job
    label: str
    segment_dir: Path | None = None
    # filled in by planning
    hash: str = ""
    outputs: dict = field(default_factory=dict)
    frames: int = 0
    fps: Fraction = Fraction(24)
    chunks: list[Chunk] = field(default_factory=list)
    todo: list[Chunk] = field(default_factory=list)
    needs_gpu: bool = False
    audio_needed: bool = False
    protected: object = None  # vfx.outputs.Protected: the pipeline file and its inputs
    # results
    rendered: list[Chunk] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    error: str | None = None
    seconds: dict = field(default_factory=dict)
    variant: object = None  # the CSV row, for a template variant


@dataclass
class FarmProgress:
    """What the driver knows at one moment (handed to the progress callback)."""

    frames_done: int
    frames_total: int
    chunks_done: int
    chunks_total: int
    retries: int
    failed: int
    elapsed: float


def plan_job(fj: FarmJob, opts: FarmOptions) -> FarmJob:
    """Load the pipeline in the driver (errors are the pipeline's: exit 2), plan its chunks, and
    decide from the segment folder which chunks still need rendering."""
    loaded = load_job(fj.job)
    try:
        check_joinable(loaded.outputs, fj.job.pipeline)
        fj.hash, fj.outputs, fj.frames, fj.fps = loaded.hash, loaded.outputs, loaded.frames, loaded.fps
        fj.protected = loaded.protected
        fj.needs_gpu = graph_needs_gpu(loaded.graph, fj.job.device)
    finally:
        loaded.graph.close()
    fj.segment_dir = Path(fj.segment_dir or default_segment_dir(fj.outputs)).resolve()
    seg = SegmentDir(fj.segment_dir)
    fj.chunks = plan_chunks(fj.frames, opts.chunk_size)
    seg.check_usable(fj.outputs, [c.name for c in fj.chunks], protected=loaded.protected)
    if opts.resume:
        seg.check_hash(fj.hash)
        fj.todo = [c for c in fj.chunks if not seg.segment_done(c.name, fj.hash)]
    else:
        seg.clear()
        fj.todo = list(fj.chunks)
    for p in seg.partials():  # leftovers of a worker of this machine that died mid-chunk
        shutil.rmtree(p, ignore_errors=True)
    seg.write_manifest(
        {
            "hash": fj.hash,
            "pipeline": fj.job.pipeline,
            "overrides": fj.job.overrides,
            "frames": fj.frames,
            "fps": str(fj.fps),
            "chunk_size": opts.chunk_size,
            "chunks": [c.to_json() for c in fj.chunks],
            "outputs": fj.outputs,
        }
    )
    fj.audio_needed = any(o["audio"] and seg.audio_done(e, fj.hash) is None for e, o in fj.outputs.items())
    return fj


@ray.remote(num_cpus=0)
class ProgressHub:
    """Frames done per chunk, reported by the tasks, read by the driver."""

    def __init__(self):
        self.done: dict = {}
        self.attempts: dict = {}

    def started(self, key) -> int:
        """A task starts on ``key``; returns its attempt number (1 on the first try)."""
        self.attempts[key] = self.attempts.get(key, 0) + 1
        self.done[key] = 0
        return self.attempts[key]

    def report(self, key, done):
        self.done[key] = done

    def snapshot(self):
        """Frames done per chunk key, and how many retries have started so far."""
        return dict(self.done), sum(n - 1 for n in self.attempts.values())


def _chunk_task(job: Job, chunk: Chunk, segment_dir: str, digest: str, hub, key, kill_marker, gpu: bool):
    """One chunk on a worker: render the segment, report progress to ``hub``."""
    ctx = ray.get_runtime_context()
    if not gpu:
        job.device = "cpu"
    attempt = ray.get(hub.started.remote(key))

    def progress(done, total):
        hub.report.remote(key, done)

    started = time.time()
    try:
        rec = render_segment(
            job,
            chunk,
            Path(segment_dir),
            digest,
            progress=progress,
            kill_marker=kill_marker,
            worker={"node_id": ctx.get_node_id(), "gpu_ids": ray.get_gpu_ids(), "attempt": attempt},
        )
    except VfxError as exc:
        raise PipelineFault(str(exc)) from None
    rec["task_seconds"] = round(time.time() - started, 3)
    return rec


def _audio_task(job: Job, segment_dir: str, digest: str):
    """The whole timeline's audio on a worker (always on the CPU)."""
    job.device = "cpu"
    try:
        return render_audio(job, Path(segment_dir), digest)
    except VfxError as exc:
        raise PipelineFault(str(exc)) from None


class PipelineFault(VfxError):
    """A task's failure that is the pipeline's or its media's fault (a bad input file, say), raised as
    a class that is not an ``OSError`` so Ray does not retry it like a worker that died."""


class _LazyLog:
    """A log file opened (for appending, so nothing is ever truncated) on its first write."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self.written = False
        self._file = None
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if self.path is None or not text:
            return len(text)
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self.written = True
            n = self._file.write(text)
            self._file.flush()
            return n

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class _RayThreadsToLog:
    """Stands in for ``sys.stdout``/``sys.stderr``: what Ray's own threads print (they are named
    ``ray_*``: worker-death notices, its log lines) goes to the log; everything else to the stream."""

    def __init__(self, stream, log: _LazyLog):
        self._stream = stream
        self._log = log

    def write(self, text):
        if threading.current_thread().name.startswith("ray_"):
            return self._log.write(text)
        return self._stream.write(text)

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextmanager
def ray_messages_to(log_path: Path | None):
    """Send Ray's own messages (its logger: the token-authentication banner; what its threads
    print: ``(raylet) A worker died ...``) to ``log_path``, not among vfx's lines. Yields the log.

    The streams stay diverted after the block if ``keep`` is set on the yielded log (a Ray that
    outlives the command may still print late notices)."""
    import logging
    import sys

    log = _LazyLog(log_path)
    log.keep = False
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ray_logger = logging.getLogger("ray")
    saved = ray_logger.handlers[:], ray_logger.propagate, logging.lastResort
    ray_logger.handlers, ray_logger.propagate = [handler], False
    # ray.init(configure_logging=False) empties the "ray" logger's handlers: what it logs after that
    # (the token-authentication banner) reaches logging's last resort, which is the log here
    logging.lastResort = handler
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _RayThreadsToLog(out, log), _RayThreadsToLog(err, log)
    try:
        yield log
    finally:
        ray_logger.handlers, ray_logger.propagate, logging.lastResort = saved
        if not log.keep:
            if isinstance(sys.stdout, _RayThreadsToLog):
                sys.stdout = out
            if isinstance(sys.stderr, _RayThreadsToLog):
                sys.stderr = err
            log.close()


@contextmanager
def ray_session(address: str | None, workers: int | None):
    """Ray for the length of a command: already initialised (tests, notebooks) is used as it is;
    no address or "local" starts a local instance and stops it after; "auto" or HOST:PORT connects
    to a running cluster and disconnects after."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        yield {"started": False, "seconds": 0.0}
        return
    t0 = time.perf_counter()
    if address in (None, "", "local"):
        # address="local": a new instance even when another one runs on this machine
        ray.init(
            address="local",
            num_cpus=workers or os.cpu_count(),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            logging_level="ERROR",
        )
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False, logging_level="ERROR")
    info = {"started": True, "seconds": time.perf_counter() - t0}
    try:
        yield info
    finally:
        t1 = time.perf_counter()
        ray.shutdown()
        info["stop_seconds"] = time.perf_counter() - t1


def run_farm(
    jobs: list[FarmJob],
    opts: FarmOptions,
    progress: Callable[[FarmProgress], None] | None = None,
    cancel: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Render every job's missing chunks and audio as Ray tasks, then join each job's segments.

    A job whose chunk fails (after its retries) is marked failed; the other jobs go on. Returns
    timings: ray start/stop, wall time, per-chunk figures.
    """
    log = log or (lambda msg: None)
    timings: dict = {}
    t_start = time.perf_counter()
    log_path = opts.log or (Path(f"{jobs[0].segment_dir}.log") if jobs and jobs[0].segment_dir else None)
    for fj in jobs:
        if log_path is not None and fj.protected is not None and fj.protected.what(log_path):
            raise UnsafeOutput(f"--log: {refusal(log_path, fj.protected)}")
    with ray_messages_to(log_path) as ray_log, ray_session(opts.address, opts.workers) as session:
        ray_log.keep = not session["started"]
        timings["ray_start"] = session["seconds"]
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        hub = ProgressHub.remote()
        chunk_remote = ray.remote(_chunk_task)
        audio_remote = ray.remote(_audio_task)
        kill_index = os.environ.get(KILL_ENV)
        pending: dict = {}  # ObjectRef -> (job, chunk or "audio")
        submitted: dict = {}  # ObjectRef -> when it was submitted
        totals = sum(c.frames for fj in jobs for c in fj.todo)
        for fj in jobs:
            gpu = _want_gpu(fj, opts, cluster_gpus, log)
            seg = str(fj.segment_dir)
            for chunk in fj.todo:
                marker = None
                if kill_index is not None and kill_index.split(":")[0] == str(chunk.index):
                    marker = "always" if kill_index.endswith(":always") else str(Path(seg) / f".killed-{chunk.name}")
                ref = chunk_remote.options(
                    num_cpus=opts.cpus_per_task,
                    num_gpus=1 if gpu else 0,
                    max_retries=opts.retries,
                    retry_exceptions=[OSError],
                    name=f"vfx:{fj.label}:{chunk.name}",
                ).remote(fj.job, chunk, seg, fj.hash, hub, (fj.label, chunk.index), marker, gpu)
                pending[ref] = (fj, chunk)
                submitted[ref] = time.perf_counter()
            if fj.audio_needed:
                ref = audio_remote.options(
                    num_cpus=min(1, opts.cpus_per_task),
                    max_retries=opts.retries,
                    retry_exceptions=[OSError],
                    name=f"vfx:{fj.label}:audio",
                ).remote(fj.job, seg, fj.hash)
                pending[ref] = (fj, "audio")
        outstanding = {id(fj): sum(1 for v in pending.values() if v[0] is fj) for fj in jobs}
        chunks_total = sum(len(fj.todo) for fj in jobs)
        chunks_done = failed = 0
        done_frames = 0
        last_poll = 0.0
        try:
            for fj in jobs:
                if outstanding[id(fj)] == 0:
                    _finish(fj, opts, log)
            while pending:
                if cancel is not None and cancel.is_set():
                    raise KeyboardInterrupt
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                for ref in ready:
                    fj, what = pending.pop(ref)
                    outstanding[id(fj)] -= 1
                    try:
                        result = ray.get(ref)
                    except Exception as exc:  # the task failed for good (retries spent)
                        from ray.exceptions import TaskCancelledError

                        if isinstance(exc, TaskCancelledError) and fj.error is not None:
                            continue  # cancelled because another chunk of its job failed
                        failed += 1
                        if fj.error is None:
                            fj.error = _describe_failure(fj, what, exc, opts.retries)
                            log(f"error: {fj.label}: {fj.error}")
                            for other, (ofj, _w) in list(pending.items()):
                                if ofj is fj:
                                    ray.cancel(other, force=False)
                        continue
                    if what == "audio":
                        fj.seconds["audio"] = sum(r["seconds"] for r in result.values())
                    else:
                        chunks_done += 1
                        done_frames += what.frames
                        fj.rendered.append(what)
                        result["driver_seconds"] = round(time.perf_counter() - submitted[ref], 3)
                        fj.records.append(result)
                    if outstanding[id(fj)] == 0 and fj.error is None:
                        _finish(fj, opts, log)
                now = time.perf_counter()
                if progress is not None and now - last_poll >= 0.25:
                    last_poll = now
                    try:
                        live, retries = ray.get(hub.snapshot.remote(), timeout=2)
                    except Exception:
                        live, retries = {}, 0
                    done_keys = {(fj.label, c.index) for fj in jobs for c in fj.rendered}
                    partial = sum(v for k, v in live.items() if k not in done_keys)
                    progress(
                        FarmProgress(
                            done_frames + partial, totals, chunks_done, chunks_total, retries, failed, now - t_start
                        )
                    )
            try:
                _live, retries = ray.get(hub.snapshot.remote(), timeout=2)
            except Exception:
                retries = 0
            timings["retries"] = retries
            if progress is not None:
                progress(
                    FarmProgress(
                        done_frames, totals, chunks_done, chunks_total, retries, failed, time.perf_counter() - t_start
                    )
                )
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            raise
        timings["wall"] = time.perf_counter() - t_start
    timings["ray_stop"] = session.get("stop_seconds", 0.0)
    timings["ray_log"] = str(ray_log.path) if ray_log.written else None
    return timings


def _want_gpu(fj: FarmJob, opts: FarmOptions, cluster_gpus: float, log) -> bool:
    """Whether ``fj``'s chunks ask Ray for a GPU, from ``--gpu`` and what the cluster has."""
    if opts.gpu == "never":
        return False
    if opts.gpu == "always":
        if cluster_gpus < 1:
            raise VfxError("--gpu always, but the Ray cluster has no GPU")
        return True
    if fj.needs_gpu and cluster_gpus < 1:
        log(f"warning: {fj.label} would use a GPU, but the Ray cluster has none: its chunks run on CPUs")
        return False
    return fj.needs_gpu


def _describe_failure(fj: FarmJob, what, exc, retries: int) -> str:
    from ray.exceptions import RayTaskError, TaskCancelledError, WorkerCrashedError

    part = "the audio" if what == "audio" else what.label
    if type(exc).__name__ == "OutOfMemoryError":
        return (
            f"{part} failed: Ray's memory monitor killed its worker, the machine being short of memory "
            f"({str(exc).splitlines()[0][:200]})"
        )
    if isinstance(exc, WorkerCrashedError) or "WorkerCrashedError" in type(exc).__name__:
        return f"{part} failed: its worker died on every attempt ({retries + 1} tries)"
    if isinstance(exc, TaskCancelledError):
        return f"{part} was cancelled"
    if isinstance(exc, RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{part} failed: {cause}"
    return f"{part} failed: {type(exc).__name__}: {exc}"


def _finish(fj: FarmJob, opts: FarmOptions, log) -> None:
    """Join a job's segments into its outputs (in the driver)."""
    seg = SegmentDir(fj.segment_dir)
    t0 = time.perf_counter()
    try:
        fj.written = join_outputs(seg, fj.outputs, fj.hash, fj.fps, keep_segments=opts.keep_segments)
    except Exception as exc:  # one job's join failing must not stop the other jobs
        fj.error = f"join failed: {exc}" if isinstance(exc, VfxError) else f"join failed: {type(exc).__name__}: {exc}"
        log(f"error: {fj.label}: {fj.error}")
        return
    fj.seconds["join"] = time.perf_counter() - t0
    if not opts.keep_segments:
        seg.remove()
