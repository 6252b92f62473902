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
from .options import max_size

FORMAT_VERSION = 1
#: the largest pipeline file read, in bytes
MAX_PIPELINE_BYTES = 8 << 20
#: how deep tables, arrays and inline tables may nest (the top level is 0)
MAX_TOML_DEPTH = 32
#: the most nodes one pipeline may have
MAX_NODES = 10_000
#: the longest string that substituting variables may make, and the most all of them may make together
MAX_STRING = 100_000
MAX_EXPANSION = 16_000_000
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOP_KEYS = {"format", "pipeline", "vars", "nodes", "color"}
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
    #: (node, option) whose values use a var that could not be substituted: not checked again
    spoiled: set[tuple] = field(default_factory=set)

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
        with path.open("rb") as f:
            data = f.read(MAX_PIPELINE_BYTES + 1)
    except FileNotFoundError:
        raise PipelineError(Problem("pipeline file not found", file=str(path))) from None
    except OSError as exc:
        raise PipelineError(Problem(f"cannot read pipeline: {exc}", file=str(path))) from None
    if len(data) > MAX_PIPELINE_BYTES:
        raise PipelineError(
            Problem(f"the pipeline file is larger than {MAX_PIPELINE_BYTES} bytes (the limit)", file=str(path))
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PipelineError(
            Problem(
                f"cannot read pipeline: not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path), line=line
            )
        ) from None
    return loads(text, path, overrides, extra_vars)


def loads(text: str, path: Path, overrides: list[str] | None = None, extra_vars: dict | None = None) -> PipelineSpec:
    """``load`` for pipeline text already read (a leading UTF-8 byte-order mark is skipped)."""
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_PIPELINE_BYTES:
        raise PipelineError(
            Problem(f"the pipeline is longer than {MAX_PIPELINE_BYTES} characters (the limit)", file=str(path))
        )
    doc = _parse_toml(text, lambda msg, line=None, syntax=False: PipelineError(Problem(msg, file=str(path), line=line)))
    lines = _locate(text)
    problems: list[Problem] = []

    def problem(msg, node=None, option=None, line=None):
        problems.append(
            Problem(
                msg,
                file=str(path),
                line=line
                or (
                    lines.get(("nodes", node, option)) or lines.get(("nodes", node))
                    if node
                    else lines.get(("pipeline", option)) or lines.get((option,))
                    if option
                    else None
                ),
                node=node,
                option=option,
            )
        )

    for key in doc:
        if key not in _TOP_KEYS:
            problem(f"unknown top-level key '{key}' (expected {', '.join(sorted(_TOP_KEYS))})", option=key)
    fmt = doc.get("format", FORMAT_VERSION)
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        problem(
            f"the format version must be an integer (format = {FORMAT_VERSION}), got {_short(fmt)}", option="format"
        )
    elif fmt != FORMAT_VERSION:
        problem(f"unsupported format {fmt!r}; this vfx reads format = {FORMAT_VERSION}", option="format")
    for key in ("pipeline", "vars", "nodes"):
        if key in doc and not isinstance(doc[key], dict):
            problem(
                f"'{key}' must be a table ([{key}] or {key} = {{ ... }}), got {_short(doc[key])}",
                option=key,
                line=lines.get((key,)),
            )
    section = {key: doc[key] if isinstance(doc.get(key), dict) else {} for key in ("pipeline", "vars", "nodes")}
    if len(section["nodes"]) > MAX_NODES:
        problem(
            f"the pipeline has {len(section['nodes'])} nodes, more than {MAX_NODES} (the limit)",
            option="nodes",
            line=lines.get(("nodes",)),
        )
        raise PipelineError(problems)

    variables = dict(section["vars"])
    variables.update(extra_vars or {})
    node_overrides: list[tuple[str, str, Any]] = []
    setting_overrides: dict[str, Any] = {}
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or not all(parts):
            problem(f"--set expects KEY=VALUE, where KEY is a var, pipeline.SETTING or NODE.OPTION; got {_short(item)}")
            continue
        try:
            value = _parse_override(raw.strip())
        except ValueError as exc:
            problem(f"--set {parts[0]}: {exc}")
            continue
        target = _override_target(parts)
        if isinstance(target, str):
            problem(f"--set key {key.strip()!r} {target}")
        elif target[0] == "var":
            variables[target[1]] = value
        elif target[0] == "setting":
            setting_overrides[target[1]] = value
        else:
            node_overrides.append((target[1], target[2], value))

    expand = _Expander(problem, lines)
    variables = expand.resolve_vars(variables)
    raw_settings = dict(section["pipeline"])
    raw_settings.update(setting_overrides)
    raw_settings = {k: expand(v, variables, None, k) for k, v in raw_settings.items()}
    settings = _settings({k: v for k, v in raw_settings.items() if (None, k) not in expand.spoiled}, path, problem)
    if "color" in doc:
        _color_settings(doc["color"], settings, problem)

    nodes_raw = section["nodes"]
    if not nodes_raw:
        if "nodes" not in doc or isinstance(doc["nodes"], dict):
            problem("the pipeline has no nodes: add at least one [nodes.ID] table with a type")
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
            table[option] = expand(table[option], variables, node_id, option)
    _color_nodes(nodes, settings, lines, problem)
    if not nodes:
        raise PipelineError(problems)
    return PipelineSpec(
        path=path,
        settings=settings,
        nodes=nodes,
        vars=variables,
        lines=lines,
        text=text,
        problems=problems,
        spoiled=expand.spoiled,
    )


_OVERRIDE_FORMS = {"vars": "vars.NAME", "pipeline": "pipeline.SETTING", "nodes": "nodes.NODE.OPTION"}


def _override_target(parts: list[str]):
    """What a ``--set`` key names: ``("var", name)``, ``("setting", name)``, ``("option", node, option)``,
    or why it names nothing."""
    head, n = parts[0], len(parts)
    if head in _OVERRIDE_FORMS:
        if n != _OVERRIDE_FORMS[head].count(".") + 1:
            return f"is not {_OVERRIDE_FORMS[head]}"
        if head == "nodes":
            return ("option", parts[1], parts[2])
        if head == "pipeline":
            return ("setting", parts[1])
        name = parts[1]
    elif n == 2:
        return ("option", parts[0], parts[1])
    elif n == 1:
        name = parts[0]
    else:
        return "is not a var, pipeline.SETTING or NODE.OPTION"
    if not _NAME.fullmatch(name):
        return "is not a variable name (letters, digits and _, not first a digit)"
    return ("var", name)


def _parse_toml(text: str, error) -> dict:
    """``tomllib.loads`` with the nesting checked first (tomllib recurses once per level)."""
    depth, line = _bracket_depth(text)
    if depth > MAX_TOML_DEPTH:
        raise error(f"arrays and inline tables are nested more than {MAX_TOML_DEPTH} levels deep (the limit)", line)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        raise error(f"TOML syntax error: {exc}", int(m.group(1)) if m else None, syntax=True) from None
    except RecursionError:
        raise error(f"values are nested more than {MAX_TOML_DEPTH} levels deep (the limit)") from None
    deepest = _nesting(doc)
    if deepest > MAX_TOML_DEPTH:
        raise error(f"tables, arrays and dotted keys are nested more than {MAX_TOML_DEPTH} levels deep (the limit)")
    return doc


_TOML_SPECIAL = re.compile(r"[\"'#\[\]{}]")
_BASIC_STOP = re.compile(r'[\\"\n]')
_MULTI_BASIC_STOP = re.compile(r'[\\"]')


def _bracket_depth(text: str) -> tuple[int, int | None]:
    """The deepest nesting of ``[`` and ``{`` outside strings and comments, and the line it is on.

    One pass that only moves forward (an unterminated string ends at its line or the text's end).
    """
    depth = deepest = 0
    at, i, n = None, 0, len(text)
    while i < n:
        m = _TOML_SPECIAL.search(text, i)
        if m is None:
            break
        c, j = m.group(), m.start()
        if c == "#":
            i = _past(text, "\n", j)
        elif c == "'":
            i = (
                _past(text, "'''", j + 3)
                if text.startswith("'''", j)
                else min(_past(text, "'", j + 1), _past(text, "\n", j + 1))
            )
        elif c == '"':
            i = _past_basic(text, j)
        else:
            i = j + 1
            if c in "[{":
                depth += 1
                if depth > deepest:
                    deepest, at = depth, j
                    if deepest > MAX_TOML_DEPTH:
                        break
            else:
                depth = max(0, depth - 1)
    return deepest, None if at is None else text.count("\n", 0, at) + 1


def _past(text: str, what: str, start: int) -> int:
    """The index just past the next ``what`` from ``start``, or the end of ``text``."""
    k = text.find(what, start)
    return len(text) if k < 0 else k + len(what)


def _past_basic(text: str, j: int) -> int:
    """The index just past the basic string (``"..."`` or ``\"\"\"...\"\"\"``) that opens at ``j``."""
    multi = text.startswith('"""', j)
    stop = _MULTI_BASIC_STOP if multi else _BASIC_STOP
    i = j + (3 if multi else 1)
    while True:
        e = stop.search(text, i)
        if e is None:
            return len(text)
        k = e.start()
        if e.group() == "\\":
            i = k + 2
        elif not multi:
            return k + 1
        elif text.startswith('"""', k):
            return k + 3
        else:
            i = k + 1


def _nesting(doc) -> int:
    """How many tables and arrays deep the parsed document goes (the top level is 0)."""
    deepest = 0
    stack = [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_TOML_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else value
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))
    return deepest


