"""OpenTimelineIO timelines to vfx pipelines and back.

``import_timeline`` reads an ``.otio`` file, or anything an installed OTIO adapter reads (a
CMX 3600 ``.edl`` through ``otio-cmx3600-adapter``), and writes pipeline TOML:

- each clip is a ``source.video`` (or ``source.image_sequence`` / ``source.exr_sequence`` for an
  image-sequence reference) cut to its source range by an ``editor.trim``, frame-exactly, at the
  timeline's rate; the range is counted from the media's first frame, i.e. the reference's
  available range, else the file's start timecode tag, else frame 0;
- a gap is a transparent ``source.color``; a disabled clip is a gap;
- a dissolve is an ``editor.crossfade`` of the two clips lengthened by their handles (the
  transition's offsets), so the cut points stay where the timeline has them;
- a linear time warp is an ``editor.speed``; a clip of another size an ``editor.resize``;
- the clips of a track are joined by ``editor.concat``; video tracks are stacked bottom to top
  by ``editor.composite``; nested stacks and tracks are built the same way;
- markers become comments beside the node of the clip (or at the top, for the timeline's own).

Media paths are resolved relative to the timeline file and written relative to the pipeline
file; missing media are one error naming every file. ``export_timeline`` walks a pipeline's graph
from its encoder and writes the editorial structure back as an OTIO timeline.

opentimelineio is imported only by these functions.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .errors import VfxError


class TimelineError(VfxError, ValueError):
    """A timeline vfx cannot turn into a pipeline (or a pipeline it cannot export); exit code 2."""

    exit_code = 2


def _otio() -> Any:
    try:
        import opentimelineio
    except ImportError as exc:  # pragma: no cover - a dependency of vfx
        raise TimelineError(f"timelines need the opentimelineio package ({exc})") from None
    return opentimelineio


def read_timeline(path: Path, fps: Fraction | None = None) -> Any:
    """The OTIO timeline in ``path`` (an adapter chosen by its suffix; an EDL read at ``fps``)."""
    otio = _otio()
    path = Path(path)
    if not path.is_file():
        raise TimelineError(f"{path}: file not found")
    kwargs = {}
    if path.suffix.lower() == ".edl":
        kwargs["rate"] = float(fps or 24)
    try:
        result = otio.adapters.read_from_file(str(path), **kwargs)
    except Exception as exc:
        hint = ""
        if path.suffix.lower() == ".edl" and "cmx_3600" not in otio.adapters.available_adapter_names():
            hint = " (CMX 3600 EDLs need the otio-cmx3600-adapter package)"
        raise TimelineError(f"{path}: cannot read the timeline: {exc}{hint}") from None
    if not isinstance(result, otio.schema.Timeline):
        raise TimelineError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


# --- import -------------------------------------------------------------------------------


@dataclass
class _Media:
    """One clip's media: what source node reads it, and its file(s)."""

    node_type: str
    path: Path  # the file, or the printf pattern of a sequence
    first_file: Path
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Builder:
    """Collects nodes (id -> table) and comments while a timeline is walked."""

    timeline_dir: Path
    pipeline_dir: Path
    fps: Fraction
    #: folders to look for a clip's media in by name, when the timeline names no usable file
    media_dirs: list[Path] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    size: tuple[int, int] | None = None

    def add(self, stem: str, table: dict[str, Any], frames: int) -> str:
        base = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "node"
        if base[0].isdigit():
            base = "n" + base
        node_id, k = base, 2
        while node_id in self.nodes or node_id == "out":  # "out" is the encoder's
            node_id, k = f"{base}_{k}", k + 1
        self.nodes[node_id] = table
        self.counts[node_id] = frames
        return node_id

    def frames(self, t: Any) -> int:
        """A RationalTime as a whole number of frames at the pipeline rate (exact where it can be)."""
        value = Fraction(t.value).limit_denominator(1_000_000) * self.fps / Fraction(t.rate).limit_denominator(1001)
        return round(value)

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.pipeline_dir)).as_posix()


def _url_path(url: str, base: Path) -> Path:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise TimelineError(f"media at {url!r}: only local files (paths or file:// URLs) can be read")
    p = Path(unquote(url))
    return p if p.is_absolute() else (base / p)


