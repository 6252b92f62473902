"""Frame-exact random-access decoding with a decode-ahead thread, and streaming audio reads.

``VideoReader.frames(indices)`` returns decoded ``av.VideoFrame`` objects for output frame
indices at the pipeline's frame rate: at each output frame, the source frame on screen at that
time by its presentation timestamp (``vfx.media.index``), so variable frame rate stays in sync.
Sequential reads are served by a thread that decodes ahead into a bounded queue; any other read
seeks to a keyframe before the target and decodes forward, checking every frame's timestamp.
"""

from __future__ import annotations

import queue
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MediaError
from ..util.lru import LRU
from .probing import open_container

_END = object()


class VideoReader:
    """Random access to the frames of one video stream; one decoder, one decode-ahead thread.

    Frames are found by their presentation timestamps (``FrameIndex``): a seek goes to the latest
    keyframe shown at or before the target and decodes forward, every decoded frame is checked
    against the index, and a seek that lands past the target (MPEG-TS seeks land anywhere; an
    open-GOP keyframe drops the leading pictures before it) backs off to an earlier keyframe.
    ``filters`` (libavfilter name, arguments) turn each decoded frame upright and square
    (rotation, sample aspect) and drop an unused alpha, before anything else sees it.
    """

    def __init__(
        self,
        path: Path,
        index,
        out_fps: Fraction,
        filters: list[tuple[str, str]] = (),
        sar: Fraction = Fraction(1),
        ahead: int = 6,
    ):
        self.path = Path(path)
        self.index = index
        self.out_fps = out_fps
        self.filters = list(filters)
        self.sar = sar
        self.ahead = ahead
        self.frame_count = len(index)
        # a frame stamped up to 1.5 ticks late (a coarse clock's rounding) is on screen on time
        self.slack = min(Fraction(3, 2) * index.time_base, 1 / (4 * out_fps))
        self._thread: threading.Thread | None = None
        self._queue: queue.Queue | None = None
        self._stop = threading.Event()
        self._next_src = -1  # source frame index the decode thread will deliver next
        # the last frames delivered, by source index: repeats (retiming) and consumers that read
        # the same source at nearby offsets are served without a seek
        self._recent = LRU(max(1, 2 * self.ahead))
        self.seeks = 0  # seeks made (restarts of the decode thread), for tests and benchmarks
        self.backoffs = 0  # seeks that landed past their frame and went back further

    def source_index(self, out_index: int) -> int:
        """Source frame on screen at an output frame index (by presentation time)."""
        k = self.index.frame_at(Fraction(out_index) / self.out_fps, self.slack)
        return min(max(k, 0), self.frame_count - 1)

    def frames(self, out_indices: list[int]) -> list:
        return [self._frame(self.source_index(i)) for i in out_indices]

    def _frame(self, src_index: int):
        if src_index in self._recent:
            return self._recent.peek(src_index)  # first in, first out: a hit keeps its place
        streaming = self._thread is not None and self._next_src <= src_index <= self._next_src + 2 * self.ahead
        if not streaming:
            self._restart(src_index)
        restarted = not streaming
        while True:
            item = self._queue.get()
            if item is _END:
                self._thread = None
                if not restarted:  # the stream went past it: look for it from a keyframe
                    self._restart(src_index)
                    restarted = True
                    continue
                raise MediaError(f"{self.path}: frame {src_index} could not be decoded (the stream ended before it)")
            if isinstance(item, BaseException):
                self._thread = None
                if isinstance(item, MediaError):
                    raise item
                raise MediaError(f"{self.path}: decoding failed at frame {src_index}: {item}")
            idx, frame = item
            self._next_src = idx + 1
            self._recent.put(idx, frame)
            if idx == src_index:
                return frame
            if idx > src_index:  # the decoder skipped it on the way: seek to it
                if restarted:
                    raise MediaError(f"{self.path}: frame {src_index} could not be decoded")
                self._restart(src_index)
                restarted = True

    def _restart(self, src_index: int):
        self._shutdown()
        self.seeks += 1
        self._stop = threading.Event()
        self._queue = queue.Queue(maxsize=self.ahead)
        self._next_src = src_index
        self._thread = threading.Thread(
            target=self._decode, args=(src_index, self._queue, self._stop), name=f"decode:{self.path.name}", daemon=True
        )
        self._thread.start()

    def _decode(self, target: int, out: queue.Queue, stop: threading.Event):
        def put(item):
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            transform = _Transform(self.filters, self.sar)
            frames = self._decode_from(target)
            try:
                for frame, idx in frames:
                    frame = transform(frame)
                    if not put((idx, frame)) or idx >= self.frame_count - 1:
                        break
            finally:
                frames.close()  # closes the file now, in this thread
            put(_END)
        except BaseException as exc:
            put(exc)

    def _decode_from(self, target: int):
        """(frame, index) from ``target`` on, in presentation order: a verified seek, then streaming."""
        index = self.index
        keys = index.keyframes_before(target) if index.exact else []
        back = 0
        while True:
            # from the start of the file: a fresh demuxer, no seek (an MPEG-TS seek to its first
            # timestamp lands on the second keyframe)
            from_start = back >= len(keys) or keys[back][0] <= index.origin
            container = open_container(self.path)
            try:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                if not from_start:
                    container.seek(index.seek_timestamp(keys[back]), stream=stream, backward=True)
                delivered = False
                last = -1
                # AVI stamps packets in decode order, so with B-frames (H.264, MPEG-2) the pts a
                # decoded frame carries is another frame's; frames come out in presentation order,
                # so only the first after the seek (a keyframe, whose stamp is its own) is looked up
                counted = container.format.name == "avi"
                for frame in container.decode(stream):
                    if index.exact and not (counted and last >= 0):
                        idx = index.position(frame.pts)
                        if idx is None:  # not a frame of the index (a discarded lead-in)
                            continue
                    else:
                        idx = last + 1
                    if idx <= last:
                        continue
                    last = idx
                    if idx < target:
                        continue
                    if idx > target and not delivered:  # landed past it
                        break
                    delivered = True
                    yield frame, idx
            finally:
                container.close()
            if delivered:
                return
            if from_start:
                t = float(index.seconds(target))
                raise MediaError(
                    f"{self.path}: frame {target} (at {t:.3f} s) cannot be decoded, even from the start of the stream"
                )
            self.backoffs += 1
            back = back * 2 + 1  # the seek landed past it (or nowhere): from an earlier keyframe

    def _shutdown(self):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None

    def close(self):
        self._shutdown()


