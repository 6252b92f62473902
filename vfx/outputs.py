"""May vfx write this path? The one check that every output of every command goes through.

vfx never writes over a file it reads: an input of the pipeline (a video, an image, a LUT, a
model, every file of an image sequence) or the pipeline file itself, whatever the spelling of
either path (relative, ``..``, a symlink, a hard link). It never writes a file where a folder is,
nor a folder where a file is, and two outputs of one command never name one file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from .errors import VfxError


class UnsafeOutput(VfxError):
    """An output that would overwrite an input, the pipeline file, a folder, or another output."""

    exit_code = 2


def resolved(path) -> Path:
    """``path`` absolute, with ``..`` and every symlink resolved (also when it does not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Protected:
    """Files a command must not write, each with what it is ("the pipeline file itself", "also read by node 'plate'")."""

    def __init__(self):
        self._paths: dict[Path, str] = {}
        self._inodes: dict[tuple[int, int], str] = {}

    def add(self, path, what: str) -> None:
        """Protect ``path`` (named ``what`` in messages); the first description of a file wins."""
        p = resolved(path)
        self._paths.setdefault(p, what)
        inode = _inode(p)
        if inode is not None and p.is_file():
            self._inodes.setdefault(inode, what)

    def add_graph(self, graph) -> "Protected":
        """The pipeline file of ``graph`` and every file its nodes read."""
        spec = getattr(graph, "spec", None)
        if spec is not None and getattr(spec, "path", None):
            self.add(spec.path, "the pipeline file itself")
        for node in graph.nodes.values():
            for path in node.input_files():
                self.add(path, f"also read by node '{node.id}'")
        return self

    def what(self, path) -> str | None:
        """What ``path`` is if it is a protected file (by path or, if it exists, by inode), else None."""
        p = resolved(path)
        if p in self._paths:
            return self._paths[p]
        inode = _inode(p)
        return self._inodes.get(inode) if inode is not None else None

    def __len__(self) -> int:
        return len(self._paths)


def refusal(path, protected: Protected | None = None, *, folder: bool = False) -> str | None:
    """Why ``path`` must not be written (as a file, or as a folder with ``folder``), or None if it may."""
    p = Path(path)
    what = protected.what(p) if protected is not None else None
    if what is not None:
        return f"output {p} is {what}; refusing to overwrite an input"
    if not folder and p.is_dir():
        return f"{p} is a folder, not a file; refusing to write over it"
    if folder and p.exists() and not p.is_dir():
        return f"{p} is a file, not a folder"
    probe = p.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        return f"cannot write {p}: {probe} is not a folder"
    return None


def refusals(paths: Iterable, protected: Protected | None = None):
    """``(path, resolved path, reason or None)`` for each of ``paths``, like ``refusal`` one by one.

    Many outputs in one folder (an image sequence) resolve the folder once: a name that does not
    exist yet costs one ``lstat`` (a million-frame sequence: seconds, where one by one took half a minute).
    """
    folders: dict[Path, Path] = {}
    for path in paths:
        p = Path(path)
        try:
            os.lstat(p)
        except FileNotFoundError:
            parent = folders.get(p.parent)
            if parent is None:
                parent = folders[p.parent] = resolved(p.parent)
            r = parent / p.name
            what = protected._paths.get(r) if protected is not None else None
            yield p, r, (f"output {p} is {what}; refusing to overwrite an input" if what else None)
            continue
        except OSError:
            pass
        yield p, resolved(p), refusal(p, protected)


def check(path, protected: Protected | None = None, *, where: str, folder: bool = False) -> Path:
    """Raise ``UnsafeOutput`` naming ``where`` (file, node, option) if ``path`` must not be written."""
    reason = refusal(path, protected, folder=folder)
    if reason is not None:
        raise UnsafeOutput(f"{where}: {reason}")
    return Path(path)


def clashes(owners: Iterable[tuple[object, Iterable]]) -> list[tuple[Path, object, object]]:
    """``(file, first owner, second owner)`` for every file that two owners would both write,
    comparing resolved paths (``..`` and symlinked folders see through)."""
    seen: dict[Path, object] = {}
    found = []
    for owner, paths in owners:
        for path in paths:
            key = resolved(path)
            if key in seen and seen[key] is not owner:
                found.append((key, seen[key], owner))
            else:
                seen.setdefault(key, owner)
    return found


__all__ = ["Protected", "UnsafeOutput", "check", "clashes", "refusal", "refusals", "resolved"]
