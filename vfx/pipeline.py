"""TOML pipeline files to a ``PipelineSpec``: vars substituted, ``--set`` applied, lines known.

Nothing here knows any node type; the graph (``vfx.graph``) checks nodes against the registry.
"""
from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import timing
from .errors import PipelineError, Problem
from .node import PipelineSettings

FORMAT_VERSION = 1
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_KEYS = {"format", "pipeline", "vars", "nodes"}
_SETTINGS = {"width", "height", "fps", "duration", "seed", "sample_rate", "channels"}


@dataclass
class PipelineSpec:
    """A parsed pipeline: settings, vars and each node's raw table (``type`` plus options)."""

    path: Path
    settings: PipelineSettings
    nodes: dict[str, dict[str, Any]]
    vars: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple, int] = field(default_factory=dict)
    text: str = ""
    #: problems found in settings and vars; ``vfx.graph.build`` reports them with the node problems
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, node: str | None = None, option: str | None = None) -> int | None:
        if node is None:
            return self.lines.get(("pipeline", option)) or self.lines.get(("pipeline",))
        return self.lines.get(("nodes", node, option)) or self.lines.get(("nodes", node))

    def problem(self, message: str, node: str | None = None, option: str | None = None) -> Problem:
        return Problem(message, file=str(self.path), line=self.line_of(node, option), node=node, option=option)