def _search(b: _Builder, clip: Any, url: str | None) -> Path | None:
    """A file for ``clip`` in the media folders: the URL's file name, or one whose name or stem
    is the clip's name or reel."""
    reel = clip.metadata.get("cmx_3600", {}).get("reel") if hasattr(clip, "metadata") else None
    wanted = [Path(url).name] if url else []
    wanted += [n for n in (clip.name, reel) if n]
    for folder in b.media_dirs:
        for name in wanted:
            if (folder / name).is_file():
                return (folder / name).resolve()
        for name in wanted:
            found = sorted(p for p in folder.glob(f"{glob_escape(name)}.*") if p.is_file())
            if found:
                return found[0].resolve()
    return None


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _media(b: _Builder, clip: Any) -> _Media | None:
    """The media of ``clip`` (None when it names none), noting missing files."""
    otio = _otio()
    ref = clip.media_reference
    comments = clip.metadata.get("cmx_3600", {}).get("comments", []) if hasattr(clip, "metadata") else []
    to_clip = [c.split(":", 1)[1].strip() for c in comments if c.startswith("TO CLIP:")]
    if isinstance(ref, otio.schema.ExternalReference) or to_clip:
        # the CMX 3600 reader gives the incoming clip of a dissolve the outgoing clip's media;
        # its "TO CLIP" comment names the right one
        url = to_clip[0] if to_clip else ref.target_url
        path = _url_path(url, b.timeline_dir).resolve()
        if not path.is_file():
            found = _search(b, clip, url)
            if found is None:
                b.missing.append(f"clip {clip.name!r}: {path}")
                return None
            path = found
        if path.suffix.lower() == ".exr":
            return _Media("source.exr_sequence", path, path)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"):
            return _Media("source.image", path, path)
        return _Media("source.video", path, path)
    if isinstance(ref, otio.schema.ImageSequenceReference):
        folder = _url_path(ref.target_url_base or ".", b.timeline_dir).resolve()
        pad = max(1, int(ref.frame_zero_padding))
        pattern = folder / f"{ref.name_prefix}%0{pad}d{ref.name_suffix}"
        first = int(ref.start_frame)
        first_file = Path(str(pattern) % first)
        if not first_file.is_file():
            b.missing.append(f"clip {clip.name!r}: {first_file}")
            return None
        kind = "source.exr_sequence" if ref.name_suffix.lower().endswith(".exr") else "source.image_sequence"
        return _Media(kind, pattern, first_file, {"start_number": first})
    if isinstance(ref, otio.schema.MissingReference) or ref is None:
        found = _search(b, clip, None)
        if found is not None:
            return _Media("source.video", found, found)
        where = f" (looked in {', '.join(map(str, b.media_dirs))})" if b.media_dirs else "; give --media DIR"
        b.missing.append(f"clip {clip.name!r}: the timeline names no file{where}")
        return None
    raise TimelineError(f"clip {clip.name!r}: a {type(ref).__name__} media reference cannot be read")


def _media_start(b: _Builder, clip: Any, media: _Media) -> int:
    """The media time (frames at the pipeline rate) of the media's first frame: the reference's
    available range, else a sequence's first number, else a video's start timecode, else 0."""
    ref = clip.media_reference
    available = getattr(ref, "available_range", None) if ref is not None else None
    if available is not None:
        return b.frames(available.start_time)
    if "start_number" in media.options:
        return int(media.options["start_number"])
    if media.node_type == "source.video":
        tc = _file_timecode(media.path)
        if tc is not None:
            from .timing import to_frames

            try:
                return to_frames(tc, b.fps)
            except ValueError:
                return 0
    return 0


def _file_timecode(path: Path) -> str | None:
    """The start timecode tag of a video file (``01:00:00:00``), if it has one."""
    try:
        import av

        with av.open(str(path)) as c:
            for tags in [c.metadata] + [s.metadata for s in c.streams]:
                if tags.get("timecode"):
                    return str(tags["timecode"])
    except Exception:
        return None
    return None


def _size_of(media: _Media) -> tuple[int, int] | None:
    try:
        if media.node_type == "source.exr_sequence":
            from .media.exr import exr_header

            h = exr_header(media.first_file)
            return h.width, h.height
        if media.node_type in ("source.image", "source.image_sequence"):
            from .media.images import image_header

            ih = image_header(media.first_file)
            return ih.width, ih.height
        from .media.probing import probe

        info = probe(media.path, count_frames=False)
        if info.video is None:
            return None
        return info.video.width, info.video.height
    except VfxError:
        return None