class _Expander:
    """Substitutes ``${name}`` with a budget: no string grows past ``MAX_STRING`` characters and all
    substitutions together make at most ``MAX_EXPANSION``."""

    def __init__(self, problem, lines):
        self.problem, self.lines = problem, lines
        self.budget = MAX_EXPANSION
        self.texts: dict[int, str] = {}
        self.failed: set[str] = set()  # vars whose substitution failed (reported once, where they are)
        self.spoiled: set[tuple] = set()  # (node, option) that use them: their values mean nothing

    def resolve_vars(self, variables: dict) -> dict:
        """Let vars use other vars (``full = "${name}-v2"``), dependencies first; a var that refers to
        itself, directly or through others, is an error."""
        order, cyclic = _var_order(variables)
        for cycle in cyclic:
            name = cycle[0]
            message = (
                f"var '{name}' refers to itself"
                if len(cycle) == 2
                else "vars refer to each other in a cycle: " + " -> ".join(cycle)
            )
            self.problem(message, option=f"vars.{name}", line=self.lines.get(("vars", name)))
        self.failed = {n for cycle in cyclic for n in cycle}
        resolved: dict = {}
        for name in order:
            value = variables[name]
            if name not in self.failed and isinstance(value, str):
                value = self(
                    value, {**variables, **resolved}, None, f"vars.{name}", line=self.lines.get(("vars", name))
                )
                if value is _FAILED:
                    self.failed.add(name)
                    value = variables[name]
            resolved[name] = value
        return resolved

    def __call__(self, value, variables, node, option, line=None):
        """``value`` with its variables substituted, as it stands where a substitution fails
        (``_FAILED`` for a var itself, so that what uses it is not reported again)."""
        if isinstance(value, str):
            out = self._string(value, variables, node, option, line)
            if out is _FAILED and not option.startswith("vars."):
                self.spoiled.add((node, option))
                return value
            return out
        if isinstance(value, list):
            return [self(v, variables, node, option, line) for v in value]
        if isinstance(value, dict):
            return {k: self(v, variables, node, option, line) for k, v in value.items()}
        return value

    def _string(self, value: str, variables, node, option, line):
        whole = _VAR.fullmatch(value)
        if whole and whole.group(1) in variables:
            return _FAILED if whole.group(1) in self.failed else variables[whole.group(1)]
        pieces, size, pos = [], 0, 0
        for m in _VAR.finditer(value):
            name = m.group(1)
            if name in self.failed:
                return _FAILED
            if name in variables:
                v = variables[name]
                text = self.texts.get(id(v))
                if text is None:
                    text = self.texts[id(v)] = v if isinstance(v, str) else _toml_text(v)
            else:
                self.problem(
                    f"unknown variable ${{{name}}} (defined: {', '.join(sorted(variables)) or 'none'})",
                    node=node,
                    option=option,
                    line=line,
                )
                text = m.group(0)
            pieces += [value[pos : m.start()], text]
            size += m.start() - pos + len(text)
            pos = m.end()
            self.budget -= len(text)
            if size > MAX_STRING or self.budget < 0:
                what = (
                    f"is longer than {MAX_STRING} characters"
                    if size > MAX_STRING
                    else f"takes the pipeline's substitutions past {MAX_EXPANSION} characters"
                )
                self.problem(
                    f"with its variables substituted, this value {what} (the limit)",
                    node=node,
                    option=option,
                    line=line,
                )
                self.budget = max(self.budget, 0)
                return _FAILED
        if not pieces:
            return value
        pieces.append(value[pos:])
        return "".join(pieces)