def load(path: str | Path, overrides: list[str] | None = None, extra_vars: dict | None = None) -> PipelineSpec:
    """Read, substitute and check the shape of a pipeline file; raise ``PipelineError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(Problem("pipeline file not found", file=str(path))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(Problem(f"cannot read pipeline: {exc}", file=str(path))) from None
    return loads(text, path, overrides, extra_vars)


def loads(text: str, path: Path, overrides: list[str] | None = None, extra_vars: dict | None = None) -> PipelineSpec:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(m.group(1)) if m else None
        raise PipelineError(Problem(f"TOML syntax error: {exc}", file=str(path), line=line)) from None
    lines = _locate(text)
    problems: list[Problem] = []

    def problem(msg, node=None, option=None, line=None):
        problems.append(Problem(msg, file=str(path), line=line or (
            lines.get(("nodes", node, option)) or lines.get(("nodes", node)) if node else
            lines.get(("pipeline", option)) or lines.get((option,)) if option else None), node=node, option=option))

    for key in doc:
        if key not in _TOP_KEYS:
            problem(f"unknown top-level key '{key}' (expected {', '.join(sorted(_TOP_KEYS))})", option=key)
    fmt = doc.get("format", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        problem(f"unsupported format {fmt!r}; this vfx reads format = {FORMAT_VERSION}", option="format")

    variables = dict(doc.get("vars", {}))
    variables.update(extra_vars or {})
    node_overrides: list[tuple[str, str, Any]] = []
    setting_overrides: dict[str, Any] = {}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problem(f"--set expects key=value, got {item!r}")
            continue
        value = _parse_override(raw.strip())
        parts = key.split(".")
        if parts[0] == "nodes":
            parts = parts[1:]
        if parts[0] == "vars" and len(parts) == 2:
            variables[parts[1]] = value
        elif parts[0] == "pipeline" and len(parts) == 2:
            setting_overrides[parts[1]] = value
        elif len(parts) == 2:
            node_overrides.append((parts[0], parts[1], value))
        elif len(parts) == 1:
            variables[parts[0]] = value
        else:
            problem(f"--set key {key!r} is not a var, pipeline.SETTING or NODE.OPTION")

    variables = _resolve_vars(variables, problem)
    raw_settings = dict(doc.get("pipeline", {}))
    raw_settings.update(setting_overrides)
    raw_settings = _substitute(raw_settings, variables, problem, None)
    settings = _settings(raw_settings, path, problem)

    nodes_raw = doc.get("nodes", {})
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        problem("the pipeline has no nodes: add at least one [nodes.ID] table with a type")
        nodes_raw = {}
    nodes: dict[str, dict] = {}
    for node_id, table in nodes_raw.items():
        if not isinstance(table, dict):
            problem("expected a table [nodes.ID] with a 'type'", node=node_id)
            continue
        nodes[node_id] = copy.deepcopy(table)
    for node_id, option, value in node_overrides:
        if node_id not in nodes:
            problem(f"--set names node '{node_id}', which is not in the pipeline", node=node_id)
        else:
            nodes[node_id][option] = value
    for node_id, table in nodes.items():
        for option in list(table):
            table[option] = _substitute(table[option], variables, problem, (node_id, option))
    if not nodes:
        raise PipelineError(problems)
    return PipelineSpec(path=path, settings=settings, nodes=nodes, vars=variables, lines=lines, text=text,
                        problems=problems)


def _resolve_vars(variables: dict, problem) -> dict:
    """Let vars use other vars (``full = "${name}-v2"``); a cycle is an error."""
    resolved = dict(variables)
    for _ in range(len(resolved) + 1):
        changed = False
        for name, value in resolved.items():
            if isinstance(value, str) and _VAR.search(value):
                new = _substitute(value, {k: v for k, v in resolved.items() if k != name}, lambda *a, **k: None, None)
                if new != value:
                    resolved[name], changed = new, True
        if not changed:
            return resolved
    stuck = sorted(n for n, v in resolved.items() if isinstance(v, str) and _VAR.search(v))
    problem(f"vars refer to each other in a cycle: {', '.join(stuck)}", option="vars")
    return resolved


def _parse_override(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _substitute(value, variables, problem, where):
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole and whole.group(1) in variables:
            return variables[whole.group(1)]

        def repl(m):
            name = m.group(1)
            if name not in variables:
                node, option = where if where else (None, None)
                problem(f"unknown variable ${{{name}}} (defined: {', '.join(sorted(variables)) or 'none'})",
                        node=node, option=option)
                return m.group(0)
            return str(variables[name])
        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [_substitute(v, variables, problem, where) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, variables, problem, where) for k, v in value.items()}
    return value


def _settings(raw: dict, path: Path, problem) -> PipelineSettings:
    s = PipelineSettings(base_dir=path.resolve().parent)
    for key in raw:
        if key not in _SETTINGS:
            problem(f"unknown pipeline setting '{key}' (known: {', '.join(sorted(_SETTINGS))})", option=key)
    for key in ("width", "height"):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 16384 or v % 2:
                problem(f"expected an even integer between 16 and 16384, got {v!r}", option=key)
            else:
                setattr(s, key, v)
    if "fps" in raw:
        try:
            s.fps = timing.parse_fps(raw["fps"])
        except ValueError as exc:
            problem(str(exc), option="fps")
    for key, lo, hi in (("seed", 0, 2**63 - 1), ("sample_rate", 8000, 192000), ("channels", 1, 8)):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                problem(f"expected an integer between {lo} and {hi}, got {v!r}", option=key)
            else:
                setattr(s, key, v)
    if "duration" in raw:
        try:
            s.duration = timing.to_frames(raw["duration"], s.fps)
            if s.duration < 1:
                raise ValueError("the duration must be at least one frame")
        except ValueError as exc:
            problem(str(exc), option="duration")
    return s


_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]+\")\s*=")


def _locate(text: str) -> dict[tuple, int]:
    """Line numbers of tables and keys, for messages (a best effort; TOML has no positions)."""
    lines: dict[tuple, int] = {}
    table: tuple = ()
    for number, line in enumerate(text.splitlines(), start=1):
        m = _HEADER.match(line)
        if m:
            table = tuple(p.strip().strip('"') for p in m.group(1).split("."))
            lines.setdefault(table, number)
            continue
        m = _KEY.match(line)
        if m:
            key = m.group(1).strip('"')
            parts = key.split(".")
            lines.setdefault(table + tuple(parts), number)
    return lines
