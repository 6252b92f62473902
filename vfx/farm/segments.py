"""Render one chunk to a segment, or the whole timeline's audio, through the ordinary engine.

A chunk is ``vfx render --frames S-E`` with each encoder pointed into a temporary folder inside
the segment folder and its audio turned off; the engine, the nodes and the encoders are the ones
a local render uses, so a chunk's pixels are the local render's pixels (nodes are seeded by
frame index, not by position in the render). Each segment is its own encode, so its first frame
is a keyframe. The folder is renamed into place only after every file is closed and counted.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable

from ..errors import PipelineError, RenderError, VfxError
from .manifest import RECORD, WRITER, SegmentDir, content_hash, write_json
from .planning import Chunk

_SEQ = re.compile(r"%0?\d*d")


@dataclass
class Job:
    """Everything a worker needs to rebuild the graph: a pipeline file and its overrides."""

    pipeline: str
    overrides: list[str] = field(default_factory=list)
    device: str = "cpu"
    batch_size: int | None = None
    torch_threads: int | None = None
    label: str = ""
    #: a node cache folder every chunk reads through and fills (``vfx.cache``), and its bound
    cache: str | None = None
    cache_size: str | None = None
    cache_policy: str = "auto"

    def __post_init__(self):
        self.pipeline = str(Path(self.pipeline).resolve())
        self.overrides = list(self.overrides)
        if self.cache:
            self.cache = str(Path(self.cache).expanduser().resolve())

    def node_cache(self):
        """The ``NodeCache`` on ``cache`` (disk only), or None."""
        if not self.cache:
            return None
        from ..cache import NodeCache

        return NodeCache.open(self.cache, disk_limit=self.cache_size, memory=False, policy=self.cache_policy)


@dataclass
class Loaded:
    """A job's pipeline, built: its graph, content hash and outputs (``load_job``)."""

    spec: object
    graph: object
    hash: str
    outputs: dict  # encoder id -> description (see describe_outputs)
    frames: int  # the longest encoder's frame count
    fps: Fraction
    protected: object = None  # vfx.outputs.Protected: the pipeline file and every input, never written


def _registry_kind(type_name) -> str | None:
    from ..plugins import get_registry

    reg = get_registry()
    cls = reg.nodes.get(type_name) if isinstance(type_name, str) else None
    return cls.kind if cls is not None else None


def describe_outputs(graph) -> dict:
    """For each encoder: its final path, whether it is a container file or an image sequence,
    whether it has audio, its frame count and frame rate."""
    out = {}
    for enc in graph.encoders:
        opts = enc.options
        path = getattr(opts, "path", None)
        if path is None:
            raise PipelineError(
                graph.spec.problem(
                    f"{enc.type} has no 'path' option, so the farm cannot point it at a segment",
                    node=enc.id,
                    option="path",
                )
            )
        path = Path(path)
        sequence = bool(_SEQ.search(path.name))
        audio = enc.audio_source() is not None and not sequence
        out[enc.id] = {
            "path": str(path),
            "kind": "sequence" if sequence else "file",
            "ext": path.suffix.lower(),
            "audio": audio,
            "frames": enc.video.frame_count,
            "fps": str(enc.video.fps),
            "type": enc.type,
            "audio_codec": getattr(enc, "audio_codec", getattr(opts, "audio_codec", None)) if audio else None,
        }
    return out


def load_job(job: Job, segment_dir: Path | None = None, first_frame: int | None = None) -> Loaded:
    """Load and build ``job``'s pipeline. With ``segment_dir``, every encoder writes into that
    folder (video only) instead of its own path; with ``first_frame``, encoders whose output ends
    before it are left out of the graph (``outputs`` still lists them)."""
    from ..graph import Graph, build
    from ..pipeline import load

    spec = load(job.pipeline, job.overrides)
    original_nodes = {k: dict(v) for k, v in spec.nodes.items()}
    if segment_dir is not None:
        for node_id, table in spec.nodes.items():
            if _registry_kind(table.get("type")) != "encoder" or not isinstance(table.get("path"), str):
                continue
            name = Path(table["path"]).name
            if _SEQ.search(name):
                table["path"] = str(Path(segment_dir) / node_id / name)
            else:
                table["path"] = str(Path(segment_dir) / f"{node_id}{Path(name).suffix}")
                if "audio_codec" in _options_of(table.get("type")):
                    table["audio_codec"] = "none"
    graph = build(spec)
    from ..outputs import Protected

    protected = Protected().add_graph(graph)
    # the hash covers the pipeline as written, not the segment paths the farm swapped in
    rendered_nodes = spec.nodes
    spec.nodes = original_nodes
    digest = content_hash(spec, graph, job.overrides)
    spec.nodes = rendered_nodes
    outputs = describe_outputs(graph)
    if first_frame is not None:
        keep = {n: v for n, v in graph.nodes.items() if not (n in outputs and outputs[n]["frames"] <= first_frame)}
        graph = Graph(spec=graph.spec, nodes=keep, order=[n for n in graph.order if n in keep])
    frames = max(o["frames"] for o in outputs.values())
    fps = graph.encoders[0].video.fps if graph.encoders else spec.settings.fps
    return Loaded(spec, graph, digest, outputs, frames, fps, protected)


