"""The VfxError family.

Every error a user can cause is a ``VfxError``; the CLI prints its message without a traceback.
Each also inherits the built-in exception it resembles, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class VfxError(Exception):
    """Base of every error vfx raises on purpose."""

    exit_code = 1


@dataclass
class Problem:
    """One thing wrong with a pipeline: where it is and what was expected."""

    message: str
    file: str | None = None
    line: int | None = None
    node: str | None = None
    option: str | None = None

    def __str__(self) -> str:
        where = self.file or "<pipeline>"
        if self.line:
            where += f":{self.line}"
        parts = [where]
        if self.node:
            parts.append(f"node '{self.node}'")
        if self.option:
            parts.append(f"option '{self.option}'")
        return ": ".join(parts) + ": " + self.message


class PipelineError(VfxError, ValueError):
    """A pipeline that cannot be rendered; carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class OptionError(VfxError, ValueError):
    """Option values that do not fit their schema, as ``errors``: (option, message) pairs, every
    one found in a table (``Options.from_mapping``); the graph adds file and node to each."""

    exit_code = 2

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = list(errors)
        super().__init__("; ".join(f"{k}: {m}" for k, m in self.errors))


class MediaError(VfxError, OSError):
    """A media file that cannot be opened, decoded or written."""

    exit_code = 2


class RenderError(VfxError, RuntimeError):
    """A render that started and failed; names the node that failed."""

    exit_code = 1

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(f"node '{node}': {message}" if node else message)


@dataclass
class PluginFailure:
    """A plugin entry point that failed to load, kept for ``vfx plugins``."""

    name: str
    value: str
    error: str
    extra: dict = field(default_factory=dict)
