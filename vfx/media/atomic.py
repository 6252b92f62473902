"""Outputs that appear only when complete: write to a hidden temporary name, then rename."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


class AtomicFile:
    """A temporary path beside ``final``; ``commit()`` renames it over ``final``, ``discard()`` deletes it."""

    def __init__(self, final: Path):
        self.final = Path(final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.temp = self.final.with_name(f".{self.final.stem}.vfx-partial-{os.getpid()}{self.final.suffix}")

    def commit(self) -> Path:
        os.replace(self.temp, self.final)
        return self.final

    def discard(self) -> None:
        try:
            self.temp.unlink()
        except FileNotFoundError:
            pass


class AtomicDir:
    """A temporary folder for many files (an image sequence) moved into ``folder`` on commit."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.temp = self.folder / f".vfx-partial-{os.getpid()}"
        if self.temp.exists():
            shutil.rmtree(self.temp)
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
