"""Where every frame of a video stream is: presentation times and keyframes, from the packets alone.

``frame_index(path)`` demuxes the first video stream once (no decoding) and keeps, per frame, its
presentation timestamp, sorted into presentation order, and per keyframe its timestamps in decode
order. The reader seeks by it and checks every decoded frame against it, so a seek returns exactly
the frame asked for, in any container (MPEG-TS, whose seeks land anywhere, included); the timeline
places a clip's frames by their presentation times, so variable frame rate stays in sync.

Indexes are cached per process, keyed by path, size and modification time, and, when building
one took a while (a long file), on disk in the user's cache folder (``$VFX_CACHE_DIR``, else
``$XDG_CACHE_HOME/vfx`` or ``~/.cache/vfx``; ``VFX_CACHE_DIR=off`` turns it off), never beside
the file: a farm worker or a second render opens a long file without reading it through again.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ..errors import MediaError
from ..util.atomic import write_text
from ..util.lru import LRU

#: the frame rates a clip's average is snapped to when it is within 0.3 % of one (a phone's
#: 29.97 fps clip on a 600-tick clock averages 36000/1201)
STANDARD_RATES = tuple(
    Fraction(r)
    for r in (
        "24000/1001",
        "24",
        "25",
        "30000/1001",
        "30",
        "48",
        "50",
        "60000/1001",
        "60",
        "96",
        "100",
        "120000/1001",
        "120",
        "12",
        "15",
        "240",
    )
)


def nominal_rate(rate: Fraction) -> Fraction:
    """``rate`` snapped to the nearest standard rate within 0.3 %, else itself (limited to /1001)."""
    if not rate:
        return rate
    best = min(STANDARD_RATES, key=lambda r: abs(r - rate))
    if abs(best - rate) <= rate * Fraction(3, 1000):
        return best
    return rate.limit_denominator(1001)


@dataclass
class FrameIndex:
    """Presentation times of one video stream's frames (in ``time_base`` ticks) and its keyframes."""

    time_base: Fraction
    pts: list[int]  # presentation order, ascending
    last_duration: int  # ticks the last frame is shown
    key_pts: list[int]  # keyframes in decode order: their pts ...
    key_dts: list[int]  # ... and their dts (the pts where the container has none)
    exact: bool = True  # False: the container gave no timestamps, frames are numbered
    seek_by: str = "dts"  # which timestamp of a keyframe a seek to it takes ("pts": MP4, MKV)
    _position: dict = field(default_factory=dict, repr=False)
    _key_sorted: list = field(default_factory=list, repr=False)
    _steps: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        self._steps = sorted(b - a for a, b in zip(self.pts, self.pts[1:]))
        self._position = {p: k for k, p in enumerate(self.pts)}
        # keyframes by presentation time, each with its rank in decode order
        self._key_sorted = sorted((p, r) for r, p in enumerate(self.key_pts))

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def origin(self) -> int:
        """The first presentation timestamp: frame 0, and time zero of the clip."""
        return self.pts[0]

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame's start to the last frame's end."""
        return (self.pts[-1] + self.last_duration - self.pts[0]) * self.time_base

    @property
    def average_rate(self) -> Fraction:
        """Frames per second of presentation time (as ffmpeg's avg_frame_rate)."""
        return Fraction(len(self.pts)) / self.duration if self.duration else Fraction(0)

    @property
    def rate(self) -> Fraction:
        """The nominal rate, snapped to a standard one (29.97, not a 600-tick clock's 36000/1201).

        Constant rate: the average. Variable: the most common frame duration's rate (a 30 fps
        clip with dropped frames is 30 fps).
        """
        if self.is_vfr:
            return nominal_rate(1 / (self._steps[len(self._steps) // 2] * self.time_base))
        return nominal_rate(self.average_rate)

    @property
    def is_vfr(self) -> bool:
        """Whether frame durations vary by more than the clock's rounding (a tick, or 2 %)."""
        if len(self.pts) < 3:
            return False
        steps = self._steps
        median = steps[len(steps) // 2]
        slack = max(1, median * 0.02)
        return steps[0] < median - slack or steps[-1] > median + slack

    def position(self, pts: int | None) -> int | None:
        """The frame number of a decoded frame's pts (None: not a frame of the index)."""
        return None if pts is None else self._position.get(pts)

    def seconds(self, k: int) -> Fraction:
        """Where frame ``k`` starts, in seconds from frame 0."""
        return (self.pts[k] - self.pts[0]) * self.time_base

    def frame_at(self, t: Fraction, slack: Fraction = Fraction(0)) -> int:
        """The frame on screen ``t`` seconds after frame 0 (a frame starting up to ``slack`` late counts)."""
        limit = self.pts[0] + math.floor((t + slack) / self.time_base)
        return max(0, bisect.bisect_right(self.pts, limit) - 1)

    def keyframes_before(self, k: int) -> list[tuple[int, int]]:
        """(pts, dts) of the keyframes shown at or before frame ``k``, latest first."""
        i = bisect.bisect_right(self._key_sorted, (self.pts[k], math.inf))
        # the latest in decode order first: decoding from any of them reaches frame k
        ranks = sorted((r for _, r in self._key_sorted[:i]), reverse=True)
        return [(self.key_pts[r], self.key_dts[r]) for r in ranks]

    def seek_timestamp(self, key: tuple[int, int]) -> int:
        """The timestamp to seek to for keyframe ``key`` = (pts, dts), as this container seeks."""
        pts, dts = key
        return pts if self.seek_by == "pts" else min(pts, dts)


def build_index(container, stream) -> FrameIndex:
    """Demux ``stream`` of an open ``container`` (packets only) into a ``FrameIndex``.

    Frames before the first keyframe (a recording that starts mid-GOP), and the leading pictures
    shown before it, cannot be decoded and are left out: the clip starts at its first keyframe.
    """
    pts, durations, key_pts, key_dts = [], {}, [], []
    exact = True
    n = 0
    first_key = None  # pts of the first keyframe in decode order (discarded or not)
    whole = 0  # packets read in full
    slots, same_stamps = 0, True  # AVI: frame slots up to the last packet; whether every pts is its dts
    for packet in container.demux(stream):
        if not packet.size:
            continue
        if packet.is_corrupt:  # cut short by the end of the file
            break
        whole += 1
        if packet.dts is not None:
            slots = max(slots, packet.dts + 1)
        same_stamps = same_stamps and packet.pts == packet.dts
        p = packet.pts if packet.pts is not None else packet.dts
        if p is None:
            exact = False
            p = n
        if packet.is_keyframe and first_key is None:
            first_key = p
            if exact:  # what came before it decodes to nothing
                pts, durations, n = [], {}, 0
        if packet.is_discard:  # before an edit list's start: decoded, never shown
            if packet.is_keyframe:
                key_pts.append(p)
                key_dts.append(packet.dts if packet.dts is not None else p)
            continue
        n += 1
        pts.append(p)
        durations[p] = packet.duration or 0
        if packet.is_keyframe:
            key_pts.append(p)
            key_dts.append(packet.dts if packet.dts is not None else p)
    listed = stream.frames or 0  # what the container's own index (an MP4's moov) says it holds
    if container.format.name == "avi" and whole < listed <= slots:
        # an AVI's length counts frame slots, dropped frames too; its chunks are numbered in decode
        # order, which is the presentation order only where each pts is its dts (MJPEG, DV, FFV1)
        if not same_stamps:
            raise MediaError(
                f"{listed - whole} of its {listed} frame slots are dropped frames, and its "
                f"{stream.codec_context.name} frames are stamped in decode order, so they cannot "
                "be placed exactly; transcode it first (ffmpeg -i IN.avi -c:v ffv1 OUT.mkv)"
            )
        whole = slots
    if listed > whole:
        raise MediaError(
            f"the file is cut short: its index lists {listed} video frames, "
            f"{whole} are in the file (an interrupted copy or download?)"
        )
    if exact and first_key is not None:
        pts = [p for p in pts if p >= first_key]
    if not pts:
        raise MediaError("the video stream holds no frames")
    order = sorted(set(pts))
    tb = stream.time_base or Fraction(1, 1)
    if not exact:  # a raw elementary stream: frames counted at its coded rate
        order = list(range(n))
        tb = 1 / (stream.guessed_rate or stream.average_rate or Fraction(25))
        durations = {}
    steps = sorted(b - a for a, b in zip(order, order[1:]))
    typical = steps[len(steps) // 2] if steps else 0
    last = durations.get(order[-1]) or typical
    if not last:
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        last = max(1, round(1 / (rate * tb)))
    if not key_pts:  # no flags (some raw streams): decode from the start
        key_pts, key_dts = [order[0]], [order[0]]
    return FrameIndex(Fraction(tb), order, int(last), key_pts, key_dts, exact)


def _seek_timestamp_kind(container, stream, index: FrameIndex) -> str:
    """Whether seeking to a keyframe's pts lands on it ("pts": MP4, MKV) or its dts does ("dts": MPEG-TS).

    Tried once on a keyframe in the middle; with neither, seeks go to the earlier of the two and
    the reader's verification backs off from there.
    """
    import av

    if len(index.key_pts) < 2 or not index.exact:
        return "dts"
    r = len(index.key_pts) // 2
    pts, dts = index.key_pts[r], index.key_dts[r]
    for kind, ts in (("pts", pts), ("dts", dts)):
        try:
            container.seek(ts, stream=stream, backward=True)
            first = next((p for p in container.demux(stream) if p.size), None)
        except (av.FFmpegError, StopIteration):
            continue
        if first is not None and (first.pts if first.pts is not None else first.dts) == pts:
            return kind
    return "dts"


_CACHE_SIZE = 64
_CACHE: LRU = LRU(_CACHE_SIZE)
_LOCK = threading.Lock()
#: an index that took at least this long to build is kept on disk too
DISK_CACHE_MIN_SECONDS = 0.25
_DISK_FORMAT = 1


def cache_folder() -> Path | None:
    """Where indexes are kept on disk (None: not at all)."""
    env = os.environ.get("VFX_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env) / "index"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfx" / "index"


def _disk_path(key: tuple) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    digest = hashlib.sha256(repr((_DISK_FORMAT, *key)).encode()).hexdigest()[:32]
    return folder / f"{digest}.json"


def _load(key: tuple) -> FrameIndex | None:
    path = _disk_path(key)
    if path is None or not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        if d.get("key") != list(key):
            return None
        tb = Fraction(d["time_base"])
        return FrameIndex(tb, d["pts"], d["last_duration"], d["key_pts"], d["key_dts"], d["exact"], d["seek_by"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged or foreign entry: built again


def _store(key: tuple, index: FrameIndex) -> None:
    path = _disk_path(key)
    if path is None:
        return
    data = {
        "key": list(key),
        "time_base": str(index.time_base),
        "pts": index.pts,
        "last_duration": index.last_duration,
        "key_pts": index.key_pts,
        "key_dts": index.key_dts,
        "exact": index.exact,
        "seek_by": index.seek_by,
    }
    try:
        write_text(path, json.dumps(data, separators=(",", ":")))  # makes the folder
    except OSError:
        pass  # a read-only or full cache folder only costs the next open


def frame_index(path: str | Path) -> FrameIndex:
    """The cached ``FrameIndex`` of ``path``'s first video stream (built on first use)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise MediaError(f"cannot open {path}: {exc.strerror}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
    index = _load(key)
    if index is not None:
        with _LOCK:
            _CACHE.put(key, index)
        return index
    from .probing import open_container

    started = time.perf_counter()
    c = open_container(path)
    try:
        if not c.streams.video:
            raise MediaError(f"{path}: no video stream")
        try:
            index = build_index(c, c.streams.video[0])
            index.seek_by = _seek_timestamp_kind(c, c.streams.video[0], index)
        except MediaError as exc:
            raise MediaError(f"{path}: {exc}") from None
    finally:
        c.close()
    if time.perf_counter() - started >= DISK_CACHE_MIN_SECONDS:
        _store(key, index)
    with _LOCK:
        _CACHE.put(key, index)
    return index
