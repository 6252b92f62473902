"""The scheduler: pulls batches through the graph and feeds encoders, with bounded memory.

One render pass per encoder, in three stages joined by bounded queues: a render thread pulls
``[i, i+B)`` from the encoder's input (each node pulls from its own inputs; sources decode ahead in
their own threads), a convert thread turns each batch into the encoder's pixel format
(``Encoder.prepare``), and the calling thread encodes and muxes. Memory is bounded
by the queue depth, the batch size and one cached batch per shared node, never by video length.
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import RenderError, VfxError
from .frames import fit_channels, samples_at
from .graph import Graph
from .node import Encoder, Node
from .util.lru import LRU

if TYPE_CHECKING:
    from .cache import NodeCache

QUEUE_DEPTH = 2
_DONE = object()
#: Python frames a pull may stack per node of the longest input chain (pull, frames, render, ...),
#: and thread stack per node, both with room to spare
_FRAMES_PER_NODE = 16
_STACK_PER_NODE = 64 << 10
#: chains up to this depth render on an ordinary thread stack and recursion limit
_SHALLOW = 40


@dataclass
class RenderOptions:
    """How to render: device, batch size, frame range and thread budget."""

    device: str = "auto"
    batch_size: int | None = None
    frames: tuple[int, int] | None = None  # half-open [start, stop) of the output
    memory_budget: int | None = None  # bytes of frames in flight; None picks from the device
    torch_threads: int | None = None
    #: read frames of unchanged nodes from this cache and fill it (``vfx.cache``); None renders all
    cache: "NodeCache | None" = None


@dataclass
class RenderResult:
    """What a render wrote and how fast."""

    outputs: list[Path] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    batch_size: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0


ProgressFn = Callable[[str, int, int], None]


def resolve_device(name: str):
    """``auto`` picks CUDA when torch sees a GPU; ``cuda`` without one is an error.

    On a machine with no NVIDIA driver, ``auto`` answers ``cpu`` without importing torch, so a
    render that never touches pixels (a plain transcode) never pays torch's start-up and memory.
    """
    if name == "cpu":
        return "cpu"
    if name == "auto" and "torch" not in sys.modules and not _nvidia_driver_present():
        return "cpu"
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise VfxError("--device cuda was asked for, but torch sees no CUDA device here")
        return name
    raise VfxError(f"unknown device {name!r}: use auto, cpu or cuda")


def _nvidia_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def default_torch_threads(requested: int | None = None) -> int:
    """torch intra-op threads: ``requested``, else 1 on a machine of 2 cores or fewer, else half the cores."""
    cores = os.cpu_count() or 1
    return requested or (1 if cores <= 2 else max(1, cores // 2))


def configure_threads(device, torch_threads: int | None = None) -> None:
    """Share the cores between codecs and torch on purpose (see DESIGN: thread budget).

    torch gets one intra-op thread per two cores (one on this 2-core class of machine): the
    decoder and encoder threads use the rest. torch is configured now if it is loaded, else
    through OMP_NUM_THREADS, which it reads when it is first imported.
    """
    wanted = default_torch_threads(torch_threads)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
    elif torch_threads or "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(wanted)
    try:
        import cv2

        cv2.setNumThreads(wanted)
    except ImportError:
        pass
    _tune_malloc()


def _tune_malloc() -> None:
    """Serve frame-sized buffers from the heap and keep it, instead of a fresh mmap per frame.

    glibc maps every allocation over 32 MiB (a 1080p float frame is 33 MiB) and unmaps it on
    free, so each frame cost ~8,000 page faults to touch again (see BENCH-ANCHORS.md). With mmap
    off and trimming raised, freed frames are reused as they are; the heap stays as large as the
    largest working set, which the engine's bounded queues already cap.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-4, 0)  # M_MMAP_MAX: never mmap
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB of free heap
    libc.mallopt(-2, 64 << 20)  # M_TOP_PAD: grow the heap in 64 MiB steps
    libc.mallopt(-8, 1)  # M_ARENA_MAX: one heap, not one per decoder/encoder thread


