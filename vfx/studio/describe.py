"""The studio's pipeline as JSON for the page: nodes laid out as ``vfx graph`` draws them, problems,
keyframe marks, and a node's options with their values at one frame."""

from __future__ import annotations

import enum
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import Problem
from ..node import Encoder


def problem(p: Problem) -> dict:
    """A problem with its parts, and ``text``: the line ``vfx validate`` prints after ``error: ``."""
    return {"text": str(p), "message": p.message, "file": p.file, "line": p.line, "node": p.node, "option": p.option}


def layout(graph) -> dict[str, tuple[int, int]]:
    """(column, row) of each node: the layering of ``vfx graph -o`` (``vfx.diagram.layers``)."""
    from ..diagram import layers

    return layers(graph)


def _video(info) -> dict | None:
    if info is None:
        return None
    return {
        "width": info.width,
        "height": info.height,
        "fps": f"{info.fps.numerator}/{info.fps.denominator}",
        "fps_float": float(info.fps),
        "frames": info.frame_count,
        "alpha": bool(getattr(info, "has_alpha", False)),
    }


def keyframes(node) -> list[dict]:
    """Where ``node``'s animated options have keys: ``[{"option", "frames"}]``."""
    from ..options import Animated
    from ..params import Keyframes

    marks = []
    opts = node._options
    for name in type(opts).fields():
        value = getattr(opts, name, None)
        if isinstance(value, Animated) and isinstance(value.animation, Keyframes):
            marks.append({"option": name, "frames": sorted({int(t) for t in value.animation.times})})
    return marks


def state(studio: Any) -> dict:
    """Everything the page shows besides pictures."""
    from .. import diagram
    from .view import default_node

    graph = studio.graph
    by_node: dict[str, list] = {}
    for p in studio.problems:
        by_node.setdefault(p.node or "", []).append(problem(p))
    out: dict[str, Any] = {
        "version": studio.version,
        "ok": not studio.problems,
        "pipeline": studio.pipeline,
        "problems": [problem(p) for p in studio.problems],
        "reload_seconds": round(studio.reload_seconds, 4),
        "graph": graph is not None,
        "nodes": [],
        "edges": [],
        "render": studio.jobs.status() if studio.jobs is not None else None,
    }
    if graph is None:
        return out
    places = layout(graph)
    stats = studio.cache.stats.nodes
    for n in graph.order:
        node = graph.nodes[n]
        s = stats.get(n)
        out["nodes"].append(
            {
                "id": n,
                "type": node.type,
                "kind": node.kind,
                "video": _video(node.video),
                "key": studio.keys.get(n),
                "column": places[n][0],
                "row": places[n][1],
                "line": graph.spec.line_of(n),
                "problems": by_node.get(n, []),
                "keyframes": keyframes(node),
                "upstream": sorted(_upstream(graph, n)),
                "shows": node.input("input").id if isinstance(node, Encoder) and node.input("input") else n,
                "cache": None
                if s is None
                else {"rendered": s.rendered, "memory_hits": s.memory_hits, "disk_hits": s.disk_hits},
            }
        )
    out["edges"] = [list(e) for e in graph.edges()]
    out["mermaid"] = diagram.to_mermaid(graph)
    first = default_node(graph)
    out["default_node"] = first.id
    out["settings"] = _video(first.video)
    out["encoders"] = [{"id": e.id, "outputs": [str(p) for p in e.output_paths()[:3]]} for e in graph.encoders]
    return out


def _upstream(graph, node_id: str) -> set[str]:
    feeding: dict[str, set[str]] = {}
    for s, d, _ in graph.edges():
        feeding.setdefault(d, set()).add(s)
    for n in graph.order:
        for ref in graph.nodes[n]._refs.values():
            feeding.setdefault(n, set()).add(ref.id)
    seen: set[str] = set()
    todo = [node_id]
    while todo:
        for s in feeding.get(todo.pop(), ()):
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def plain(value: Any) -> Any:
    """An option value as JSON data (nodes by id, paths and fractions as text)."""
    import numpy as np

    from ..node import Node
    from ..options import Options

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (Path, Fraction)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Node):
        return value.id
    if isinstance(value, Options):
        return {n: plain(getattr(value, n, None)) for n in value.fields()}
    return repr(value)


def _source(animation) -> dict:
    from ..params import Driver, Expression, ExpressionVector, Keyframes

    if isinstance(animation, Keyframes):
        return {"kind": "keyframes", "frames": [int(t) for t in animation.times], "easings": plain(animation.easings)}
    if isinstance(animation, Expression):
        return {"kind": "expression", "expr": animation.source}
    if isinstance(animation, ExpressionVector):
        return {"kind": "expression", "expr": [p.source for p in animation.parts]}
    if isinstance(animation, Driver):
        return {
            "kind": "driver",
            "driver": animation.node_id,
            "signal": animation.signal,
            "scale": animation.scale,
            "offset": animation.offset,
        }
    return {"kind": type(animation).__name__}


def options(studio: Any, node, frame: int) -> dict:
    """``node``'s options: each with its value at ``frame``, the TOML it was written as and its line."""
    from ..options import Animated

    spec = studio.graph.spec
    raw = spec.nodes.get(node.id, {})
    opts = node._options
    fps = node.ctx.settings.fps
    rows = []
    for name in type(opts).fields():
        value = getattr(opts, name, None)
        row: dict[str, Any] = {"name": name, "line": spec.line_of(node.id, name), "set": name in raw}
        if name in raw:
            row["toml"] = plain(raw[name])
        if isinstance(value, Animated):
            row["animated"] = _source(value.animation)
            try:
                row["value"] = plain(value.at(frame, fps))
            except Exception as exc:  # a driver whose signal fails: say so, keep the rest
                row["value"] = None
                row["error"] = f"{type(exc).__name__}: {exc}"
        else:
            row["value"] = plain(value)
        rows.append(row)
    return {"node": node.id, "type": node.type, "frame": frame, "line": spec.line_of(node.id), "options": rows}
