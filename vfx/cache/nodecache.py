"""``NodeCache``: the stores a render reads through and fills, and its per-render ``Binding``.

``NodeCache.bind(graph, device)`` computes every node's key once (``vfx.cache.keys``) and hands
each keyed node with video a binding, which ``Node.frames`` asks for frames: each frame comes
from the memory store, else the disk store, else the node renders the frames that are missing
(and only those). What a node renders is kept when it pays (the *policy*): ``"auto"`` stores a
node's frames in memory when making one again would take longer than copying it, and on disk
when it would take over 1.5 times as long as reading one back is measured to take (``Node.cache_worthwhile``
declares either); ``"all"`` stores every keyed node. "Making one again" is the node's own time
plus its inputs as they will be next time: an input stored on disk counts as reading it back, so
a cheap node over expensive stored inputs (a composite of cached layers) is stored too, and an
edit above it reads one frame, not all of its layers. A batch still in decoded form (a video source passing frames
through, a grade's 8-bit codes) is never stored: its conversion is what those fast paths avoid.

Reads check their checksum (a bad entry is recomputed, never shown); disk writes run on a writer
thread behind a bounded queue, and ``Binding.close`` waits for them.
"""

from __future__ import annotations

import os
import queue
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..frames import FrameBatch, empty_pixels
from .disk import CacheError, DiskStore, default_folder
from .keys import graph_keys
from .memory import MemoryStore

DEFAULT_DISK_LIMIT = 20 << 30
DEFAULT_MEMORY_LIMIT = 1 << 30
#: bytes per second a disk hit is assumed to read back at, until hits measure it
_READ_RATE = 150e6
#: bytes per second of a plain copy (a memory hit)
_COPY_RATE = 2e9
#: a frame goes to disk when making it again costs this many times reading it back: a cheap node
#: over one stored input (a pass-through, a cut) is not stored again, a composite of two is
_PAYBACK = 1.5
_WRITE_QUEUE = 8
#: frames read ahead and not yet asked for, at most (all nodes together)
_AHEAD = 8
_DONE = object()
POLICIES = ("auto", "all")


@dataclass
class NodeStats:
    """Frames of one node: served from memory, from disk, rendered, stored in memory and on disk."""

    memory_hits: int = 0
    disk_hits: int = 0
    rendered: int = 0
    stored_memory: int = 0
    stored_disk: int = 0
    #: seconds per frame of making a frame again next time: its own work, plus its inputs as they
    #: will be (stored ones read back, the others rendered again); a running mean
    cost: float = 0.0


@dataclass
class CacheStats:
    """Totals over every render of one ``NodeCache``, by node id."""

    nodes: dict[str, NodeStats] = field(default_factory=dict)

    def total(self, name: str) -> int:
        """The sum of one counter (``memory_hits``, ``disk_hits``, ``rendered``...) over the nodes."""
        return sum(getattr(s, name) for s in self.nodes.values())


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """``"20G"``, ``"512M"``, ``"1.5g"`` or a count of bytes, to bytes (at least 1 MiB); ``ValueError`` otherwise."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
        if not m:
            raise ValueError(f"expected a size such as 20G, 512M or 1500000000, got {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < 1 << 20:
        raise ValueError(f"a cache smaller than 1 MiB holds next to nothing, got {text!r}")
    return value


def format_size(n: int) -> str:
    """``n`` bytes as ``1.5 GiB``, ``300 MiB``, ``12 KiB``."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


def size_setting(value: str | int | None, env: str, default: int, option: str) -> int:
    """A byte bound from an option (``"2G"``), else the environment variable ``env``, else ``default``."""
    text = value if value is not None else os.environ.get(env)
    if text is None:
        return default
    try:
        return parse_size(text)
    except ValueError as exc:
        where = option if value is not None else env
        raise CacheError(f"{where}: {exc}") from None


