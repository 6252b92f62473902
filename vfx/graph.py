"""The node graph: instantiate node types, resolve inputs, reject cycles, configure in order.

``build()`` collects every problem it can find before raising one ``PipelineError``.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import OptionError, PipelineError, Problem
from .node import ConfigureError, Encoder, Node, NodeContext
from .options import Animated, Input, Inputs, ParseContext, Table
from .params import Driver
from .pipeline import PipelineSpec
from .plugins import Registry, get_registry

#: unknown inputs that get a "did you mean" (each compares the id with every node's)
_HINTS = 20


@dataclass
class Graph:
    """Configured nodes in dependency order, and the encoders that drive a render."""

    spec: PipelineSpec
    nodes: dict[str, Node]
    order: list[str]

    @property
    def depth(self) -> int:
        """Nodes on the longest input chain (a source alone is 1): how deep a render's pulls go."""
        depth: dict[str, int] = {}
        for node_id in self.order:
            node = self.nodes[node_id]
            feeding = [src.id for src in node._refs.values()]
            feeding += [
                src.id
                for value in node._inputs.values()
                for src in (value if isinstance(value, list) else [value])
                if src is not None
            ]
            depth[node_id] = 1 + max((depth.get(ref, 0) for ref in feeding), default=0)
        return max(depth.values(), default=0)

    @property
    def encoders(self) -> list[Encoder]:
        return [self.nodes[n] for n in self.order if isinstance(self.nodes[n], Encoder)]

    def edges(self) -> list[tuple[str, str, str]]:
        """(from node, to node, option) for every input reference."""
        out = []
        for node_id in self.order:
            node = self.nodes[node_id]
            for option, value in node._inputs.items():
                for src in value if isinstance(value, list) else [value]:
                    if src is not None:
                        out.append((src.id, node_id, option))
        return out

    def close(self) -> None:
        for node in self.nodes.values():
            try:
                node.close()
            except Exception:
                pass