_FAILED = object()


def _var_order(variables: dict) -> tuple[list[str], list[list[str]]]:
    """Var names, each after the vars it uses, and the cycles found (``[a, b, a]``)."""
    from .util.toposort import topological_order

    def uses(name):
        value = variables[name]
        return [m.group(1) for m in _VAR.finditer(value)] if isinstance(value, str) else []

    return topological_order(variables, uses)


def _toml_text(value) -> str:
    """A non-string var's text inside a longer string: ``2``, ``0.5``, ``true``, ``[640, 360]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _short(value) -> str:
    """A value for a message: TOML's ``true``/``false``, anything else as ``repr``, cut to 60 characters."""
    text = _toml_text(value) if isinstance(value, bool) else repr(value)
    return text if len(text) <= 60 else text[:50] + f"... ({len(text)} characters)"


def _parse_override(raw: str) -> Any:
    """A ``--set`` value: a TOML value when it is one, else the text itself."""

    def error(msg, line=None, syntax=False):
        return _NotToml() if syntax else ValueError(msg)

    try:
        return _parse_toml(f"v = {raw}", error)["v"]
    except _NotToml:
        return raw


class _NotToml(Exception):
    pass


def _settings(raw: dict, path: Path, problem) -> PipelineSettings:
    s = PipelineSettings(base_dir=path.resolve().parent)
    for key in raw:
        if key not in _SETTINGS:
            problem(f"unknown pipeline setting '{key}' (known: {', '.join(sorted(_SETTINGS))})", option=key)
    for key in ("width", "height"):
        if key in raw:
            v = raw[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= max_size() or v % 2:
                problem(
                    f"expected an even integer between 16 and {max_size()}, got {_short(v)}"
                    + (
                        " (the size limit; set the environment variable VFX_MAX_SIZE to raise it)"
                        if isinstance(v, int) and v > max_size()
                        else ""
                    ),
                    option=key,
                )
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
                problem(f"expected an integer between {lo} and {hi}, got {_short(v)}", option=key)
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


def _color_settings(raw: Any, settings: PipelineSettings, problem) -> None:
    """The ``[color]`` table (OCIO config and working space) as ``settings.color``; names are
    checked against the config when a node first uses them (``vfx.ops.ocio``)."""
    from .ops.ocio import ColorSettings

    if not isinstance(raw, dict):
        problem(f"'color' must be a table ([color]), got {_short(raw)}", option="color")
        return
    known = {"config", "working_space"}
    for key in raw:
        if key not in known:
            problem(f"unknown [color] setting '{key}' (known: {', '.join(sorted(known))})", option="color")
    values = {}
    for key in known & set(raw):
        if not isinstance(raw[key], str) or not raw[key]:
            problem(f"[color] {key} must be a non-empty string, got {_short(raw[key])}", option="color")
        else:
            values[key] = raw[key]
    config = values.get("config")
    if config and (config.endswith((".ocio", ".ocioz")) or "/" in config) and not config.startswith("ocio://"):
        values["config"] = str((settings.base_dir / config).resolve())
    color = ColorSettings(**values)
    from .ops.ocio import ColorError, colorspace_name, load_config

    try:  # the config and working space are checked now, with the pipeline's other problems
        colorspace_name(load_config(color.config), color.working_space)
    except ColorError as exc:
        problem(f"[color]: {exc}", option="color")
    settings.color = color


#: source types whose pixels enter the graph through the sRGB / BT.709 curve (``vfx.ops.color``):
#: with a ``[color]`` table they are converted into the working space by an ``effect.ocio``
_COLOR_SOURCES = {"source.video", "source.image", "source.image_sequence"}
#: encoder types that write through the sRGB / BT.709 curve: converted out of the working space
_COLOR_ENCODERS = {"encode.video", "encode.image_sequence"}
_COLOR_KEYS = ("color_space", "display", "view")
#: OCIO display / colour-space names of HDR outputs, which the video and PNG encoders cannot tag
_HDR = re.compile(r"2100|PQ|HLG|ST[ -]?2084")


def _color_nodes(nodes: dict[str, dict], settings: PipelineSettings, lines: dict, problem) -> None:
    """With a ``[color]`` table, put an ``effect.ocio`` after each media source and before each
    video / PNG encoder (their ``color_space``, ``display`` and ``view`` options are its).

    A source ``ID`` becomes ``ID.decoded`` and the conversion takes the id ``ID``, so every node
    reading it reads the working space; an encoder's input goes through ``ID.encoded``. Without
    a ``[color]`` table nothing changes (those options are then an error).
    """
    color = settings.color
    for node_id in list(nodes):
        table = nodes[node_id]
        kind = table.get("type")
        if kind not in _COLOR_SOURCES and kind not in _COLOR_ENCODERS:
            continue
        given = {k: table.pop(k) for k in _COLOR_KEYS if k in table}
        if color is None:
            for key in given:
                problem(f"{key} needs a [color] table (the OCIO config and working space)", node=node_id, option=key)
            continue
        bad = [k for k, v in given.items() if not isinstance(v, str) or not v]
        for key in bad:
            problem(f"{key} must be a non-empty string, got {_short(given[key])}", node=node_id, option=key)
        if bad:
            continue
        if kind in _COLOR_SOURCES:
            if "display" in given or "view" in given:
                problem("a source takes color_space, not display / view", node=node_id, option="display")
                continue
            inner = f"{node_id}.decoded"
            nodes[inner] = table
            for key in [k for k in lines if k[:2] == ("nodes", node_id)]:
                lines[("nodes", inner, *key[2:])] = lines[key]
            convert: dict[str, Any] = {"type": "effect.ocio", "input": inner}
            if "color_space" in given:  # the file's code values, in that space
                convert.update(src=given["color_space"], input_codes=True)
            else:  # decoded as today: linear light with Rec.709 primaries
                convert.update(src="lin_rec709")
            nodes[node_id] = convert
        elif (key := next((k for k in _COLOR_KEYS if _HDR.search(given.get(k, ""))), None)) is not None and (
            kind != "encode.video"
        ):
            problem(
                f"{given[key]!r} is an HDR output, which {kind} cannot write: it would tag the PQ / HLG "
                "code values as SDR (write encode.video with h265 or prores, or EXR)",
                node=node_id,
                option=key,
            )
        elif isinstance(table.get("input"), str):
            if key is not None:  # an HDR display: the encoder writes its code values as Rec.2100
                table.setdefault("hdr", "hlg" if "HLG" in given[key].upper() else "pq")
                table.setdefault("primaries", "p3d65" if "P3" in given[key].upper() else "bt2020")
            outer = f"{node_id}.encoded"
            convert = {"type": "effect.ocio", "input": table["input"]}
            if "display" in given or "view" in given:
                convert.update({k: given[k] for k in ("display", "view") if k in given})
            elif "color_space" in given:
                convert.update(dst=given["color_space"], display_codes=True)
            else:
                convert.update(dst="lin_rec709")
            nodes[outer] = convert
            table["input"] = outer
            for key in [k for k in lines if k[:2] == ("nodes", node_id)]:
                lines[("nodes", outer, *key[2:])] = lines[key]


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
