"""Which files the studio may serve: those inside the pipeline's folder, and the outputs it renders.

A request names a file relative to the pipeline's folder. It is refused when it is absolute,
has a ``..`` or hidden (``.name``) component, a backslash or a NUL, or when the file it resolves
to (every symlink followed) lies outside the folder and is not one of the pipeline's outputs.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Iterable


class Refused(Exception):
    """A path the studio will not serve; the message says why (never the resolved path)."""


def served_path(folder: Path, relative: str, outputs: Iterable[Path] = ()) -> Path:
    """The real file ``relative`` names under ``folder``, or ``Refused``."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise Refused("not a file name")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("/"):
        raise Refused("absolute paths are not served")
    if any(part in ("..", ".") or part.startswith(".") for part in pure.parts):
        raise Refused("'..' and hidden names are not served")
    root = Path(os.path.realpath(folder))
    target = Path(os.path.realpath(root / relative))
    allowed = {Path(os.path.realpath(p)) for p in outputs}
    if not (_inside(target, root) or target in allowed):
        raise Refused("outside the pipeline's folder")
    if not target.is_file():
        raise Refused("no such file")
    return target


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def url_for(folder: Path, path: Path) -> str | None:
    """The ``files/`` path of ``path`` when it lies inside ``folder`` (else None)."""
    root = Path(os.path.realpath(folder))
    real = Path(os.path.realpath(path))
    if not _inside(real, root):
        return None
    return real.relative_to(root).as_posix()
