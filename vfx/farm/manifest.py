"""The segment folder: a manifest with the pipeline's content hash, and one record per segment.

A farm render writes each chunk as a *segment* under a segment folder::

    DIR/manifest.json                  hash of the pipeline, frames, outputs, chunk plan
    DIR/seg-000000-000023/segment.json the chunk's record (hash, range, files and sizes, worker)
    DIR/seg-000000-000023/out.mkv      video only, one file per encoder (or a folder of PNGs)
    DIR/audio-out.mkv + .json          the audio of the whole timeline, rendered once

A segment counts as done only when its folder exists under its final name (it is renamed into
place after its record is written) and its record's hash is the manifest's, and its files have
the recorded sizes. ``--resume`` re-renders every chunk that is not done; a manifest whose hash
is not the pipeline's stops a resume, so segments of two versions of a pipeline never mix.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from ..errors import VfxError

FORMAT = 1
MANIFEST = "manifest.json"
RECORD = "segment.json"
#: names of what the farm writes into a segment folder, and their temporary names (nothing else is
#: ever deleted there: a --segment-dir may be a folder the user keeps other files in)
_OURS = re.compile(r"""^(?:
      manifest\.json
    | seg-\d{6,}-\d{6,}                                   # a segment
    | \.(?:partial|old)-seg-\d{6,}-\d{6,}-.+              # one being written / being replaced
    | \.killed-seg-\d{6,}-\d{6,}                          # the tests' fault-injection marker
    | audio-.+\.(?:json|mp4|mov|mkv|webm|avi)               # the audio and its record
    | \.audio-.+\.vfx-partial-\d+\.(?:mp4|mov|mkv|webm|avi) # the audio being written
    | \.(?:manifest|audio-.+)\.json\.\d+-[0-9a-f]+\.tmp     # a JSON file being written
)$""", re.VERBOSE)


class StaleSegments(VfxError):
    """The segment folder holds segments of a different version of the pipeline."""

    exit_code = 2


def content_hash(spec, graph, overrides) -> str:
    """What decides the pixels: the pipeline text, the resolved vars, the overrides, every node's
    options after substitution, and the size and modification time of every input file."""
    from .. import __version__
    h = hashlib.sha256()

    def feed(label, value):
        h.update(label.encode() + b"\0" + json.dumps(value, sort_keys=True, default=str).encode() + b"\n")

    feed("vfx", __version__)
    feed("text", spec.text)
    feed("vars", spec.vars)
    feed("overrides", list(overrides))
    feed("nodes", spec.nodes)
    feed("settings", {k: str(v) for k, v in vars(spec.settings).items() if k != "base_dir"})
    files = set()
    for node in graph.nodes.values():
        for path in node.input_files():
            files.add(Path(path).resolve())
    for path in sorted(files):
        try:
            st = path.stat()
            feed("input", [str(path), st.st_size, st.st_mtime_ns])
        except OSError:
            feed("input", [str(path), None, None])
    return h.hexdigest()


def write_json(path: Path, data) -> None:
    """Write JSON atomically: a temporary file beside it, then a rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None if it is missing, unreadable, or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class SegmentDir:
    """One render's segment folder."""

    def __init__(self, path: Path):
        self.path = Path(path)

    # --- the manifest ---------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict | None:
        return read_json(self.manifest_path)

    def write_manifest(self, data: dict) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.manifest_path, {"format": FORMAT, "written": time.time(), **data})

    def check_hash(self, current: str, what: str = "resume") -> None:
        """Raise ``StaleSegments`` if the manifest was written for another version of the pipeline."""
        m = self.manifest()
        if m is not None and m.get("hash") != current:
            fix = ("Render without --resume to start over" if what == "resume" else
                   "Export the job again (vfx farm export) to start over")
            raise StaleSegments(
                f"cannot {what}: the segments in {self.path} were rendered from a different version of the "
                f"pipeline (its content hash was {str(m.get('hash'))[:12]}, now {current[:12]}: the pipeline "
                f"text, a var, an override or an input file changed). {fix}, or give another --segment-dir.")

    # --- segments -------------------------------------------------------------------------
    def segment_path(self, name: str) -> Path:
        return self.path / name

    def temp_path(self, name: str) -> Path:
        return self.path / f".partial-{name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def commit(self, temp: Path, name: str) -> Path:
        """Move a finished segment folder into place (replacing a stale one of the same range)."""
        final = self.segment_path(name)
        if final.exists():
            old = self.path / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(temp, final)
        return final

    def record(self, name: str) -> dict | None:
        return read_json(self.segment_path(name) / RECORD)

    def segment_done(self, name: str, current: str) -> bool:
        """The segment exists, was rendered from this pipeline, and has all its files at their sizes."""
        return self._finished_record(name, current) is not None

    def _finished_record(self, name: str, current: str) -> dict | None:
        rec = self.record(name)
        if rec is None or rec.get("hash") != current or not {"start", "stop", "files"} <= rec.keys():
            return None
        return rec if files_intact(self.segment_path(name), rec.get("files", {})) else None

    def done_segments(self, current: str) -> list[dict]:
        """Records of every finished segment of this pipeline, by start frame."""
        found = []
        if not self.path.is_dir():
            return found
        for entry in sorted(self.path.iterdir()):
            rec = self._finished_record(entry.name, current) if entry.is_dir() and entry.name.startswith("seg-") \
                else None
            if rec is not None:
                rec["name"] = entry.name
                found.append(rec)
        return sorted(found, key=lambda r: (r["start"], r["stop"]))

    # --- audio ----------------------------------------------------------------------------
    def audio_record(self, encoder_id: str) -> dict | None:
        return read_json(self.path / f"audio-{encoder_id}.json")

    def audio_done(self, encoder_id: str, current: str) -> Path | None:
        """The encoder's audio file if it was rendered from this pipeline and is intact, else None."""
        rec = self.audio_record(encoder_id)
        if rec is None or rec.get("hash") != current or "file" not in rec or "size" not in rec:
            return None
        if not files_intact(self.path, {encoder_id: [[rec["file"], rec["size"]]]}):
            return None
        return self.path / rec["file"]

    # --- housekeeping ---------------------------------------------------------------------
    def clear(self) -> None:
        """Remove every segment, audio file, partial and the manifest (a fresh start). Only what
        the farm writes is touched: a --segment-dir that holds other files keeps them."""
        if not self.path.is_dir():
            return
        for entry in self.path.iterdir():
            if not _OURS.match(entry.name):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                try:
                    entry.unlink()
                except FileNotFoundError:
                    pass

    def remove(self) -> None:
        """``clear``, then remove the folder itself if nothing else is in it."""
        self.clear()
        try:
            self.path.rmdir()
        except OSError:
            pass

    def partials(self) -> list[Path]:
        """Unfinished segment folders (``.partial-*``) left by a task that died."""
        return list(self.path.glob(".partial-*")) if self.path.is_dir() else []


def files_intact(folder: Path, files: dict) -> bool:
    """Every ``[relative path, size]`` listed in ``files`` (per encoder) exists under ``folder`` at that size."""
    try:
        for entries in files.values():
            for rel, size in entries:
                if (Path(folder) / rel).stat().st_size != size:
                    return False
    except (OSError, TypeError, ValueError, AttributeError):   # missing files, or a damaged record
        return False
    return True


def default_segment_dir(outputs: dict) -> Path:
    """Beside the first output: ``out/.explosion.mp4.farm`` (``out/.frame_#.png.farm`` for a sequence)."""
    import re
    first = next(iter(outputs.values()))
    path = Path(first["path"])
    return path.parent / ("." + re.sub(r"%0?\d*d", "#", path.name) + ".farm")