def graph_needs_gpu(graph, device: str) -> bool:
    """A chunk asks for a GPU when it is to run on CUDA, or its graph has a generator (GAN/VAE)
    node or a node type that declares ``gpu = True``."""
    from ..node import Generator

    if str(device).startswith("cuda"):
        return True
    return any(isinstance(n, Generator) or getattr(type(n), "gpu", False) is True for n in graph.nodes.values())


def _options_of(type_name) -> set[str]:
    from ..plugins import get_registry

    cls = get_registry().nodes.get(type_name)
    return set(cls.Options.fields()) if cls is not None else set()


def count_video_packets(path: Path) -> int:
    """The number of non-empty video packets in ``path``: one per frame for the encoders vfx writes."""
    import av

    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


ProgressFn = Callable[[int, int], None]


def render_segment(
    job: Job,
    chunk: Chunk,
    segment_dir: Path,
    expected_hash: str | None = None,
    progress: ProgressFn | None = None,
    kill_marker: str | None = None,
    worker: dict | None = None,
) -> dict:
    """Render ``chunk`` of ``job`` into ``segment_dir/<chunk.name>``; return the segment's record.

    ``kill_marker`` is fault injection for the tests: the first attempt (the marker file does not
    exist yet) creates it and kills its own process with SIGKILL after the first batch, as a
    worker that dies mid-chunk would; ``"always"`` kills every attempt.
    """
    from ..engine import RenderOptions, render

    seg = SegmentDir(segment_dir)
    seg.check_usable({}, [chunk.name])
    seg.path.mkdir(parents=True, exist_ok=True)
    temp = seg.temp_path(chunk.name)
    started = time.perf_counter()
    try:
        loaded = load_job(job, temp, chunk.start)
        only = {e.id for e in loaded.graph.encoders}
        if expected_hash is not None and loaded.hash != expected_hash:
            raise VfxError(
                f"{chunk.label}: the pipeline on this worker is not the one the render was planned "
                f"with (content hash {loaded.hash[:12]}, expected {expected_hash[:12]}): it changed, or "
                "this worker sees other files"
            )
        if chunk.start >= loaded.frames:
            raise VfxError(f"{chunk.label} starts past the end of the output ({loaded.frames} frames)")
        stop = min(chunk.stop, loaded.frames)
        n_enc = max(1, len(loaded.graph.encoders))
        done_by: dict[str, int] = {}
        last = [0.0]

        def on_progress(enc_id, done, total):
            done_by[enc_id] = done
            if kill_marker == "always" or (kill_marker and not os.path.exists(kill_marker)):
                if kill_marker != "always":
                    Path(kill_marker).write_text(f"killed pid {os.getpid()} in {chunk.label}\n")
                os.kill(os.getpid(), signal.SIGKILL)
            now = time.perf_counter()
            if progress is not None and (now - last[0] >= 0.25 or done == total):
                last[0] = now
                progress(sum(done_by.values()) // n_enc, stop - chunk.start)

        t_render = time.perf_counter()
        render(
            loaded.graph,
            RenderOptions(
                device=job.device,
                batch_size=job.batch_size,
                frames=(chunk.start, stop),
                torch_threads=job.torch_threads,
                cache=job.node_cache(),
            ),
            progress=on_progress,
        )
        t_write = time.perf_counter()
        files: dict[str, list] = {}
        for enc_id, out in loaded.outputs.items():
            if enc_id not in only:
                continue
            expect = min(stop, out["frames"]) - chunk.start
            if out["kind"] == "sequence":
                folder = temp / enc_id
                names = sorted(p.name for p in folder.iterdir())
                if len(names) != expect:
                    raise RenderError(f"{chunk.label}: wrote {len(names)} images, expected {expect}", node=enc_id)
                files[enc_id] = [[f"{enc_id}/{n}", (folder / n).stat().st_size] for n in names]
            else:
                path = temp / f"{enc_id}{out['ext']}"
                got = count_video_packets(path)
                if got != expect:
                    raise RenderError(f"{chunk.label}: the segment holds {got} frames, expected {expect}", node=enc_id)
                files[enc_id] = [[path.name, path.stat().st_size]]
        record = {
            "writer": WRITER,
            "hash": loaded.hash,
            "start": chunk.start,
            "stop": stop,
            "index": chunk.index,
            "files": files,
            "seconds": {
                "setup": round(t_render - started, 3),
                "render": round(t_write - t_render, 3),
                "check": round(time.perf_counter() - t_write, 3),
            },
            "worker": {"host": socket.gethostname(), "pid": os.getpid(), **(worker or {})},
            "finished": time.time(),
        }
        write_json(temp / RECORD, record)
        seg.commit(temp, chunk.name)
        return record
    except BaseException:
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
        raise


class AudioWriter:
    """An audio-only container encoded like ``VideoWriter``'s audio stream (same codec, rate,
    layout, bitrate and frame cutting), so the joined file carries the audio a local render would."""

    def __init__(self, path: Path, *, codec: str, sample_rate: int, channels: int, bitrate: str = "192k"):
        import av
        from ..media.encode import AUDIO_CODECS, _container_format, audio_rate, parse_bitrate

        self.container = av.open(str(path), mode="w", format=_container_format(Path(path)))
        out_rate = audio_rate(codec, sample_rate)  # Opus: 48 kHz, resampled
        a = self.container.add_stream(AUDIO_CODECS[codec], rate=out_rate)
        a.layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
        if codec in ("aac", "opus"):
            a.bit_rate = parse_bitrate(bitrate)
        self.format = "fltp" if codec == "aac" else "s16"
        a.format = self.format
        self.stream = a
        self.rate = sample_rate
        self.resampler = (
            av.AudioResampler(format=self.format, layout=a.layout.name, rate=out_rate)
            if out_rate != sample_rate
            else None
        )
        self.fifo = av.AudioFifo()
        self.written = 0

    def write(self, samples) -> None:
        import av
        import numpy as np

        data = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)
        if self.format == "s16":
            data = (data * 32767).round().astype(np.int16).T.reshape(1, -1).copy()
        frame = av.AudioFrame.from_ndarray(data, format=self.format, layout=self.stream.layout.name)
        frame.sample_rate = self.rate
        frame.pts = None
        for f in self.resampler.resample(frame) if self.resampler else [frame]:
            f.pts = None
            self.fifo.write(f)
        self._drain(False)

    def _drain(self, final: bool) -> None:
        size = self.stream.codec_context.frame_size or 1024
        while self.fifo.samples >= size or (final and self.fifo.samples > 0):
            frame = self.fifo.read(min(size, self.fifo.samples) if final else size)
            if frame is None:
                break
            frame.pts = self.written
            frame.time_base = Fraction(1, self.stream.rate)
            self.written += frame.samples
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        for f in self.resampler.resample(None) if self.resampler else []:
            f.pts = None
            self.fifo.write(f)
        self._drain(True)
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.container.close()