def _marker_lines(b: _Builder, item: Any, record_start: int) -> list[str]:
    lines = []
    for m in getattr(item, "markers", []):
        at = b.frames(m.marked_range.start_time)
        if hasattr(item, "source_range") and item.source_range is not None:
            at -= b.frames(item.source_range.start_time)
        dur = b.frames(m.marked_range.duration)
        text = f"marker {m.name!r} ({m.color}) at frame {record_start + at}"
        if dur:
            text += f" for {dur} frames"
        note = m.metadata.get("comment") if hasattr(m, "metadata") else None
        if note:
            text += f": {note}"
        lines.append(text)
    return lines


def _gap(b: _Builder, frames: int) -> str:
    return b.add("gap", {"type": "source.color", "color": "transparent", "duration": frames}, frames)


def _clip(b: _Builder, clip: Any, head: int, tail: int, record: int) -> str:
    """The nodes of one clip, lengthened by ``head`` / ``tail`` frames of handles; its last node's id."""
    otio = _otio()
    rng = clip.trimmed_range()
    duration = b.frames(rng.duration)
    media = _media(b, clip)
    if media is None:
        return _gap(b, duration + head + tail)
    scalar = 1.0
    notes = []
    for effect in clip.effects:
        if isinstance(effect, otio.schema.FreezeFrame) or (
            isinstance(effect, otio.schema.LinearTimeWarp) and effect.time_scalar == 0
        ):
            raise TimelineError(f"clip {clip.name!r}: freeze frames are not supported")
        if isinstance(effect, otio.schema.LinearTimeWarp):
            scalar *= float(effect.time_scalar)
        else:
            notes.append(f"effect {effect.effect_name or effect.name!r} not carried over")
    if scalar < 0:
        raise TimelineError(f"clip {clip.name!r}: reversed clips (a negative time scalar) are not supported")
    options: dict[str, Any] = {"type": media.node_type, "path": b.rel(media.path), **media.options}
    size = _size_of(media)
    src = b.add(clip.name or media.path.stem, options, 0)
    if media.node_type in ("source.image", "source.exr_sequence") and "start_number" not in media.options:
        options["duration"] = math.ceil((duration + head + tail) * scalar) + b.frames(rng.start_time)
    start = b.frames(rng.start_time) - _media_start(b, clip, media) - round(head * scalar)
    if start < 0:
        raise TimelineError(
            f"clip {clip.name!r}: its source range (with {head} frames of dissolve handle) starts "
            f"{-start} frames before the media's first frame"
        )
    length = duration + head + tail
    media_frames = math.ceil(length * scalar - 1e-9)
    node = b.add(f"{src}_cut", {"type": "editor.trim", "input": src, "start": start, "duration": media_frames}, length)
    if scalar != 1.0:
        node = b.add(f"{src}_speed", {"type": "editor.speed", "input": node, "factor": scalar}, length)
        node = b.add(f"{src}_fit", {"type": "editor.trim", "input": node, "duration": length}, length)
    if size is not None and b.size is not None and size != b.size:
        node = b.add(f"{src}_size", {"type": "editor.resize", "input": node, "size": list(b.size)}, length)
    b.comments[src] = [f"clip {clip.name!r} at record frame {record}, {duration} frames"]
    b.comments[src] += notes + _marker_lines(b, clip, record)
    return node


def _join(b: _Builder, name: str, pieces: list[str]) -> str | None:
    if not pieces:
        return None
    if len(pieces) == 1:
        return pieces[0]
    total = sum(b.counts[p] for p in pieces)
    return b.add(f"{name}_edit", {"type": "editor.concat", "inputs": pieces}, total)