class NodeCache:
    """A memory store and/or a disk store, shared by the renders (and previews) that use it."""

    def __init__(self, disk: DiskStore | None = None, memory: MemoryStore | None = None, policy: str = "auto"):
        if policy not in POLICIES:
            raise CacheError(f"unknown cache policy {policy!r}: use {' or '.join(POLICIES)}")
        self.disk, self.memory, self.policy = disk, memory, policy
        self.stats = CacheStats()
        #: node keys the memory store keeps (None: all); a matrix keeps the keys its rows share
        self.memory_keys: set[str] | None = None
        #: why disk writes stopped during a render (a full disk), one message per render it happened in
        self.write_errors: list[str] = []
        self._read_bytes = 0.0
        self._read_seconds = 0.0
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        folder: str | Path | None = None,
        *,
        disk: bool = True,
        disk_limit: str | int | None = None,
        memory_limit: str | int | None = None,
        memory: bool = True,
        policy: str = "auto",
    ) -> "NodeCache":
        """A cache on ``folder`` (default ``default_folder()``) bounded by ``disk_limit`` (or
        ``$VFX_CACHE_SIZE``), with a memory store of ``memory_limit`` (or ``$VFX_CACHE_MEMORY``)."""
        store = None
        if disk:
            limit = size_setting(disk_limit, "VFX_CACHE_SIZE", DEFAULT_DISK_LIMIT, "--cache-size")
            store = DiskStore(Path(folder) if folder else default_folder(), limit)
        mem = None
        if memory:
            mem = MemoryStore(size_setting(memory_limit, "VFX_CACHE_MEMORY", DEFAULT_MEMORY_LIMIT, "--cache-memory"))
        return cls(store, mem, policy)

    def bind(self, graph: Any, device: Any) -> "Binding":
        """Attach to every keyed node of ``graph`` for one render; ``Binding.close()`` detaches."""
        return Binding(self, graph, device)

    def read_seconds(self, nbytes: int) -> float:
        """How long reading ``nbytes`` of frame back from disk is expected to take."""
        with self._lock:
            rate = self._read_bytes / self._read_seconds if self._read_seconds > 0.05 else _READ_RATE
        return nbytes / rate

    def _measured_read(self, nbytes: int, seconds: float) -> None:
        with self._lock:
            self._read_bytes += nbytes
            self._read_seconds += seconds

    def corrupt(self) -> list[tuple[Path, str]]:
        """Disk entries found corrupt (and recomputed) so far: (path, why)."""
        return list(self.disk.corrupt) if self.disk is not None else []


class _Timer(threading.local):
    """Per thread, for each cached pull under way: [seconds its inputs' pulls took, what those
    will cost next time], so a node's own time leaves out its inputs' and its cost counts them as
    they will be (a stored input is read back)."""

    def __init__(self):
        self.stack: list[list[float]] = []