def render_audio(job: Job, segment_dir: Path, expected_hash: str | None = None) -> dict:
    """Render the audio of the whole timeline once, per encoder that muxes audio, into
    ``segment_dir/audio-<encoder>.<ext>``; return {encoder id: record}."""
    from ..engine import resolve_device
    from ..frames import fit_channels, samples_at
    from ..util.atomic import AtomicFile

    seg = SegmentDir(segment_dir)
    loaded = load_job(job)
    try:
        if expected_hash is not None and loaded.hash != expected_hash:
            raise VfxError(
                f"audio: the pipeline on this worker is not the one the render was planned with "
                f"(content hash {loaded.hash[:12]}, expected {expected_hash[:12]})"
            )
        seg.check_usable(loaded.outputs, protected=loaded.protected)
    except BaseException:
        loaded.graph.close()
        raise
    seg.path.mkdir(parents=True, exist_ok=True)
    resolve_device("cpu")
    graph = loaded.graph
    s = graph.spec.settings
    records = {}
    try:
        for node in graph.nodes.values():
            node.open()
        for enc in graph.encoders:
            out = loaded.outputs[enc.id]
            if not out["audio"]:
                continue
            source = enc.audio_source()
            fps = enc.video.fps
            total = enc.video.frame_count
            name = f"audio-{enc.id}{out['ext']}"
            target = AtomicFile(seg.path / name)
            started = time.perf_counter()
            writer = None
            try:
                writer = AudioWriter(
                    target.temp,
                    codec=getattr(enc, "audio_codec", enc.options.audio_codec),
                    sample_rate=s.sample_rate,
                    channels=s.channels,
                    bitrate=getattr(enc.options, "audio_bitrate", "192k"),
                )
                from ..engine import deep_call

                step = max(1, round(fps))

                def write_all(source=source, writer=writer, fps=fps, total=total, step=step):
                    for i in range(0, total, step):
                        j = min(i + step, total)
                        a0, a1 = samples_at(i, fps, s.sample_rate), samples_at(j, fps, s.sample_rate)
                        buf = source.audio_samples(a0, a1 - a0)
                        writer.write(fit_channels(buf.samples, s.channels))

                deep_call(graph, write_all)  # a long chain of audio nodes recurses deeply
                writer.close()
            except BaseException:
                if writer is not None:
                    try:
                        writer.container.close()
                    except Exception:
                        pass
                target.discard()
                raise
            target.commit()
            rec = {
                "writer": WRITER,
                "hash": loaded.hash,
                "file": name,
                "size": (seg.path / name).stat().st_size,
                "samples": writer.written,
                "seconds": round(time.perf_counter() - started, 3),
                "worker": {"host": socket.gethostname(), "pid": os.getpid()},
            }
            write_json(seg.path / f"audio-{enc.id}.json", rec)
            records[enc.id] = rec
    finally:
        graph.close()
    return records
