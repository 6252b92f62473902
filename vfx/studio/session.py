"""``Studio``: one pipeline file as the page sees it, reloaded whenever it (or a file it reads) changes.

The studio keeps the *last good graph*: a reload that fails keeps showing it and records the
problems (the ``Problem`` objects ``vfx validate`` prints). Frames are rendered by
``vfx.engine.render_frames`` through one ``NodeCache``, so after an edit only the nodes whose
key changed (the edited one and those after it) render again; encoded pictures are kept by
(node key, frame, scale, format) so a frame shown once is served again without any work.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import PipelineError, Problem, VfxError
from ..node import Encoder
from ..util.lru import LRU
from . import describe, view
from .events import EventBus

#: bytes of encoded pictures (PNG/JPEG) kept for scrubbing and playback
IMAGE_CACHE_BYTES = 256 << 20
#: seconds between two looks at the watched files
POLL_SECONDS = 0.25
#: the most input files watched one by one (a long image sequence: its folder instead)
MAX_WATCHED = 4000


class Studio:
    """The pipeline at ``pipeline`` (with ``--set`` ``overrides``) on ``device``, frames through ``cache``."""

    def __init__(self, pipeline: str, overrides=(), device: str = "cpu", cache=None, policy: str = "auto"):
        from ..cache import NodeCache
        from ..engine import resolve_device

        self.pipeline = str(pipeline)
        self.path = Path(pipeline)
        self.folder = Path(os.path.realpath(self.path.parent if str(self.path.parent) else "."))
        self.overrides = list(overrides)
        self.device = str(resolve_device(device))
        self.cache = cache if cache is not None else NodeCache.open(disk=False, policy=policy)
        self.bus = EventBus()
        self.graph = None
        self.keys: dict[str, str | None] = {}
        self.problems: list[Problem] = []
        self.version = 0
        self.loaded_at = 0.0
        self.reload_seconds = 0.0
        self.images: LRU = LRU(IMAGE_CACHE_BYTES, weigh=len)
        self.lock = threading.RLock()  # one render of the viewer's graph at a time
        self._watched: dict[str, tuple] = {}
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self.jobs: Any = None  # set by vfx.studio.jobs.Renders
        self._audio: tuple[int, dict] | None = None
        self.reload()

    # --- loading --------------------------------------------------------------------------------
    def reload(self) -> dict:
        """Read and build the pipeline again; keep the last good graph when it fails. Returns the
        event sent to the page: ``{"version", "ok", "problems", "changed", "seconds"}``."""
        from ..graph import build_for_preview
        from ..pipeline import load
        from ..cache import graph_keys

        t0 = time.perf_counter()
        try:
            spec = load(self.pipeline, self.overrides)
            graph = build_for_preview(spec, device=self.device)
            keys = graph_keys(graph, self.device)
            problems: list[Problem] = []
        except PipelineError as exc:
            graph, keys, problems = None, {}, list(exc.problems)
        except VfxError as exc:
            graph, keys, problems = None, {}, [Problem(str(exc), file=self.pipeline)]
        except Exception as exc:  # a plugin's bug: shown on the page, the studio keeps running
            graph, keys, problems = (
                None,
                {},
                [Problem(f"internal error: {type(exc).__name__}: {exc}", file=self.pipeline)],
            )
        with self.lock:
            old = self.keys
            if graph is not None:
                if self.graph is not None:
                    self.graph.close()
                self.graph, self.keys = graph, keys
            self.problems = problems
            self.version += 1
            self.loaded_at = time.time()
            self.reload_seconds = time.perf_counter() - t0
            changed = sorted(n for n in self.keys if graph is not None and (old.get(n) != self.keys[n]))
            self._watch_files()
        event = {
            "version": self.version,
            "ok": not problems,
            "problems": [describe.problem(p) for p in problems],
            "changed": changed,
            "seconds": round(self.reload_seconds, 4),
        }
        self.bus.publish("reload", event)
        return event

    def _watch_files(self) -> None:
        paths = {os.path.abspath(self.pipeline)}
        if self.graph is not None:
            for node in self.graph.nodes.values():
                try:
                    files = node.input_files()
                except Exception:
                    files = []
                if len(files) > MAX_WATCHED:
                    paths.update(os.path.abspath(Path(f).parent) for f in files[:1])
                else:
                    paths.update(os.path.abspath(f) for f in files)
        previous = self._watched
        self._watched = {p: previous.get(p) or _stamp(p) for p in paths}

    def changed_files(self) -> list[str]:
        """Watched files whose size or modification time changed since the last look."""
        changed = []
        for path, stamp in list(self._watched.items()):
            now = _stamp(path)
            if now != stamp:
                self._watched[path] = now
                changed.append(path)
        return changed

    def watch(self, on_reload: Callable[[dict], None] | None = None) -> None:
        """Reload in a thread whenever a watched file changes (until ``close``)."""

        def loop():
            while not self._stop.wait(POLL_SECONDS):
                if self.changed_files():
                    time.sleep(0.05)  # an editor writing in steps: let it finish
                    self.changed_files()
                    event = self.reload()
                    if on_reload is not None:
                        on_reload(event)

        self._watcher = threading.Thread(target=loop, name="vfx-studio-watch", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop watching, cancel a running render, release the graph."""
        self._stop.set()
        if self.jobs is not None:
            self.jobs.cancel()
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        self.bus.close()
        with self.lock:
            if self.graph is not None:
                self.graph.close()

    # --- what the page asks for -------------------------------------------------------------------
    def state(self) -> dict:
        """Everything the page shows besides pictures: graph, nodes, problems, version, outputs."""
        with self.lock:
            return describe.state(self)

    def node(self, node_id: str | None):
        """The node to show: ``node_id``, else what the first encoder gets, else the last with video."""
        graph = self.graph
        if graph is None:
            raise PipelineError(self.problems or [Problem("the pipeline has never been valid", file=self.pipeline)])
        if not node_id:
            return view.default_node(graph)
        node = graph.nodes.get(node_id)
        if isinstance(node, Encoder):  # an encoder shows what it encodes
            node = node.input("input")
        if node is None or node.video is None:
            raise LookupError(f"no node '{node_id}' with video to show")
        return node

    def frame_image(self, node_id: str | None, frame: int, scale: int = 1, fmt: str = "png", quality: int = 90):
        """``(bytes, media type, seconds of work, cached)`` for one frame of a node."""
        t0 = time.perf_counter()
        with self.lock:
            node = self.node(node_id)
            view.check_frame(node, frame)
            key = self.keys.get(node.id)
            ident = (key, frame, scale, fmt, quality) if key is not None else None
            data = self.images.get(ident) if ident is not None else None
            cached = data is not None
            if data is None:
                pixels = view.render(self, node, [frame])
                data = view.encode(view.scaled(pixels, scale)[0], fmt, quality)
                if ident is not None:
                    self.images.put(ident, data)
        return data, view.MEDIA_TYPES[fmt], time.perf_counter() - t0, cached

    def pixel(self, node_id: str | None, frame: int, x: int, y: int) -> dict:
        """The linear premultiplied RGBA at pixel (x, y) of a frame (full resolution), and its display value."""
        with self.lock:
            node = self.node(node_id)
            view.check_frame(node, frame)
            return view.pixel(view.render(self, node, [frame]), x, y)

    def sheet(self, node_id: str | None, count: int, start: int, stop: int, columns=None, thumb_width=320) -> bytes:
        """A contact sheet PNG of ``count`` evenly spaced frames of ``[start, stop)``, as ``vfx preview --sheet``."""
        with self.lock:
            node = self.node(node_id)
            return view.sheet(self, node, count, start, stop, columns, thumb_width)

    def audio(self) -> dict:
        """The timeline's waveform and driver events (``vfx.studio.audio``), once per version."""
        from . import audio

        with self.lock:
            if self._audio is None or self._audio[0] != self.version:
                node = self.node(None)
                self._audio = (self.version, audio.describe(self.graph, node.video.frame_count))
            return self._audio[1]

    def options_at(self, node_id: str | None, frame: int) -> dict:
        """A node's options and their values at ``frame`` (animated ones with where they come from)."""
        with self.lock:
            node = self.node(node_id)
            return describe.options(self, node, frame)


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
