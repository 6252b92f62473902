"""Outputs that appear only when complete: write to a hidden temporary name, then rename.

The temporary name carries this machine's name and the writing process's id
(``.out.vfx-partial-HOST-PID.mp4``, a folder ``.vfx-partial-HOST-PID-TOKEN`` for an image
sequence), so the partial file of a render that was killed (SIGKILL, a power cut) is provably
vfx's own: the next render to the same output removes it when that process is no longer alive on
this machine. Nothing else beside an output is ever removed.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from pathlib import Path


def host_tag() -> str:
    """This machine's name as it appears in temporary names (letters, digits and '_')."""
    return re.sub(r"[^A-Za-z0-9]+", "_", socket.gethostname())[:40] or "host"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one of another user counts as alive)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _stale(match: re.Match | None) -> bool:
    return (match is not None and match["host"] == host_tag() and int(match["pid"]) != os.getpid()
            and not pid_alive(int(match["pid"])))


def stale_partials(final: Path) -> list[Path]:
    """Partial files of ``final`` left by dead vfx processes of this machine."""
    final = Path(final)
    pattern = re.compile(rf"\.{re.escape(final.stem)}\.vfx-partial-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)"
                         rf"{re.escape(final.suffix)}")
    try:
        entries = list(final.parent.iterdir())
    except OSError:
        return []
    return [p for p in entries if _stale(pattern.fullmatch(p.name)) and p.is_file() and not p.is_symlink()]


_ANY_FILE = re.compile(r"\..+\.vfx-partial-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)(?:\.[^.]+)?")


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the partial files of any output in ``folder`` left by dead vfx processes of this
    machine (one pass for many outputs, such as the files of an image sequence); return them."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    gone = [p for p in entries if _stale(_ANY_FILE.fullmatch(p.name)) and p.is_file() and not p.is_symlink()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


_DIR = re.compile(r"\.vfx-partial-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]{8}")


def stale_partial_dirs(folder: Path) -> list[Path]:
    """Partial image-sequence folders in ``folder`` left by dead vfx processes of this machine."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    return [p for p in entries if _stale(_DIR.fullmatch(p.name)) and p.is_dir() and not p.is_symlink()]


class AtomicFile:
    """A temporary path beside ``final``; ``commit()`` renames it over ``final``, ``discard()`` deletes it.

    Creating one removes the partial files that dead vfx processes left for the same ``final``
    (``sweep=False`` skips that, for a caller that swept the folder once for many files).
    """

    def __init__(self, final: Path, sweep: bool = True):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        for old in stale_partials(self.final) if sweep else []:
            old.unlink(missing_ok=True)
        self.temp = self.final.with_name(
            f".{self.final.stem}.vfx-partial-{host_tag()}-{os.getpid()}{self.final.suffix}")

    def commit(self) -> Path:
        os.replace(self.temp, self.final)
        return self.final

    def discard(self) -> None:
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass


class AtomicDir:
    """A temporary folder for many files (an image sequence) moved into ``folder`` on commit.

    Creating one removes the partial folders that dead vfx processes left in ``folder``.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in stale_partial_dirs(self.folder):
            shutil.rmtree(old, ignore_errors=True)
        self.temp = self.folder / f".vfx-partial-{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.temp.mkdir()

    def commit(self) -> list[Path]:
        done = []
        for item in sorted(self.temp.iterdir()):
            target = self.folder / item.name
            os.replace(item, target)
            done.append(target)
        self.temp.rmdir()
        return done

    def discard(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)
