"""Outputs that appear only when complete: write to a hidden temporary name, then rename.

Every temporary name vfx writes follows one scheme, ``partial_path``::

    .STEM.vfx-partial-HOST-PID[-TOKEN][.PART]SUFFIX

(``.out.vfx-partial-HOST-PID.mp4`` beside ``out.mp4``; ``-TOKEN``, eight hex digits, where one
process may write the same file from two threads (manifests, segment folders, caches); ``.PART``
for a side file of a partial, such as the ffmpeg pipe's video and audio; an image sequence's
folder is ``.vfx-partial-HOST-PID-TOKEN``, with no stem). The machine's name and the writing
process's id make the partial of a render that was killed (SIGKILL, a power cut) provably vfx's
own: the next render to the same place removes it when that process is no longer alive on this
machine. Nothing else beside an output is ever removed.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from pathlib import Path

_PARTIAL = re.compile(
    r"\.(?:(?P<stem>.+?)\.)?vfx-partial-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)"
    r"(?:-(?P<token>[0-9a-f]{8}))?(?P<rest>(?:\.[^.]+)*)"
)


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


def partial_name(name: str, *, unique: bool = False) -> str:
    """The temporary name of a file or folder called ``name`` (``""``: a folder of many files)
    for this process, with a token when ``unique``."""
    stem, suffix = (Path(name).stem, Path(name).suffix) if name else ("", "")
    token = f"-{uuid.uuid4().hex[:8]}" if unique else ""
    return f"{f'.{stem}.' if stem else '.'}vfx-partial-{host_tag()}-{os.getpid()}{token}{suffix}"


def partial_path(final: Path, *, unique: bool = False) -> Path:
    """The temporary path of ``final`` for this process, beside it (with a token when ``unique``)."""
    final = Path(final)
    return final.with_name(partial_name(final.name, unique=unique))


def sidecar(temp: Path, part: str, suffix: str | None = None) -> Path:
    """A side file of the partial ``temp`` (``.PART`` before its suffix, or ``suffix`` instead)."""
    temp = Path(temp)
    return temp.with_name(f"{temp.stem}.{part}{temp.suffix if suffix is None else suffix}")


def parse_partial(name: str) -> re.Match | None:
    """The parts (stem, host, pid, token, rest) of a name in the partial scheme, else None."""
    return _PARTIAL.fullmatch(name)


def is_stale(path: Path) -> bool:
    """Whether ``path`` is the partial of a vfx process of this machine that is no longer alive."""
    m = parse_partial(Path(path).name)
    return (
        m is not None
        and m["host"] == host_tag()
        and int(m["pid"]) != os.getpid()
        and not pid_alive(int(m["pid"]))
        and not Path(path).is_symlink()
    )


def _stem(path: Path) -> str | None:
    m = parse_partial(path.name)
    return m["stem"] if m is not None else None


def _entries(folder: Path) -> list[Path]:
    try:
        return list(Path(folder).iterdir())
    except OSError:
        return []


def stale_partials(final: Path) -> list[Path]:
    """Partial files of ``final`` (and their side files) left by dead vfx processes of this machine."""
    final = Path(final)

    def of_final(p: Path) -> bool:
        m = parse_partial(p.name)
        return m is not None and m["stem"] == final.stem and (m["rest"] == final.suffix or m["rest"].count(".") >= 2)

    return [p for p in _entries(final.parent) if is_stale(p) and p.is_file() and of_final(p)]


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the partial files of any output in ``folder`` left by dead vfx processes of this
    machine (one pass for many outputs, such as the files of an image sequence); return them."""
    gone = [p for p in _entries(folder) if _stem(p) and is_stale(p) and p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def stale_partial_dirs(folder: Path, stem: str | None = None) -> list[Path]:
    """Partial folders in ``folder`` left by dead vfx processes of this machine: an image
    sequence's (no stem), or with ``stem`` those of that prefix (farm segments: ``seg-``)."""

    def wanted(p: Path) -> bool:
        got = _stem(p)
        return not got if stem is None else got is not None and got.startswith(stem)

    return [p for p in _entries(folder) if is_stale(p) and p.is_dir() and wanted(p)]


class AtomicFile:
    """A temporary path beside ``final`` (a file, or a folder moved into place whole);
    ``commit()`` renames it over ``final``, ``discard()`` deletes it.

    Creating one removes the partial files that dead vfx processes left for the same ``final``
    (``sweep=False`` skips that, for a caller that swept the folder once for many files).
    ``unique`` adds a token to the name, for a file one process may write from two threads.
    """

    def __init__(self, final: Path, sweep: bool = True, unique: bool = False):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        for old in stale_partials(self.final) if sweep else []:
            old.unlink(missing_ok=True)
        self.temp = partial_path(self.final, unique=unique)

    def commit(self) -> Path:
        os.replace(self.temp, self.final)
        return self.final

    def discard(self) -> None:
        if self.temp.is_dir() and not self.temp.is_symlink():
            shutil.rmtree(self.temp, ignore_errors=True)
            return
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a unique partial beside it, then a rename)."""
    target = AtomicFile(path, sweep=False, unique=True)
    try:
        target.temp.write_text(text)
        return target.commit()
    except BaseException:
        target.discard()
        raise


class AtomicDir:
    """A temporary folder for many files (an image sequence) moved into ``folder`` on commit.

    Creating one removes the partial folders that dead vfx processes left in ``folder``.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in stale_partial_dirs(self.folder):
            shutil.rmtree(old, ignore_errors=True)
        self.temp = self.folder / partial_name("", unique=True)
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