def choose_batch_size(graph: Graph, encoder: Encoder, device, requested: int | None, budget: int | None) -> int:
    """The batch size: ``requested`` if given, else what the memory budget allows, capped by nodes."""
    caps = [n.max_batch for n in graph.nodes.values() if n.max_batch]
    cap = min(caps) if caps else 256
    if requested:
        return max(1, min(requested, cap))
    info = encoder.video
    frame_bytes = info.width * info.height * 16
    if budget is None:
        if str(device).startswith("cuda"):
            import torch

            free, _ = torch.cuda.mem_get_info()
            budget = int(free * 0.4)
        else:
            budget = 128 << 20
    live = len(graph.nodes) + QUEUE_DEPTH + 2
    size = max(1, budget // (frame_bytes * live))
    limit = 64 if str(device).startswith("cuda") else 4
    return int(max(1, min(size, limit, cap)))


_limit_lock = threading.Lock()
_limit_holders: list[int] = []
_limit_base = [0]


class _DeepPulls:
    """Room for the nested pulls of a graph ``depth`` nodes deep: the interpreter's recursion limit
    is raised while any deep render runs (and restored after the last), and threads started with
    ``start`` get a stack to match."""

    def __init__(self, depth: int):
        self.depth = depth
        self.need = depth * _FRAMES_PER_NODE + 1000 if depth > _SHALLOW else 0

    def __enter__(self):
        if self.need:
            with _limit_lock:
                if not _limit_holders:
                    _limit_base[0] = sys.getrecursionlimit()
                _limit_holders.append(self.need)
                sys.setrecursionlimit(max([_limit_base[0], *_limit_holders]))
        return self

    def __exit__(self, *exc):
        if self.need:
            with _limit_lock:
                _limit_holders.remove(self.need)
                sys.setrecursionlimit(max([_limit_base[0], *_limit_holders]))

    def start(self, thread: threading.Thread) -> None:
        if not self.need:
            thread.start()
            return
        with _limit_lock:
            previous = threading.stack_size((16 << 20) + self.depth * _STACK_PER_NODE)
            try:
                thread.start()
            finally:
                threading.stack_size(previous)

    def call(self, fn, *args):
        """``fn(*args)`` on a thread with room for the pulls (on this thread when the graph is shallow)."""
        if not self.need:
            return fn(*args)
        result: list = []

        def run():
            try:
                result.append((True, fn(*args)))
            except BaseException as exc:
                result.append((False, exc))

        worker = threading.Thread(target=run, name="vfx-pull", daemon=True)
        with self:
            self.start(worker)
            worker.join()
        ok, value = result[0]
        if not ok:
            raise value
        return value


def deep_call(graph: Graph, fn, *args):
    """``fn(*args)`` with room for pulls through every node of ``graph`` (a long chain recurses deeply)."""
    return _DeepPulls(graph.depth).call(fn, *args)


def share(node: Node, on: bool = True) -> None:
    """Give ``node`` a one-batch cache (a node read by two consumers, or twice by one, renders
    each batch once), or take it away; a node with one is never handed out as writable."""
    node._shared = LRU(1) if on else None


def _mark_shared(graph: Graph) -> None:
    consumers: dict[str, int] = {}
    for src, dst, option in graph.edges():
        field = graph.nodes[dst].Options.fields().get(option)
        if getattr(field, "kind", "video") == "audio":
            continue  # an audio input (an encoder's ``audio``) never pulls frames
        consumers[src] = consumers.get(src, 0) + 1
    shared = {node_id for node_id in graph.nodes if consumers.get(node_id, 0) > 1}
    shared |= {src.id for node in graph.nodes.values() for src in node.pulled_twice()}
    for node_id, node in graph.nodes.items():
        share(node, node_id in shared)


def render(
    graph: Graph,
    options: RenderOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> RenderResult:
    """Render every encoder of ``graph``; on failure no output is left half-written."""
    options = options or RenderOptions()
    device = resolve_device(options.device)
    if any(node.needs_torch for node in graph.nodes.values()):
        # Imported here, once: first imports of torch racing in the render and convert threads
        # can see a partially initialized module.
        import torch  # noqa: F401
    configure_threads(device, options.torch_threads)
    _mark_shared(graph)
    result = RenderResult()
    started = time.perf_counter()
    binding = options.cache.bind(graph, device) if options.cache is not None else None
    try:
        for node in graph.nodes.values():
            node.open()
        for encoder in graph.encoders:
            with _DeepPulls(graph.depth):
                written, count, batch = _render_encoder(graph, encoder, device, options, progress, cancel)
            result.outputs.extend(written)
            result.frames += count
            result.batch_size = batch
    finally:
        graph.close()
        if binding is not None:
            binding.close()
    result.seconds = time.perf_counter() - started
    return result


def frame_range(encoder: Encoder, frames: tuple[int, int] | None) -> tuple[int, int]:
    total = encoder.video.frame_count
    if frames is None:
        return 0, total
    start, stop = frames
    if start >= total:
        raise VfxError(f"--frames starts at {start}, but '{encoder.id}' has only {total} frames")
    return start, min(stop, total)


def _render_encoder(
    graph: Graph,
    encoder: Encoder,
    device,
    options: RenderOptions,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
):
    source: Node = encoder.input("input")
    audio_node = encoder.audio_source()
    start, stop = frame_range(encoder, options.frames)
    batch_size = choose_batch_size(graph, encoder, device, options.batch_size, options.memory_budget)
    fps = encoder.video.fps
    rate = graph.spec.settings.sample_rate
    channels = graph.spec.settings.channels
    rendered: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    prepared: queue.Queue = queue.Queue(maxsize=QUEUE_DEPTH)
    stop_flag = threading.Event()
    deep = _DeepPulls(graph.depth)

    def produce():
        try:
            for i in range(start, stop, batch_size):
                if stop_flag.is_set() or (cancel is not None and cancel.is_set()):
                    break
                indices = list(range(i, min(i + batch_size, stop)))
                batch = source.frames(indices)
                if len(batch) != len(indices):
                    raise RenderError(f"returned {len(batch)} frames for a request of {len(indices)}", node=source.id)
                audio = None
                if audio_node is not None:
                    a0 = samples_at(indices[0], fps, rate)
                    a1 = samples_at(indices[-1] + 1, fps, rate)
                    buf = audio_node.audio_samples(a0, a1 - a0)
                    audio = fit_channels(buf.samples, channels)
                _put(rendered, (batch, audio), stop_flag)
            _put(rendered, _DONE, stop_flag)
        except BaseException as exc:
            _put(rendered, exc, stop_flag)

    def convert():
        while True:
            item = rendered.get()
            if item is _DONE or isinstance(item, BaseException):
                _put(prepared, item, stop_flag)
                return
            batch, audio = item
            try:
                ready = encoder.prepare(batch)
            except VfxError as exc:
                _put(prepared, exc, stop_flag)
                return
            except Exception as exc:
                error = RenderError(f"{type(exc).__name__}: {exc}", node=encoder.id)
                error.__cause__ = exc
                _put(prepared, error, stop_flag)
                return
            _put(prepared, (ready, len(batch), audio), stop_flag)

    encoder.begin(start, stop)
    workers = [
        threading.Thread(target=produce, name=f"render:{encoder.id}", daemon=True),
        threading.Thread(target=convert, name=f"convert:{encoder.id}", daemon=True),
    ]
    deep.start(workers[0])
    workers[1].start()
    done = 0
    try:
        while True:
            item = prepared.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            ready, count, audio = item
            try:
                encoder.write(ready, audio)
            except VfxError:
                raise
            except Exception as exc:
                raise RenderError(f"{type(exc).__name__}: {exc}", node=encoder.id) from exc
            done += count
            if progress:
                progress(encoder.id, done, stop - start)
            if cancel is not None and cancel.is_set():
                raise RenderError("cancelled", node=encoder.id)
        if (cancel is not None and cancel.is_set()) or done != stop - start:
            # a cancel the producer saw first ends its frames early: never finish a short file
            raise RenderError(f"cancelled after {done} of {stop - start} frames", node=encoder.id)
        written = encoder.finish()
    except BaseException:
        stop_flag.set()
        _drain(rendered)
        encoder.abort()
        raise
    finally:
        stop_flag.set()
        for worker in workers:
            worker.join(timeout=10)
    return written, done, batch_size


def _drain(q: queue.Queue) -> None:
    """Empty a queue so a worker blocked on it can notice the stop flag and finish."""
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


def _put(q: queue.Queue, item, stop_flag: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop_flag.is_set():
                return


def render_frames(graph: Graph, node: Node, indices: list[int], device="cpu", cache: "NodeCache | None" = None):
    """Render specific frames of one node (previews and contact sheets), through ``cache`` if given."""
    device = resolve_device(device)
    configure_threads(device)
    _mark_shared(graph)
    binding = cache.bind(graph, device) if cache is not None else None
    for n in graph.nodes.values():
        n.open()
    try:
        return deep_call(graph, node.frames, indices)
    finally:
        graph.close()
        if binding is not None:
            binding.close()
