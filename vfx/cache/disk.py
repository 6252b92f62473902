"""The on-disk store: one file per (node key, frame) in a folder the cache owns, bounded in bytes.

Layout: ``FOLDER/CACHEDIR.TAG`` (the standard tag, which backup tools skip, and how vfx knows the
folder is its own) and ``FOLDER/ab/<key>-<frame>.vfxc``, ``ab`` being the key's first two digits.
Entries are written to a partial name (``vfx.util.atomic``'s scheme) and renamed into place, so
a reader sees a whole entry or none, and a writer killed halfway leaves only a partial that is
never read (and is removed once its process is gone). Every read checks the entry's checksum
(``vfx.cache.entry``); a bad entry is removed and read as a miss. Processes on one machine may
share a folder: renames are atomic, two writers of one entry write the same bytes, and a file
that another process evicts while this one reads it stays readable until it is closed.

Reading an entry marks it used (its modification time); when the folder grows past its bound,
the least recently used entries are removed until it is nine tenths full.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import VfxError
from ..util.atomic import is_stale, parse_partial, partial_path
from . import entry

TAG_NAME = "CACHEDIR.TAG"
TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by vfx (its node cache).\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
_ENTRY = re.compile(r"(?P<key>[0-9a-f]{32})-(?P<frame>\d{7,})\.vfxc")
_SHARD = re.compile(r"[0-9a-f]{2}")


class CacheError(VfxError, ValueError):
    """A cache folder that cannot be used (not a folder, not writable, someone else's files)."""

    exit_code = 2


@dataclass
class DiskInfo:
    """What a cache folder holds."""

    folder: Path
    entries: int
    bytes: int
    nodes: int
    partials: int
    limit: int | None = None


def default_folder() -> Path:
    """``$VFX_CACHE_DIR``, else ``$XDG_CACHE_HOME/vfx/nodes``, else ``~/.cache/vfx/nodes``."""
    env = os.environ.get("VFX_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfx" / "nodes"


def check_folder(folder: str | Path, *, create: bool) -> Path:
    """``folder`` if it is (or, with ``create``, can become) a vfx cache folder; ``CacheError`` naming it otherwise."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise CacheError(f"{folder} is a file, not a folder")
    tag = folder / TAG_NAME
    if folder.is_dir():
        if _is_tag(tag):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise CacheError(f"{folder} is not writable")
            return folder
        try:
            foreign = next(iter(os.scandir(folder)), None)
        except OSError as exc:
            raise CacheError(f"cannot read {folder}: {exc.strerror}") from None
        if foreign is not None:
            raise CacheError(
                f"{folder} holds files and is not a vfx cache (no {TAG_NAME} of vfx's); "
                "give a new or empty folder, so the cache never mixes with (or removes) other files"
            )
    if not create:
        raise CacheError(f"{folder} is not a vfx cache folder (nothing was cached there yet)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not _is_tag(tag):
            target = partial_path(tag, unique=True)
            target.write_text(TAG)
            os.replace(target, tag)
    except OSError as exc:
        raise CacheError(f"cannot create the cache folder {folder}: {exc.strerror or exc}") from None
    return folder


def _is_tag(path: Path) -> bool:
    try:
        return (
            path.is_file()
            and path.read_text(errors="replace").startswith(TAG.splitlines()[0])
            and "vfx" in path.read_text(errors="replace")
        )
    except OSError:
        return False


class DiskStore:
    """Frames by (key, frame) in ``folder``, at most ``limit`` bytes of entries."""

    def __init__(self, folder: str | Path, limit: int):
        self.folder = check_folder(folder, create=True)
        self.limit = limit
        self._lock = threading.Lock()
        #: entries found unreadable (path, why) and removed since this store opened
        self.corrupt: list[tuple[Path, str]] = []
        self._size = self.info().bytes

    def path(self, key: str, frame: int) -> Path:
        """Where frame ``frame`` of node key ``key`` lives."""
        return self.folder / key[:2] / f"{key}-{frame:07d}.vfxc"

    def get(self, key: str, frame: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """The frame's float32 (H, W, 4) pixels (in ``out`` if given), or None (missing, or
        corrupt: then it is removed)."""
        path = self.path(key, frame)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._bad(path, f"unreadable: {exc.strerror}", remove=False)
            return None
        try:
            pixels = entry.decode(data, key, frame, out)
        except entry.CorruptEntry as exc:
            self._bad(path, str(exc), remove=True)
            return None
        try:
            os.utime(path)  # mark it recently used
        except OSError:
            pass
        return pixels

    def _bad(self, path: Path, why: str, *, remove: bool) -> None:
        with self._lock:
            self.corrupt.append((path, why))
        if remove:
            try:
                path.unlink()
            except OSError:
                pass

    def put(self, key: str, frame: int, pixels: np.ndarray) -> None:
        """Store a frame (atomically; an existing entry is replaced by the same bytes)."""
        data = entry.encode(key, frame, pixels)
        final = self.path(key, frame)
        final.parent.mkdir(exist_ok=True)
        temp = partial_path(final, unique=True)
        try:
            with open(temp, "wb") as f:
                f.write(data)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._size += len(data)
            over = self._size > self.limit
        if over:
            self.evict()

    def _scan(self) -> tuple[list[tuple[float, int, Path]], list[Path]]:
        """(mtime, size, path) of every entry, and the partials of dead writers."""
        found, stale = [], []
        try:
            shards = [
                d for d in os.scandir(self.folder) if d.is_dir(follow_symlinks=False) and _SHARD.fullmatch(d.name)
            ]
        except OSError:
            return [], []
        for shard in shards:
            try:
                items = list(os.scandir(shard.path))
            except OSError:
                continue
            for item in items:
                if _ENTRY.fullmatch(item.name) and item.is_file(follow_symlinks=False):
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    found.append((st.st_mtime, st.st_size, Path(item.path)))
                elif parse_partial(item.name) and is_stale(Path(item.path)):
                    stale.append(Path(item.path))
        return found, stale

    def evict(self, target: int | None = None) -> int:
        """Remove least recently used entries until at most ``target`` bytes remain (default
        nine tenths of the bound), and dead writers' partials; return the bytes removed."""
        target = int(self.limit * 0.9) if target is None else target
        found, stale = self._scan()
        for p in stale:
            p.unlink(missing_ok=True)
        total = sum(size for _, size, _ in found)
        removed = 0
        for _, size, path in sorted(found):
            if total - removed <= target:
                break
            try:
                path.unlink()
                removed += size
            except FileNotFoundError:
                removed += size  # another process evicted it first
            except OSError:
                continue
        with self._lock:
            self._size = total - removed
        return removed

    def info(self) -> DiskInfo:
        """Entries, bytes, distinct node keys and partials in the folder."""
        found, _ = self._scan()
        partials = 0
        for shard in self.folder.iterdir() if self.folder.is_dir() else []:
            if shard.is_dir() and _SHARD.fullmatch(shard.name):
                partials += sum(1 for p in shard.iterdir() if parse_partial(p.name))
        keys = {_ENTRY.fullmatch(p.name)["key"] for _, _, p in found}  # type: ignore[index]
        return DiskInfo(self.folder, len(found), sum(s for _, s, _ in found), len(keys), partials, self.limit)

    def clear(self) -> tuple[int, int]:
        """Remove every entry (and dead writers' partials); return (files, bytes) removed. Only
        files named and shaped as the cache's own go: anything else in the folder stays."""
        return clear_folder(self.folder)


def clear_folder(folder: str | Path) -> tuple[int, int]:
    """Empty the cache at ``folder`` (which must be a vfx cache folder); return (files, bytes).

    An entry is removed only if its name is an entry's and it starts with the entry magic; a
    partial only if its writer is dead; a shard folder only once it is empty; the tag stays.
    """
    folder = check_folder(folder, create=False)
    files = size = 0
    for shard in list(os.scandir(folder)):
        if not (_SHARD.fullmatch(shard.name) and shard.is_dir(follow_symlinks=False)):
            continue
        for item in list(os.scandir(shard.path)):
            path = Path(item.path)
            ours = (_ENTRY.fullmatch(item.name) and item.is_file(follow_symlinks=False) and entry.is_entry(path)) or (
                parse_partial(item.name) and is_stale(path) and item.is_file(follow_symlinks=False)
            )
            if not ours:
                continue
            try:
                n = item.stat(follow_symlinks=False).st_size
                path.unlink()
            except OSError:
                continue
            files += 1
            size += n
        try:
            os.rmdir(shard.path)
        except OSError:
            pass  # not empty: a live writer's partial, or a file that is not the cache's
    return files, size
