"""The node graph as Mermaid text, Graphviz DOT text, or a PNG drawn with Pillow (no graphviz needed)."""

from __future__ import annotations

from pathlib import Path

from .graph import Graph

_KIND_COLOURS = {
    "source": "#2e7d32",
    "generator": "#6a1b9a",
    "effect": "#1565c0",
    "editor": "#ef6c00",
    "encoder": "#c62828",
    "audio": "#00838f",
}


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for n in graph.order:
        lines.append(f'    {n}["{n}<br/><small>{graph.nodes[n].type}</small>"]')
    for src, dst, opt in graph.edges():
        lines.append(f"    {src} -->|{opt}| {dst}")
    return "\n".join(lines) + "\n"


def to_dot(graph: Graph) -> str:
    lines = ["digraph pipeline {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontcolor=white];']
    for n in graph.order:
        node = graph.nodes[n]
        colour = _KIND_COLOURS.get(node.kind, "#555555")
        lines.append(f'  "{n}" [label="{n}\\n{node.type}", fillcolor="{colour}"];')
    for src, dst, opt in graph.edges():
        lines.append(f'  "{src}" -> "{dst}" [label="{opt}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def layers(graph: Graph) -> dict[str, tuple[int, int]]:
    """(column, row) of each node in a left-to-right drawing: a column per depth (the longest path
    from a source, then each node as late as its consumers allow), rows in graph order."""
    edges = graph.edges()
    depth: dict[str, int] = {}
    for n in graph.order:
        depth[n] = 1 + max((depth[s] for s, d, _ in edges if d == n), default=-1)
    for n in reversed(graph.order):
        consumers = [depth[d] for s, d, _ in edges if s == n]
        if consumers:
            depth[n] = min(consumers) - 1
    rows: dict[int, int] = {}
    out = {}
    for n in graph.order:
        out[n] = (depth[n], rows.get(depth[n], 0))
        rows[depth[n]] = rows.get(depth[n], 0) + 1
    return out


def to_png(graph: Graph, path: Path) -> None:
    """A left-to-right layered drawing: a column per depth, a box per node, an arrow per input."""
    from PIL import Image, ImageDraw, ImageFont

    edges = graph.edges()
    columns: dict[int, list[str]] = {}
    for n, (col, _) in layers(graph).items():
        columns.setdefault(col, []).append(n)
    box_w, box_h, gap_x, gap_y, margin = 200, 56, 80, 28, 30
    rows = max(len(c) for c in columns.values())
    width = margin * 2 + len(columns) * box_w + (len(columns) - 1) * gap_x
    height = margin * 2 + rows * box_h + (rows - 1) * gap_y
    img = Image.new("RGB", (width, height), "#1e1e1e")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    pos = {}
    for col, ids in columns.items():
        offset = (rows - len(ids)) * (box_h + gap_y) / 2
        for row, n in enumerate(ids):
            x = margin + col * (box_w + gap_x)
            y = margin + offset + row * (box_h + gap_y)
            pos[n] = (x, y)
    for src, dst, _ in edges:
        x0, y0 = pos[src][0] + box_w, pos[src][1] + box_h / 2
        x1, y1 = pos[dst][0], pos[dst][1] + box_h / 2
        draw.line([(x0, y0), (x1 - 8, y1)], fill="#bbbbbb", width=2)
        draw.polygon([(x1, y1), (x1 - 10, y1 - 5), (x1 - 10, y1 + 5)], fill="#bbbbbb")
    for n, (x, y) in pos.items():
        node = graph.nodes[n]
        draw.rounded_rectangle([x, y, x + box_w, y + box_h], radius=8, fill=_KIND_COLOURS.get(node.kind, "#555555"))
        draw.text((x + 10, y + 10), n, fill="white", font=font)
        draw.text((x + 10, y + 32), node.type, fill="#e0e0e0", font=font)
    img.save(path)
