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
from ..outputs import UnsafeOutput, refusal
from ..util.atomic import is_stale, parse_partial, partial_name, stale_partial_dirs
from ..util.atomic import write_text as _write_text

FORMAT = 1
MANIFEST = "manifest.json"
RECORD = "segment.json"
#: marks every manifest and record vfx writes; a file without it is not vfx's and is never touched
WRITER = "vfx"
_SEGMENT = re.compile(r"(?:\.old-)?seg-\d{6,}-\d{6,}(?:-[0-9a-f]{8})?")
_KILLED = re.compile(r"\.killed-seg-\d{6,}-\d{6,}")


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
    _write_text(Path(path), json.dumps(data, indent=1, sort_keys=True, default=str))


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None if it is missing, unreadable, or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_manifest(data) -> bool:
    """Whether ``data`` (a JSON object or None) is a segment-folder manifest vfx wrote."""
    return isinstance(data, dict) and data.get("writer", WRITER) == WRITER and "format" in data and "hash" in data


def is_segment_record(data) -> bool:
    """Whether ``data`` is a segment's record (``segment.json``) vfx wrote."""
    return (
        isinstance(data, dict)
        and data.get("writer", WRITER) == WRITER
        and {"hash", "start", "stop", "files"} <= data.keys()
        and isinstance(data["files"], dict)
    )


def is_audio_record(data) -> bool:
    """Whether ``data`` is an audio record (``audio-ENC.json``) vfx wrote."""
    return (
        isinstance(data, dict)
        and data.get("writer", WRITER) == WRITER
        and {"hash", "file", "size"} <= data.keys()
        and _plain_name(data["file"])
    )


def _plain_name(name) -> bool:
    return isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")


def _inside(folder: Path, rel) -> Path | None:
    """``folder/rel`` if ``rel`` is a relative path that stays inside ``folder``, else None."""
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        return None
    return folder / rel


