"""Join segments into the final outputs without re-encoding video.

A container output is remuxed: every segment's packets are copied in order, their timestamps
moved to the segment's place on the timeline (computed in frames, then rescaled the way the
encoder's own packets are, so the joined file's timestamps are a local render's), and the audio
rendered once for the whole timeline is interleaved by time. Before anything is written the
segments are checked: same codec parameters, a keyframe first, and exactly one packet for each
frame of the range (no duplicate, no gap). An image sequence's segments are already the final
files under their final names: joining moves (or, keeping the segments, links) them into place.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

from ..errors import PipelineError, Problem, RenderError
from .manifest import SegmentDir


class JoinError(RenderError):
    """Segments that cannot be joined seamlessly (missing, overlapping, or mismatched)."""


#: resolved output path -> what signs its joined temporary file in place before it is moved into place
_SIGNING: dict[Path, Callable[[Path], None]] = {}


@contextmanager
def signing(hooks: dict[Path, Callable[[Path], None]]) -> Iterator[None]:
    """While inside, ``join_outputs`` hands each joined file named in ``hooks`` (final path -> signer)
    to its signer before the rename (``vfx.credentials.sign_in_place``): a failure leaves no output."""
    from ..outputs import resolved

    keys = {resolved(path): fn for path, fn in hooks.items()}
    _SIGNING.update(keys)
    try:
        yield
    finally:
        for key in keys:
            _SIGNING.pop(key, None)


def pick_cover(records: list[dict], frames: int, encoder_id: str) -> list[dict]:
    """Segments that cover frames ``[0, frames)`` of one encoder exactly once, in order.

    Finished segments of two chunk plans may both be present (a resume with another chunk
    size): the search prefers long segments and backtracks when a choice leaves a gap.
    """
    by_start: dict[int, list[dict]] = {}
    for rec in records:
        if encoder_id in rec.get("files", {}):
            by_start.setdefault(rec["start"], []).append(rec)
    for lst in by_start.values():
        lst.sort(key=lambda r: -r["stop"])

    dead_ends: set[int] = set()  # starts from which no cover exists (keeps the search linear)

    def walk(at):
        if at >= frames:
            return [] if at == frames else None
        if at in dead_ends:
            return None
        for rec in by_start.get(at, []):
            rest = walk(min(rec["stop"], frames))
            if rest is not None:
                return [rec] + rest
        dead_ends.add(at)
        return None

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, len(records) * 2 + 100))
    try:
        cover = walk(0)
    finally:
        sys.setrecursionlimit(limit)
    if cover is None:
        have = sorted((r["start"], r["stop"] - 1) for r in records if encoder_id in r.get("files", {}))
        missing, at = [], 0
        for a, b in have:
            if a > at:
                missing.append(f"{at}-{a - 1}")
            at = max(at, b + 1)
        if at < frames:
            missing.append(f"{at}-{frames - 1}")
        raise JoinError(
            f"the segments do not cover every frame of '{encoder_id}': frames "
            f"{', '.join(missing) or '(overlapping segments)'} have no finished segment"
        )
    return cover


def _codec_signature(stream) -> tuple:
    cc = stream.codec_context
    return (cc.name, cc.width, cc.height, str(cc.pix_fmt), bytes(cc.extradata or b""))


def remux(
    segments: list[Path], starts: list[int], counts: list[int], fps: Fraction, output: Path, audio: Path | None = None
) -> int:
    """Write ``output`` from video-only ``segments`` (segment k holds frames starts[k] ..
    starts[k] + counts[k] - 1) and an optional audio file, copying packets; return the frames."""
    import av
    from ..media.encode import _container_format, container_options

    frame_tb = Fraction(fps.denominator, fps.numerator)
    inputs: list = []
    audio_in = out = None
    try:
        for path in segments:
            inputs.append(av.open(str(path)))
            if not inputs[-1].streams.video:
                raise JoinError(f"{path} has no video stream")
        if audio is not None:
            audio_in = av.open(str(audio))
        first = inputs[0].streams.video[0]
        signature = _codec_signature(first)
        for path, c in zip(segments, inputs):
            if _codec_signature(c.streams.video[0]) != signature:
                raise JoinError(
                    f"{path} was encoded with other codec parameters than {segments[0]} "
                    "(codec, size, pixel format or headers differ), so it cannot be joined without "
                    "re-encoding"
                )
        out = av.open(
            str(output), mode="w", format=_container_format(Path(output)), options=container_options(Path(output))
        )
        vout = out.add_stream_from_template(first)
        vout.time_base = frame_tb
        aout = ain = None
        audio_packets = iter(())
        if audio_in is not None:
            ain = audio_in.streams.audio[0]
            aout = out.add_stream_from_template(ain)
            aout.time_base = ain.time_base
            audio_packets = (p for p in audio_in.demux(ain) if p.size)
        pending = next(audio_packets, None)

        def audio_until(t: Fraction | None):
            nonlocal pending
            while pending is not None and (t is None or pending.pts is None or pending.pts * pending.time_base <= t):
                pending.stream = aout
                out.mux(pending)
                pending = next(audio_packets, None)

        # pass 1: read the packets' timestamps only, check every segment before writing anything
        order: list[list[int]] = []
        for path, c, start, count in zip(segments, inputs, starts, counts):
            stream = c.streams.video[0]
            tb = stream.time_base
            seen = []
            for k, packet in enumerate(p for p in c.demux(stream) if p.size):
                if packet.pts is None:
                    raise JoinError(f"{path}: a packet without a timestamp")
                if k == 0 and not packet.is_keyframe:
                    raise JoinError(f"{path} does not start on a keyframe")
                seen.append(round(packet.pts * tb * fps))
            if sorted(seen) != list(range(count)):
                dup = sorted({i for i in seen if seen.count(i) > 1})
                gone = sorted(set(range(count)) - set(seen))
                outside = sorted(i for i in seen if not 0 <= i < count)
                raise JoinError(
                    f"{path} should hold frames {start}-{start + count - 1} once each: "
                    + (f"duplicated {[start + i for i in dup][:10]} " if dup else "")
                    + (f"missing {[start + i for i in gone][:10]} " if gone else "")
                    + (f"outside {[start + i for i in outside][:10]}" if outside else "")
                )
            order.append(seen)
            c.seek(0)
        # decoding timestamps: packet k of a segment decodes at frame start + k - delay, where the
        # delay is the codec's reordering depth (0 without B-frames), as the encoder stamped them
        delay = max(max(k - pts for k, pts in enumerate(seen)) for seen in order)
        delay = max(delay, 0)
        written = 0
        for path, c, start, seen in zip(segments, inputs, starts, order):
            stream = c.streams.video[0]
            for k, packet in enumerate(p for p in c.demux(stream) if p.size):
                local = seen[k] if k < len(seen) else None
                if packet.pts is None or round(packet.pts * stream.time_base * fps) != local:
                    raise JoinError(f"{path}: the second read of its packets differs from the first (packet {k})")
                packet.time_base = frame_tb
                packet.pts = start + local
                packet.dts = start + k - delay
                packet.duration = 1
                packet.stream = vout
                audio_until((start + local) * frame_tb)
                out.mux(packet)
                written += 1
        audio_until(None)
        out.close()
        out = None
        return written
    finally:
        for c in inputs:
            c.close()
        if audio_in is not None:
            audio_in.close()
        if out is not None:
            try:
                out.close()
            except Exception:
                pass


def join_outputs(seg: SegmentDir, outputs: dict, digest: str, fps: Fraction, keep_segments: bool = True) -> list[Path]:
    """Join every encoder's segments into its final output (at the encoder's own frame rate; ``fps`` for
    outputs described without one); return the files written."""
    from ..outputs import resolved
    from ..util.atomic import AtomicFile
    from .segments import count_video_packets

    records = seg.done_segments(digest)
    written: list[Path] = []
    for enc_id, out in outputs.items():
        cover = pick_cover(records, out["frames"], enc_id)
        final = Path(out["path"])
        if out["kind"] == "sequence":
            written.extend(_place_sequence(seg, cover, enc_id, final.parent, keep_segments))
            continue
        audio = None
        if out["audio"]:
            audio = seg.audio_done(enc_id, digest)
            if audio is None:
                raise JoinError(f"the audio of '{enc_id}' has not been rendered into {seg.path}")
        target = AtomicFile(final)
        try:
            paths = [seg.segment_path(r["name"]) / r["files"][enc_id][0][0] for r in cover]
            starts = [r["start"] for r in cover]
            counts = [min(r["stop"], out["frames"]) - r["start"] for r in cover]
            n = remux(paths, starts, counts, Fraction(out.get("fps", fps)), target.temp, audio)
            check = count_video_packets(target.temp)
            if n != out["frames"] or check != out["frames"]:
                raise JoinError(f"joined {check} frames of '{enc_id}', expected {out['frames']}")
            sign = _SIGNING.get(resolved(final)) if _SIGNING else None
            if sign is not None:
                sign(target.temp)
        except BaseException:
            target.discard()
            raise
        written.append(target.commit())
    return written


def _place_sequence(seg: SegmentDir, cover: list[dict], enc_id: str, folder: Path, keep: bool) -> list[Path]:
    """Move (or, keeping the segments, hard-link) a sequence's segment files into ``folder``."""
    from ..util.atomic import AtomicFile, remove_stale_partials

    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder)
    placed = []
    for rec in cover:
        for rel, _size in rec["files"][enc_id]:
            src = seg.segment_path(rec["name"]) / rel
            dst = folder / Path(rel).name
            if keep:
                target = AtomicFile(dst, sweep=False)
                try:
                    try:
                        os.link(src, target.temp)
                    except OSError:  # another file system, or no hard links: copy
                        shutil.copy2(src, target.temp)
                    target.commit()
                except BaseException:
                    target.discard()
                    raise
            else:
                os.replace(src, dst)
            placed.append(dst)
    return placed


JOINABLE = (".mp4", ".mov", ".mkv", ".webm", ".avi")


def check_joinable(outputs: dict, pipeline: str | Path | None = None) -> None:
    """Raise ``PipelineError`` (exit 2) for an output whose container the join cannot remux."""
    problems = [
        Problem(
            f"the farm cannot join {out['ext'] or 'extension-less'} files (it joins "
            f"{', '.join(JOINABLE)} and image sequences)",
            file=str(pipeline) if pipeline else None,
            node=enc_id,
            option="path",
        )
        for enc_id, out in outputs.items()
        if out["kind"] == "file" and out["ext"] not in JOINABLE
    ]
    if problems:
        raise PipelineError(problems)