def build(spec: PipelineSpec, *, device="cpu", registry: Registry | None = None, require_encoder: bool = True) -> Graph:
    """Turn a spec into a configured ``Graph`` or raise ``PipelineError`` listing every problem
    (including those ``vfx.pipeline.load`` found in the settings)."""
    registry = registry or get_registry()
    problems: list[Problem] = list(spec.problems)
    parse_ctx = ParseContext(
        fps=spec.settings.fps, base_dir=spec.settings.base_dir, width=spec.settings.width, height=spec.settings.height
    )
    nodes: dict[str, Node] = {}
    refs: dict[str, list[tuple[str, str, str]]] = {}  # node -> [(option, ref id, kind)]

    for node_id, table in spec.nodes.items():
        type_name = table.get("type")
        if type_name is None:
            problems.append(
                spec.problem("missing 'type' (the node type, such as \"source.video\")", node=node_id, option="type")
            )
            continue
        if not isinstance(type_name, str) or type_name not in registry.nodes:
            hint = registry.suggest(str(type_name))
            broken = "".join(f"; plugin '{f.name}' failed to load ({f.error})" for f in registry.failures)
            problems.append(
                spec.problem(
                    f"unknown node type {type_name!r}"
                    + (f" (did you mean '{hint}'?)" if hint else "")
                    + "; `vfx nodes` lists the types"
                    + broken,
                    node=node_id,
                    option="type",
                )
            )
            continue
        cls = registry.node_type(type_name)
        raw = {k: v for k, v in table.items() if k != "type"}
        try:
            options = cls.Options.from_mapping(raw, parse_ctx)
        except OptionError as exc:
            already = {(p.node, p.option) for p in spec.problems} | spec.spoiled
            for option, message in exc.errors:
                if (node_id, option) not in already:
                    problems.append(spec.problem(message, node=node_id, option=option))
            continue
        node = cls(node_id, options, NodeContext(node_id, spec.settings, device))
        nodes[node_id] = node
        refs[node_id] = _references(options)

    known = list(spec.nodes)
    unknown = 0
    for node_id, node_refs in refs.items():
        for option, ref, _ in node_refs:
            if ref == node_id:
                problems.append(spec.problem("a node cannot be its own input", node=node_id, option=option))
            elif ref not in spec.nodes:
                unknown += 1  # suggestions cost a comparison with every node: only for the first few
                hint = difflib.get_close_matches(ref, known, n=1) if unknown <= _HINTS else []
                listed = ", ".join(known[:_HINTS]) + (f", ... ({len(known)} nodes)" if len(known) > _HINTS else "")
                problems.append(
                    spec.problem(
                        f"unknown input '{ref}'"
                        + (f" (did you mean '{hint[0]}'?)" if hint else f"; nodes are: {listed}"),
                        node=node_id,
                        option=option,
                    )
                )

    order, cyclic = _topological(nodes, refs)
    if cyclic:
        problems.append(
            spec.problem(
                "the graph has a cycle through nodes "
                + " -> ".join(cyclic + cyclic[:1])
                + "; inputs must not depend on their consumers",
                node=cyclic[0],
            )
        )

    failed: set[str] = set(spec.nodes) - set(nodes)
    for node_id in order:
        node = nodes[node_id]
        inputs: dict = {}
        bad = False
        for option, ref, kind in refs[node_id]:
            src = nodes.get(ref)
            if src is None or ref in failed or ref == node_id:
                bad = True
                continue
            if kind == "video" and src.video is None:
                problems.append(
                    spec.problem(
                        f"'{ref}' has no video (it is audio only); a video input is expected here",
                        node=node_id,
                        option=option,
                    )
                )
                bad = True
            elif kind == "audio" and src.audio is None:
                problems.append(
                    spec.problem(
                        f"'{ref}' has no audio (it is video only); an audio input is expected here",
                        node=node_id,
                        option=option,
                    )
                )
                bad = True
            elif kind == "signal":
                if not src.signals:
                    problems.append(
                        spec.problem(
                            f"'{ref}' ({src.type}) produces no signal to drive an option with",
                            node=node_id,
                            option=option,
                        )
                    )
                    bad = True
                continue
            field = type(node).Options.fields()[option]
            if isinstance(field, Input) and not isinstance(field, Inputs):
                inputs[option] = src
            else:
                inputs.setdefault(option, []).append(src)
        if bad:
            failed.add(node_id)
            continue
        node.connect(inputs, {ref: nodes[ref] for _, ref, _ in refs[node_id]})
        for option, driver in _drivers(node.options):
            if driver.signal not in nodes[driver.node_id].signals:
                problems.append(
                    spec.problem(
                        f"'{driver.node_id}' has no signal '{driver.signal}' (it has: "
                        f"{', '.join(nodes[driver.node_id].signals)})",
                        node=node_id,
                        option=option,
                    )
                )
                bad = True
            driver.node = nodes[driver.node_id]
        if bad:
            failed.add(node_id)
            continue
        try:
            node.configure()
        except ConfigureError as exc:
            problems.append(spec.problem(str(exc), node=node_id, option=exc.option))
            failed.add(node_id)
        except (ValueError, OSError) as exc:
            problems.append(spec.problem(str(exc), node=node_id))
            failed.add(node_id)
        except Exception as exc:  # a bug in a node type: still name the node and where it came from
            plugin = registry.node_plugin.get(node.type, "?")
            problems.append(
                spec.problem(
                    f"{node.type} (plugin '{plugin}') failed to configure: {type(exc).__name__}: {exc}", node=node_id
                )
            )
            failed.add(node_id)

    encoders = [nodes[n] for n in order if isinstance(nodes[n], Encoder) and n not in failed]
    if require_encoder and not any(isinstance(n, Encoder) for n in nodes.values()) and not problems:
        problems.append(
            spec.problem(
                "the pipeline has no encoder node (such as encode.video), so it writes "
                "nothing; `vfx preview` can still show frames"
            )
        )
    from .outputs import Protected, refusals

    protected = Protected().add_graph(Graph(spec=spec, nodes=nodes, order=order))
    outputs_seen: dict[Path, str] = {}
    blockers: dict[Path, str | None] = {}
    for enc in encoders:
        # one problem of each kind per encoder, however many files of an image sequence it concerns
        found: dict[str, list] = {}
        for _, out, unsafe in refusals(enc.output_paths(), protected):
            if unsafe:
                found.setdefault("unsafe", [unsafe, 0])[1] += 1
            if not unsafe and out.parent not in blockers:  # an image sequence: one folder, many files
                blockers[out.parent] = _unwritable_folder(out.parent)
            blocker = None if unsafe else blockers[out.parent]
            if blocker:
                found.setdefault("blocked", [f"cannot write {out}: {blocker}", 0])[1] += 1
            if out in outputs_seen:
                found.setdefault("twice", [f"output {out} is also written by '{outputs_seen[out]}'", 0])[1] += 1
            outputs_seen[out] = enc.id
        for message, count in found.values():
            more = f" (and {count - 1} more of its files)" if count > 1 else ""
            problems.append(spec.problem(message + more, node=enc.id, option="path"))
    if problems:
        raise PipelineError(problems)
    return Graph(spec=spec, nodes=nodes, order=order)


def build_for_preview(spec: PipelineSpec, *, device="cpu") -> Graph:
    """Like ``build`` but a pipeline without an encoder is fine (previews and graphs)."""
    return build(spec, device=device, require_encoder=False)


def _references(options) -> list[tuple[str, str, str]]:
    """(option, node id, kind) for every input, layer input and driver in an option set."""
    found = []
    for name, field in type(options).fields().items():
        value = getattr(options, name)
        if isinstance(field, Input):
            found.extend((name, ref, field.kind) for ref in field.refs(value))
        elif isinstance(field, Table):
            for entry in value or []:
                found.extend((name, ref, kind) for _, ref, kind in _references(entry))
        elif isinstance(value, Animated):
            found.extend((name, ref, "signal") for ref in value.animation.refs())
    return found


def _drivers(options) -> list[tuple[str, Driver]]:
    """(option, driver) for every driven value in an option set, layer tables included."""
    found = []
    for name, field in type(options).fields().items():
        value = getattr(options, name)
        if isinstance(field, Table):
            found.extend((name, driver) for entry in value or [] for _, driver in _drivers(entry))
        elif isinstance(value, Animated) and isinstance(value.animation, Driver):
            found.append((name, value.animation))
    return found


def _unwritable_folder(folder: Path) -> str | None:
    """Why ``folder`` cannot be created or written, or None if it can."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def _topological(nodes: dict[str, Node], refs) -> tuple[list[str], list[str]]:
    """Node ids, each after its inputs, or ``([], cycle)``."""
    from .util.toposort import topological_order

    order, cycles = topological_order(nodes, lambda n: [r for _, r, _ in refs[n] if r != n])
    return ([], cycles[0][:-1]) if cycles else (order, [])