class _Transform:
    """Decoded frames through a libavfilter chain (transpose, flips, scale, format); none: unchanged."""

    def __init__(self, filters: list[tuple[str, str]], sar: Fraction = Fraction(1)):
        self.filters = filters
        self.sar = sar
        self._graph = None
        self._key = None

    def __call__(self, frame):
        if not self.filters:
            return frame
        import av

        key = (frame.width, frame.height, frame.format.name)
        if self._graph is None or key != self._key:
            graph = av.filter.Graph()
            tb, sar = frame.time_base or Fraction(1, 90000), self.sar or Fraction(1)
            node = graph.add(
                "buffer",
                f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:"
                f"time_base={tb.numerator}/{tb.denominator}:"
                f"pixel_aspect={sar.numerator}/{sar.denominator}",
            )
            for name, args in self.filters:
                nxt = graph.add(name, args) if args else graph.add(name)
                node.link_to(nxt)
                node = nxt
            sink = graph.add("buffersink")
            node.link_to(sink)
            graph.configure()
            self._graph, self._key = graph, key
        self._graph.push(frame)
        return self._graph.pull()


class AudioReader:
    """Streaming access to an audio stream (``track``, 0-based among them), resampled to float32 planar at a rate/layout.

    Sample 0 is at ``origin`` seconds on the file's clock: a video file's audio reads against its
    video stream's start, so that sound which starts after (or before) the picture stays in sync
    (silence before the audio's first sample, audio before the origin dropped). ``None``: the
    audio stream's own start.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int, origin: float | None = None, track: int = 0):
        self.path = Path(path)
        self.track = track
        self.sample_rate = sample_rate
        self.channels = channels
        self.origin = origin
        self._container = None
        self._iter = None
        self._pos = 0  # sample index of the first sample in _pending
        self._pending = np.zeros((channels, 0), np.float32)

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` samples from ``start`` (silence past the end), shape (channels, count)."""
        out = np.zeros((self.channels, count), np.float32)
        if count <= 0:
            return out
        if self._iter is None or start < self._pos or start > self._pos + self._pending.shape[1] + self.sample_rate:
            self._seek(start)
        chunks, have = [self._pending], self._pending.shape[1]
        while self._pos + have < start + count:
            chunk = self._next_chunk()
            if chunk is None:
                break
            chunks.append(chunk)
            have += chunk.shape[1]
        if len(chunks) > 1:  # joined once: a long read stays linear in its length
            self._pending = np.concatenate(chunks, axis=1)
        lo = start - self._pos
        have = self._pending[:, max(lo, 0) : lo + count]
        if lo >= 0:
            out[:, : have.shape[1]] = have
        else:
            out[:, -lo : -lo + have.shape[1]] = have
        # keep the last second read: mixes and analysis windows step back a little before each read
        drop = max(0, min(start + count - self.sample_rate - self._pos, self._pending.shape[1]))
        self._pending = self._pending[:, drop:]
        self._pos += drop
        return out

    def _seek(self, start: int):
        import av

        self.close()
        self._container = open_container(self.path)
        stream = self._container.streams.audio[self.track]
        self._stream = stream
        # a mono track goes to every channel at full level (FFmpeg's own upmix would put it 3 dB
        # down, as a centre channel), so a gain means the same for mono and stereo files
        self._upmix = stream.codec_context.channels == 1 and self.channels > 1
        self._resampler = av.AudioResampler(
            format="fltp", layout="mono" if self._upmix else _layout(self.channels), rate=self.sample_rate
        )
        self._own_start = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
        origin = self._own_start if self.origin is None else self.origin
        self._origin_samples = round((origin - self._own_start) * self.sample_rate)
        self._skip = 0
        seek_seconds = start / self.sample_rate - 0.5
        if seek_seconds > 0 and origin + seek_seconds > self._own_start:
            self._container.seek(int((origin + seek_seconds) / stream.time_base), stream=stream, backward=True)
        self._iter = self._container.decode(stream)
        self._pending = np.zeros((self.channels, 0), np.float32)
        self._pos = None
        self._target = start
        first = self._next_chunk()
        if first is not None:
            if self._pos > start:  # the sound starts later: silence up to it
                first = np.concatenate([np.zeros((self.channels, self._pos - start), np.float32), first], axis=1)
                self._pos = start
            self._pending = first

    def _next_chunk(self):
        for frame in self._iter:
            if self._pos is None:
                t = float(frame.pts * frame.time_base) - self._own_start if frame.pts is not None else 0.0
                pos = round(t * self.sample_rate)
                if frame.time_base and frame.time_base > Fraction(1, frame.sample_rate) and frame.samples:
                    # a coarse container clock (Matroska counts milliseconds): codec frames are
                    # a fixed number of samples from the stream start, so snap to that grid
                    per = frame.samples * self.sample_rate / frame.sample_rate
                    pos = round(round(t * self.sample_rate / per) * per)
                self._pos = pos - self._origin_samples
                self._skip = max(0, -self._pos)  # encoder priming, or sound before the origin
                self._pos = max(0, self._pos)
            frame.pts = None
            chunk = self._unskipped([f.to_ndarray() for f in self._resampler.resample(frame)])
            if chunk is not None:
                return chunk
        if self._pos is None:
            self._pos = self._target
        self._iter = iter(())
        return self._unskipped([f.to_ndarray() for f in self._resampler.resample(None)])

    def _unskipped(self, arrays: list) -> np.ndarray | None:
        """Resampled ``arrays`` joined, less what is still to be skipped; None when nothing is left."""
        if not arrays:
            return None
        data = np.concatenate(arrays, axis=1).astype(np.float32, copy=False)
        drop = min(self._skip, data.shape[1])
        self._skip -= drop
        return self._channels_of(data[:, drop:]) if drop < data.shape[1] else None

    def _channels_of(self, data: np.ndarray) -> np.ndarray:
        return np.repeat(data, self.channels, axis=0) if self._upmix else data

    def close(self):
        if self._container is not None:
            self._container.close()
            self._container = None


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, f"{channels}c")