class Binding:
    """One render's view of a ``NodeCache``: the graph's keys, and the calls ``Node.frames`` makes."""

    def __init__(self, cache: NodeCache, graph: Any, device: Any):
        self.cache = cache
        self.device = device
        self.keys = graph_keys(graph, device)
        self._timer = _Timer()
        self._writes: queue.Queue = queue.Queue(maxsize=_WRITE_QUEUE)
        self._writer: threading.Thread | None = None
        self.error: BaseException | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: dict[tuple[str, int], Future] = {}
        self._ahead_lock = threading.Lock()
        self._nodes = []
        for node_id, key in self.keys.items():
            node = graph.nodes[node_id]
            if key is not None and node.video is not None:
                node._cache_binding = self
                self._nodes.append(node)
                cache.stats.nodes.setdefault(node_id, NodeStats())

    # --- Node.frames calls this ---------------------------------------------------------------
    def frames(self, node: Any, indices: list[int]) -> FrameBatch:
        """Frames ``indices`` of ``node``: stored ones read back, the others rendered (and stored if it pays)."""
        key = self.keys[node.id]
        assert key is not None, "only keyed nodes are bound"
        stats = self.cache.stats.nodes[node.id]
        t0 = time.perf_counter()
        h, w = node.video.height, node.video.width
        ahead = self._take_ahead(key, indices)
        if len(indices) == 1 and ahead.get(indices[0]) is not None:
            out = self._tensor(ahead[indices[0]])  # read ahead: its memory becomes the batch
            stats.disk_hits += 1
            self._read_ahead(node, key, indices)
            self._account(t0, self.cache.read_seconds(16 * w * h))
            return FrameBatch(indices, out if str(self.device) == "cpu" else out.to(self.device), owned=True)
        # stored frames are decoded straight into the batch's memory (channels-last, on the CPU)
        out = empty_pixels(len(indices), h, w)
        planes = out.permute(0, 2, 3, 1).numpy()  # (N, H, W, 4), the same memory
        found: dict[int, int] = {}  # frame -> row of ``out`` holding it
        for j, i in enumerate(indices):
            if i in found:
                out[j] = out[found[i]]
            elif ahead.get(i) is not None:
                planes[j] = ahead[i]
                stats.disk_hits += 1
                found[i] = j
            elif self._read(key, i, stats, planes[j], out, j):
                found[i] = j
        missing = list(dict.fromkeys(i for i in indices if i not in found))
        if not missing:
            self._read_ahead(node, key, indices)
        # what these frames cost the next time: reading the stored ones back, so far
        again = len(found) * self.cache.read_seconds(16 * w * h)
        batch = None
        try:
            if missing:
                batch, again_missing = self._render(node, missing, key, stats)
                again += again_missing
        finally:
            self._account(t0, again)
        if batch is not None:
            if not found and missing == indices:
                return batch
            rendered = batch.pixels
            position = {i: j for j, i in enumerate(missing)}
            for j, i in enumerate(indices):
                if i not in found:
                    out[j] = rendered[position[i]]
        if str(self.device) != "cpu":
            out = out.to(self.device)
        return FrameBatch(indices, out, owned=True)

    def _account(self, t0: float, again: float) -> None:
        """Tell the pull this one runs under (if any) what it took since ``t0`` and will cost next time."""
        stack = self._timer.stack
        if stack:
            stack[-1][0] += time.perf_counter() - t0
            stack[-1][1] += again

    def _read(self, key: str, frame: int, stats: NodeStats, target: Any, out: Any, row: int) -> bool:
        """Frame ``frame`` from memory (copied into ``out[row]``) or disk (decoded into ``target``,
        the same memory); whether it was there."""
        cache = self.cache
        if cache.memory is not None:
            pixels = cache.memory.get(key, frame)
            if pixels is not None:
                out[row] = pixels[0]
                stats.memory_hits += 1
                return True
        if cache.disk is None:
            return False
        t0 = time.perf_counter()
        if cache.disk.get(key, frame, target) is None:
            return False
        cache._measured_read(target.nbytes, time.perf_counter() - t0)
        stats.disk_hits += 1
        if cache.memory is not None and self._keeps(key):
            cache.memory.put(key, frame, out[row : row + 1].clone(memory_format=self._channels_last()))
        return True

    @staticmethod
    def _channels_last() -> Any:
        import torch

        return torch.channels_last

    # --- reading ahead -----------------------------------------------------------------------
    def _read_ahead(self, node: Any, key: str, indices: list[int]) -> None:
        """After a batch served whole from disk, decode the next one on a reader thread (a render
        walks forward), so the next pull finds it ready and the reads overlap the work above."""
        if self.cache.disk is None or not indices or indices != list(range(indices[0], indices[0] + len(indices))):
            return
        with self._ahead_lock:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vfx-cache-reader")
            start = indices[-1] + 1
            for i in range(start, min(start + len(indices), node.video.frame_count)):
                if (key, i) not in self._ahead:
                    self._ahead[(key, i)] = self._reader.submit(self._read_array, key, i)
            while len(self._ahead) > _AHEAD:  # never asked for (a preview jumping about): forget the oldest
                self._ahead.pop(next(iter(self._ahead))).cancel()

    def _read_array(self, key: str, frame: int) -> Any:
        t0 = time.perf_counter()
        assert self.cache.disk is not None
        array = self.cache.disk.get(key, frame)
        if array is not None:
            self.cache._measured_read(array.nbytes, time.perf_counter() - t0)
        return array

    def _take_ahead(self, key: str, indices: list[int]) -> dict[int, Any]:
        """The frames of ``indices`` the reader thread has read (or is reading) ahead, by index."""
        if not self._ahead:
            return {}
        with self._ahead_lock:
            futures = {i: self._ahead.pop((key, i)) for i in indices if (key, i) in self._ahead}
        got = {}
        for i, future in futures.items():
            try:
                got[i] = future.result()
            except Exception:  # read again on this thread, which reports what is wrong
                got[i] = None
        return got

    @staticmethod
    def _tensor(array: Any) -> Any:
        import torch

        return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0)

    def _keeps(self, key: str) -> bool:
        wanted = self.cache.memory_keys
        return wanted is None or key in wanted

    def _render(self, node: Any, missing: list[int], key: str, stats: NodeStats) -> tuple[FrameBatch, float]:
        """Render ``missing``, store them if it pays; return the batch and what making these
        frames will cost next time (reading them back if stored, else rendering them again)."""
        timer = self._timer
        timer.stack.append([0.0, 0.0])  # seconds in the inputs' pulls, and what those cost next time
        t0 = time.perf_counter()
        try:
            batch = node._compute(missing)
        finally:
            elapsed = time.perf_counter() - t0
            inner, inputs_again = timer.stack.pop()
        # the node's own work, plus its inputs as they will be next time (stored ones read back)
        again = max(0.0, elapsed - inner) + inputs_again
        stats.cost = (stats.cost * stats.rendered + again) / (stats.rendered + len(missing))  # the mean so far
        stats.rendered += len(missing)
        if batch._pixels is None:
            # not float pixels yet (decoded frames, 8-bit codes): passing them on unconverted is the point
            return batch, again
        if self._store(node, key, batch, missing, stats):
            again = self.cache.read_seconds(16 * batch.width * batch.height) * len(missing)
        return batch, again

    def _store(self, node: Any, key: str, batch: FrameBatch, missing: list[int], stats: NodeStats) -> bool:
        """Keep the rendered frames where it pays; whether they went to disk."""
        cache = self.cache
        frame_bytes = 16 * batch.width * batch.height
        declared = type(node).cache_worthwhile
        if cache.policy == "all":
            to_memory = to_disk = True
        else:
            to_memory = declared is not None or stats.cost > frame_bytes / _COPY_RATE
            to_disk = declared is True or (declared is None and stats.cost > _PAYBACK * cache.read_seconds(frame_bytes))
        import torch

        pixels = batch.pixels
        if to_memory and cache.memory is not None and self._keeps(key):
            for j, i in enumerate(missing):
                cache.memory.put(key, i, pixels[j : j + 1].clone(memory_format=torch.channels_last))
                stats.stored_memory += 1
        if not (to_disk and cache.disk is not None and self.error is None):
            return False
        import numpy as np

        host = pixels.detach().to("cpu")
        for j, i in enumerate(missing):
            # a copy: the writer thread encodes it later, and a consumer may draw on the batch
            frame = np.array(host[j].permute(1, 2, 0).numpy(), dtype=np.float32, copy=True)
            self._submit((key, i, frame))
            stats.stored_disk += 1
        return True

    # --- the disk writer ------------------------------------------------------------------------
    def _submit(self, item) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="vfx-cache-writer", daemon=True)
            self._writer.start()
        while self.error is None:
            try:
                self._writes.put(item, timeout=0.1)
                return
            except queue.Full:
                if self._writer is None or not self._writer.is_alive():
                    return

    def _write_loop(self) -> None:
        disk = self.cache.disk
        assert disk is not None
        while True:
            item = self._writes.get()
            if item is _DONE:
                return
            if self.error is not None:
                continue
            try:
                disk.put(*item)
            except Exception as exc:  # a full disk: stop filling, keep rendering
                self.error = exc
                self.cache.write_errors.append(f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Wait for the disk writes, stop reading ahead, and detach from the graph's nodes."""
        for node in self._nodes:
            node._cache_binding = None
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None
            self._ahead.clear()
        if self._writer is not None:
            self._writes.put(_DONE)
            self._writer.join()
            self._writer = None