def _track(b: _Builder, track: Any, record: int = 0) -> str | None:
    """The nodes of one track, its clips joined; the id of the last (None for an empty track)."""
    otio = _otio()
    items = list(track)
    handles = [[0, 0] for _ in items]  # head, tail of each item
    for k, item in enumerate(items):
        if isinstance(item, otio.schema.Transition):
            if k == 0 or k == len(items) - 1:
                raise TimelineError(f"track {track.name!r}: a transition at the start or end of a track")
            handles[k - 1][1] += b.frames(item.out_offset)
            handles[k + 1][0] += b.frames(item.in_offset)
    pieces: list[str] = []
    fade_next: int | None = None
    at = record
    for k, item in enumerate(items):
        head, tail = handles[k]
        if isinstance(item, otio.schema.Transition):
            if item.transition_type != otio.schema.TransitionTypes.SMPTE_Dissolve:
                b.comments.setdefault("", []).append(
                    f"transition {item.transition_type!r} in track {track.name!r} rendered as a dissolve"
                )
            fade_next = b.frames(item.in_offset) + b.frames(item.out_offset)
            continue
        if isinstance(item, otio.schema.Gap) or (isinstance(item, otio.schema.Clip) and not item.enabled):
            node = _gap(b, b.frames(item.trimmed_range().duration) + head + tail)
        elif isinstance(item, otio.schema.Clip):
            node = _clip(b, item, head, tail, at)
        elif isinstance(item, otio.schema.Stack):
            node = _stack(b, item, at) or _gap(b, b.frames(item.trimmed_range().duration))
            if head or tail:
                raise TimelineError(f"track {track.name!r}: a dissolve into a nested stack is not supported")
        elif isinstance(item, otio.schema.Track):
            node = _track(b, item, at) or _gap(b, b.frames(item.trimmed_range().duration))
            if head or tail:
                raise TimelineError(f"track {track.name!r}: a dissolve into a nested track is not supported")
        else:
            raise TimelineError(f"track {track.name!r}: cannot read a {type(item).__name__}")
        at += b.frames(item.trimmed_range().duration)
        if fade_next:
            prev = pieces.pop()
            length = b.counts[prev] + b.counts[node] - fade_next
            node = b.add(
                f"{item.name or 'clip'}_dissolve",
                {"type": "editor.crossfade", "inputs": [prev, node], "duration": fade_next},
                length,
            )
            fade_next = None
        pieces.append(node)
    return _join(b, track.name or "track", pieces)


def _stack(b: _Builder, stack: Any, record: int = 0) -> str | None:
    """The video tracks of ``stack`` composited bottom to top (None when there are none)."""
    otio = _otio()
    layers = []
    for track in stack:
        if isinstance(track, otio.schema.Track) and track.kind != otio.schema.TrackKind.Video:
            b.comments.setdefault("", []).append(f"{track.kind} track {track.name!r} not carried over")
            continue
        node = _track(b, track, record) if isinstance(track, otio.schema.Track) else _stack(b, track, record)
        if node is not None:
            layers.append(node)
    if len(layers) <= 1:
        return layers[0] if layers else None
    total = max(b.counts[n] for n in layers)
    return b.add(
        f"{stack.name or 'tracks'}_stack", {"type": "editor.composite", "layers": layers, "duration": total}, total
    )


def _first_size(b: _Builder, timeline: Any) -> tuple[int, int] | None:
    otio = _otio()
    for clip in timeline.find_clips():
        if isinstance(clip.media_reference, otio.schema.MissingReference):
            continue
        probe = _Builder(b.timeline_dir, b.pipeline_dir, b.fps, b.media_dirs)
        try:
            media = _media(probe, clip)
        except TimelineError:
            continue
        if media is not None and (size := _size_of(media)) is not None:
            return size
    return None


def timeline_rate(timeline: Any, default: Fraction = Fraction(24)) -> Fraction:
    """The frame rate of a timeline: its start time's, else its first clip's, else ``default``."""
    for t in [timeline.global_start_time] + [c.source_range.duration for c in timeline.find_clips() if c.source_range]:
        if t is not None and t.rate > 0:
            return Fraction(t.rate).limit_denominator(1001)
    return default