class SegmentDir:
    """One render's segment folder.

    A ``--segment-dir`` may be a folder the user keeps other files in: vfx removes only what its
    own records list (a segment's ``segment.json`` names its files, an audio record its audio
    file), partial folders of its processes that are no longer alive, and its own manifest. It
    never writes over a file it has no record of: ``check_usable`` refuses such a folder first.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    # --- the manifest ---------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict | None:
        """The manifest if vfx wrote it, else None."""
        data = read_json(self.manifest_path)
        return data if is_manifest(data) else None

    def write_manifest(self, data: dict) -> None:
        if self.manifest_path.exists() and self.manifest() is None:
            raise UnsafeOutput(self._foreign(self.manifest_path, "is not a vfx segment manifest"))
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.manifest_path, {"format": FORMAT, "writer": WRITER, "written": time.time(), **data})

    def check_hash(self, current: str, what: str = "resume") -> None:
        """Raise ``StaleSegments`` if the manifest was written for another version of the pipeline."""
        m = self.manifest()
        if m is not None and m.get("hash") != current:
            fix = (
                "Render without --resume to start over"
                if what == "resume"
                else "Export the job again (vfx farm export) to start over"
            )
            raise StaleSegments(
                f"cannot {what}: the segments in {self.path} were rendered from a different version of the "
                f"pipeline (its content hash was {str(m.get('hash'))[:12]}, now {current[:12]}: the pipeline "
                f"text, a var, an override or an input file changed). {fix}, or give another --segment-dir."
            )

    # --- what may be written here ---------------------------------------------------------
    def _foreign(self, path: Path, why: str) -> str:
        return (
            f"segment folder {self.path}: {path} {why}; vfx does not overwrite or remove files it did not "
            "write: move it, or give another --segment-dir"
        )

    def planned_files(self, outputs: dict, chunk_names=()) -> list[Path]:
        """Every file and folder name a farm render of ``outputs`` writes directly in this folder."""
        names = [MANIFEST]
        for enc_id, out in outputs.items():
            if out.get("audio"):
                names += [f"audio-{enc_id}{out['ext']}", f"audio-{enc_id}.json"]
        return [self.path / n for n in names + list(chunk_names)]

    def check_usable(self, outputs: dict, chunk_names=(), protected=None) -> None:
        """Raise ``UnsafeOutput`` (exit 2), before anything is written, if a farm render of ``outputs``
        would write over a file vfx has no record of writing, or over a file the pipeline reads."""
        reason = refusal(self.path, protected, folder=True)
        if reason is not None:
            raise UnsafeOutput(f"--segment-dir: {reason}")
        for path in self.planned_files(outputs, chunk_names):
            if protected is not None and protected.what(path) is not None:
                raise UnsafeOutput(f"--segment-dir: {refusal(path, protected)}")
            if not (path.exists() or path.is_symlink()):
                continue
            if path.is_symlink():
                raise UnsafeOutput(self._foreign(path, "is a symlink"))
            name = path.name
            if name == MANIFEST:
                ours = self.manifest() is not None
            elif name.startswith("seg-"):
                ours = path.is_dir() and is_segment_record(read_json(path / RECORD))
            elif name.endswith(".json"):
                ours = is_audio_record(read_json(path))
            else:
                rec = read_json(self.path / (name.rsplit(".", 1)[0] + ".json"))
                ours = is_audio_record(rec) and rec["file"] == name
            if not ours:
                raise UnsafeOutput(self._foreign(path, "was not written by vfx (it has no vfx record)"))

    # --- segments -------------------------------------------------------------------------
    def segment_path(self, name: str) -> Path:
        return self.path / name

    def temp_path(self, name: str) -> Path:
        return self.path / partial_name(name, unique=True)

    def commit(self, temp: Path, name: str) -> Path:
        """Move a finished segment folder into place (replacing a stale segment of the same range)."""
        final = self.segment_path(name)
        if final.exists() or final.is_symlink():
            if final.is_symlink() or not is_segment_record(read_json(final / RECORD)):
                raise UnsafeOutput(self._foreign(final, "was not written by vfx (it has no vfx record)"))
            old = self.path / f".old-{name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            _remove_segment(old)
        os.replace(temp, final)
        return final

    def record(self, name: str) -> dict | None:
        rec = read_json(self.segment_path(name) / RECORD)
        return rec if is_segment_record(rec) else None

    def segment_done(self, name: str, current: str) -> bool:
        """The segment exists, was rendered from this pipeline, and has all its files at their sizes."""
        return self._finished_record(name, current) is not None

    def _finished_record(self, name: str, current: str) -> dict | None:
        rec = self.record(name)
        if rec is None or rec.get("hash") != current:
            return None
        return rec if files_intact(self.segment_path(name), rec.get("files", {})) else None

    def done_segments(self, current: str) -> list[dict]:
        """Records of every finished segment of this pipeline, by start frame."""
        found = []
        if not self.path.is_dir():
            return found
        for entry in sorted(self.path.iterdir()):
            rec = (
                self._finished_record(entry.name, current) if entry.is_dir() and entry.name.startswith("seg-") else None
            )
            if rec is not None:
                rec["name"] = entry.name
                found.append(rec)
        return sorted(found, key=lambda r: (r["start"], r["stop"]))

    # --- audio ----------------------------------------------------------------------------
    def audio_record(self, encoder_id: str) -> dict | None:
        rec = read_json(self.path / f"audio-{encoder_id}.json")
        return rec if is_audio_record(rec) else None

    def audio_done(self, encoder_id: str, current: str) -> Path | None:
        """The encoder's audio file if it was rendered from this pipeline and is intact, else None."""
        rec = self.audio_record(encoder_id)
        if rec is None or rec.get("hash") != current:
            return None
        if not files_intact(self.path, {encoder_id: [[rec["file"], rec["size"]]]}):
            return None
        return self.path / rec["file"]

    # --- housekeeping ---------------------------------------------------------------------
    def clear(self) -> None:
        """Remove what vfx wrote here (a fresh start): the segments and audio its records list, its
        manifest, and partial files of its processes that are no longer alive. Nothing else."""
        if not self.path.is_dir():
            return
        for entry in sorted(self.path.iterdir()):
            name = entry.name
            if entry.is_symlink():
                continue
            if _SEGMENT.fullmatch(name) and entry.is_dir():
                _remove_segment(entry)
            elif name.startswith("audio-") and name.endswith(".json") and entry.is_file():
                rec = read_json(entry)
                if is_audio_record(rec):
                    audio = self.path / rec["file"]
                    if audio.is_file() and not audio.is_symlink():
                        audio.unlink()
                    entry.unlink(missing_ok=True)
            elif parse_partial(name) is not None:  # a segment folder's or a record's partial
                if is_stale(entry) and entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                elif is_stale(entry) and entry.is_file():
                    entry.unlink(missing_ok=True)
            elif _KILLED.fullmatch(name) and entry.is_file():
                try:
                    if entry.read_text(errors="replace").startswith("killed pid "):
                        entry.unlink()
                except OSError:
                    pass
        if self.manifest() is not None:
            self.manifest_path.unlink(missing_ok=True)

    def remove(self) -> None:
        """``clear``, then remove the folder itself if nothing else is in it."""
        self.clear()
        try:
            self.path.rmdir()
        except OSError:
            pass

    def partials(self) -> list[Path]:
        """Unfinished segment folders left by vfx processes of this machine that are no longer alive."""
        if not self.path.is_dir():
            return []
        return stale_partial_dirs(self.path, stem="seg-")


def _remove_segment(folder: Path) -> bool:
    """Remove a segment folder vfx wrote: the files its record lists, the record, then the folders
    left empty. A folder without a vfx record, or the user's files in one, stay. True if it went."""
    rec = read_json(folder / RECORD)
    if not is_segment_record(rec):
        return False
    for entries in rec["files"].values():
        for entry in entries if isinstance(entries, list) else []:
            path = _inside(folder, entry[0] if isinstance(entry, list) and entry else None)
            if path is not None and (path.is_file() or path.is_symlink()):
                path.unlink()
    (folder / RECORD).unlink(missing_ok=True)
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink()), key=lambda p: -len(p.parts)):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError:
        return False
    return True


def files_intact(folder: Path, files: dict) -> bool:
    """Every ``[relative path, size]`` listed in ``files`` (per encoder) exists under ``folder`` at that size."""
    try:
        for entries in files.values():
            for rel, size in entries:
                if (Path(folder) / rel).stat().st_size != size:
                    return False
    except (OSError, TypeError, ValueError, AttributeError):  # missing files, or a damaged record
        return False
    return True


def default_segment_dir(outputs: dict) -> Path:
    """Beside the first output: ``out/.explosion.mp4.farm`` (``out/.frame_#.png.farm`` for a sequence)."""
    import re

    first = next(iter(outputs.values()))
    path = Path(first["path"])
    return path.parent / ("." + re.sub(r"%0?\d*d", "#", path.name) + ".farm")