def import_timeline(
    path: Path,
    pipeline_path: Path,
    *,
    fps: Fraction | None = None,
    size: tuple[int, int] | None = None,
    render_to: str | None = None,
    media_dirs: list[Path] | None = None,
) -> str:
    """Pipeline TOML for the timeline in ``path``, with paths relative to ``pipeline_path``'s
    folder; ``TimelineError`` naming every missing media file. A clip whose file is missing or
    unnamed (an EDL with reel names only) is looked up by name in ``media_dirs``."""
    path = Path(path)
    timeline = read_timeline(path, fps)
    rate = fps or timeline_rate(timeline)
    b = _Builder(path.resolve().parent, Path(pipeline_path).resolve().parent, rate, [Path(d) for d in media_dirs or []])
    b.size = size or _first_size(b, timeline)
    top = _stack(b, timeline.tracks)
    if b.missing:
        raise TimelineError(f"{path}: missing media:\n  " + "\n  ".join(b.missing))
    if top is None:
        raise TimelineError(f"{path}: the timeline has no video clips")
    if b.size is None:
        raise TimelineError(f"{path}: cannot tell the frame size from the media; give --size")
    total = b.counts[top]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", timeline.name or path.stem) or "edit"
    target = render_to or f"{stem}.mp4"
    if "%" in target and target.lower().endswith(".png"):
        out: dict[str, Any] = {"type": "encode.image_sequence", "input": top, "path": target}
    elif "%" in target and target.lower().endswith(".exr"):
        out = {"type": "encode.exr_sequence", "input": top, "path": target}
    else:
        out = {"type": "encode.video", "input": top, "path": target, "codec": "h264", "crf": 18}
    lines = [
        f"# made by `vfx import` from {path.name} ({timeline.name or 'untitled'}): {total} frames at {rate} fps",
        *(f"# {c}" for c in b.comments.get("", [])),
        *(f"# {c}" for c in _marker_lines(b, timeline.tracks, 0)),
        "format = 1",
        "",
        "[pipeline]",
        f"width = {b.size[0]}",
        f"height = {b.size[1]}",
        f"fps = {_toml(str(rate) if rate.denominator != 1 else rate.numerator)}",
        f"duration = {total}",
    ]
    for node_id, table in [*b.nodes.items(), ("out", out)]:
        lines.append("")
        lines += [f"# {c}" for c in b.comments.get(node_id, [])]
        lines.append(f"[nodes.{node_id}]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """A TOML value for the types a pipeline written here holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {type(value).__name__}")


# --- export -------------------------------------------------------------------------------


def export_timeline(graph: Any, otio_path: Path, *, name: str | None = None) -> Any:
    """The editorial structure of a configured pipeline ``graph`` (from its first encoder's input)
    as an OTIO timeline, media paths relative to ``otio_path``'s folder."""
    otio = _otio()
    encoders = [n for n in graph.nodes.values() if n.kind == "encoder"]
    if not encoders:
        raise TimelineError("the pipeline has no encoder to export the edit of")
    fps = graph.spec.settings.fps
    ex = _Exporter(otio, float(fps), Path(otio_path).resolve().parent)
    top = encoders[0].input("input")
    timeline = otio.schema.Timeline(name=name or Path(graph.spec.path).stem)
    timeline.global_start_time = otio.opentime.RationalTime(0, float(fps))
    for track in ex.tracks(top):
        timeline.tracks.append(track)
    return timeline


class _Exporter:
    """Turns nodes into OTIO items."""

    def __init__(self, otio: Any, rate: float, base: Path):
        self.otio, self.rate, self.base = otio, rate, base

    def rt(self, frames: int) -> Any:
        return self.otio.opentime.RationalTime(frames, self.rate)

    def tr(self, start: int, duration: int) -> Any:
        return self.otio.opentime.TimeRange(self.rt(start), self.rt(duration))

    def tracks(self, node: Any) -> list[Any]:
        """Video tracks for ``node``: a composite's layers, else one track."""
        if node.type == "editor.composite":
            out = []
            for entry in node.options.layers:
                layer = node.input(entry.input, ref=True)
                track = self.otio.schema.Track(name=entry.input, kind=self.otio.schema.TrackKind.Video)
                if entry.start:
                    track.append(self.otio.schema.Gap(source_range=self.tr(0, entry.start)))
                for item in self.items(layer):
                    track.append(item)
                out.append(track)
            return out
        track = self.otio.schema.Track(name="V1", kind=self.otio.schema.TrackKind.Video)
        for item in self.items(node):
            track.append(item)
        return [track]

    def items(self, node: Any) -> list[Any]:
        """The track items ``node`` plays, in order."""
        otio = self.otio
        t = node.type
        count = node.video.frame_count
        if t == "editor.concat":
            return [item for child in node.input("inputs") for item in self.items(child)]
        if t == "editor.crossfade":
            a, b = node.input("inputs")[:2]
            d = node.options.duration
            head, tail = d // 2, d - d // 2  # the cut sits in the middle of the dissolve
            left, right = self.items(a), self.items(b)
            self._shorten(left[-1], end=tail)
            self._shorten(right[0], start=head)
            fade = otio.schema.Transition(
                name=node.id,
                transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=self.rt(head),
                out_offset=self.rt(tail),
            )
            return [*left, fade, *right]
        if t == "editor.trim" and node.input("input") is not None:
            inner = node.input("input")
            start = node.options.start
            if inner.kind == "source":
                return [self.clip(inner, start, count)]
            items = self.items(inner)
            if len(items) == 1 and isinstance(items[0], otio.schema.Clip):
                items[0].source_range = self.tr(items[0].source_range.start_time.to_frames() + start, count)
                return items
        if t == "editor.speed":
            items = self.items(node.input("input"))
            factor = node.options.factor
            if len(items) == 1 and isinstance(items[0], otio.schema.Clip):
                clip = items[0]
                clip.source_range = self.tr(clip.source_range.start_time.to_frames(), count)
                clip.effects.append(otio.schema.LinearTimeWarp(name=node.id, time_scalar=factor))
                return [clip]
        if t == "editor.resize":
            return self.items(node.input("input"))
        if node.kind == "effect":
            items = self.items(node.input("input"))
            for item in items:
                if isinstance(item, otio.schema.Clip):
                    item.effects.append(otio.schema.Effect(name=node.id, effect_name=t))
            return items
        if t == "source.color" and node.options.color[3] == 0:
            return [otio.schema.Gap(name=node.id, source_range=self.tr(0, count))]
        if node.kind == "source":
            return [self.clip(node, 0, count)]
        if t == "editor.composite":
            stack = otio.schema.Stack(name=node.id)
            for track in self.tracks(node):
                stack.append(track)
            return [stack]
        # anything else renders as itself: a clip that names the node
        clip = otio.schema.Clip(name=node.id, source_range=self.tr(0, count))
        clip.media_reference = otio.schema.GeneratorReference(
            name=node.id, generator_kind=t, available_range=self.tr(0, count)
        )
        return [clip]

    def _shorten(self, item: Any, start: int = 0, end: int = 0) -> None:
        rng = item.source_range
        item.source_range = self.tr(rng.start_time.to_frames() + start, rng.duration.to_frames() - start - end)

    def clip(self, source: Any, start: int, count: int) -> Any:
        """A clip of ``count`` frames of ``source`` from its frame ``start``."""
        otio = self.otio
        o = source.options
        total = source.video.frame_count
        clip = otio.schema.Clip(name=source.id, source_range=self.tr(start, count))
        path = getattr(o, "path", None)
        if path is None:
            clip.media_reference = otio.schema.GeneratorReference(
                name=source.id, generator_kind=source.type, available_range=self.tr(0, total)
            )
            return clip
        text = str(path)
        rel = Path(os.path.relpath(Path(text).parent, self.base)) / Path(text).name
        m = re.search(r"%0?(\d*)d", rel.name)
        if m:
            files = source.input_files()
            number = re.search(r"(\d+)" + re.escape(rel.name[m.end() :]) + "$", files[0].name) if files else None
            first = int(number.group(1)) if number else int(getattr(o, "start_number", None) or 0)
            prefix, suffix = rel.name[: m.start()], rel.name[m.end() :]
            clip.media_reference = otio.schema.ImageSequenceReference(
                target_url_base=rel.parent.as_posix() + "/",
                name_prefix=prefix,
                name_suffix=suffix,
                start_frame=first,
                frame_step=1,
                rate=self.rate,
                frame_zero_padding=int(m.group(1) or 0),
                available_range=self.tr(first, total),
            )
            clip.source_range = self.tr(first + start, count)
        else:
            clip.media_reference = otio.schema.ExternalReference(
                target_url=rel.as_posix(), available_range=self.tr(0, total)
            )
        return clip


def write_otio(timeline: Any, path: Path) -> None:
    """Write ``timeline`` to ``path`` (the adapter from its suffix: .otio, or .edl and others)."""
    otio = _otio()
    try:
        otio.adapters.write_to_file(timeline, str(path))
    except Exception as exc:
        raise TimelineError(f"{path}: cannot write the timeline: {exc}") from None


__all__ = ["TimelineError", "export_timeline", "import_timeline", "read_timeline", "timeline_rate", "write_otio"]
