"""Template variants: a CSV matrix whose rows each override a template's ``[vars]``.

The header names the vars (``title``, ``logo``, ``bg``, ``output``...) or, with a dot, node
options (``out.crf``); each row is one render, its cells given to the pipeline exactly as
``--set column=cell`` would be. An empty cell keeps the template's value. A row that does not make
a valid pipeline (a bad colour, a missing image) is reported with its row number and left out; the
others render. Two rows that would write one file (however their paths are spelled: ``..``, a
symlinked folder), or a row that would write a file another row reads, stop the whole matrix
before anything renders.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PipelineError, VfxError


class MatrixError(VfxError):
    """The CSV file itself is unusable (unreadable, no header, unknown columns)."""

    exit_code = 2


@dataclass
class Variant:
    """One CSV row: its ``--set`` overrides, and after checking or rendering, its error or outputs."""

    row: int  # 1 = the first row under the header
    line: int  # the line in the CSV file
    overrides: list[str]
    label: str
    error: str | None = None
    outputs: list[str] = field(default_factory=list)


def read_matrix(csv_path: str | Path, template: str | Path) -> list[Variant]:
    """Rows of ``csv_path`` as variants of ``template`` (not yet checked against the graph)."""
    from ..pipeline import load

    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MatrixError(f"cannot read the variants file {csv_path}: {exc}") from None
    # a quoted cell may hold a line break: let csv split the records and count the lines
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, first_lines, end = [], [], 0
    try:
        for cells in reader:
            rows.append(cells)
            first_lines.append(end + 1)
            end = reader.line_num
    except csv.Error as exc:
        raise MatrixError(f"{csv_path}, line {reader.line_num}: {exc}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise MatrixError(f"{csv_path}: the first line must name the columns (vars such as title, output)")
    header = [c.strip() for c in rows[0]]
    defaults = load(template).vars
    known = set(defaults)
    for col in header:
        if not col:
            raise MatrixError(f"{csv_path}: an empty column name in the header")
        if "." not in col and col not in known:
            raise MatrixError(
                f"{csv_path}: column '{col}' is not a var of {template} (its vars: "
                f"{', '.join(sorted(known)) or 'none'}); name a var, or NODE.OPTION"
            )
    if len(set(header)) != len(header):
        raise MatrixError(f"{csv_path}: a column is named twice")
    variants = []
    row = 0
    label_at = header.index("output") if "output" in header else 0
    for line, cells in zip(first_lines[1:], rows[1:]):
        if not any(c.strip() for c in cells):
            continue
        row += 1
        label = " ".join(cells[label_at].split()) if len(cells) > label_at else ""
        v = Variant(row=row, line=line, overrides=[], label=f"row {row}" + (f" ({label})" if label else ""))
        if len(cells) != len(header):
            v.error = f"has {len(cells)} cells, the header {len(header)}"
        else:
            for col, cell in zip(header, cells):
                if cell.strip() != "":
                    text_var = isinstance(defaults.get(col), str)
                    v.overrides.append(f"{col}={_quote(cell.strip(), force_string=text_var)}")
        variants.append(v)
    if not variants:
        raise MatrixError(f"{csv_path}: no rows under the header")
    return variants


def _quote(cell: str, force_string: bool = False) -> str:
    """A cell as a ``--set`` value: for a var whose default is text, always text; otherwise numbers,
    booleans and arrays keep their TOML meaning and the rest is text (quoted, so '#ff0000' survives)."""
    import tomllib

    if not force_string:
        try:
            value = tomllib.loads(f"v = {cell}")["v"]
            if isinstance(value, (int, float, bool, list)):
                return cell
        except tomllib.TOMLDecodeError:
            pass
    escaped = cell.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped + '"'


def check_variants(template: str | Path, variants: list[Variant], base_overrides=(), matrix=None) -> None:
    """Build each variant's graph (errors go on the variant); raise ``MatrixError`` (before anything
    renders) when two rows would write one file, or a row would write a file another row reads."""
    from ..graph import build
    from ..outputs import Protected, clashes
    from ..pipeline import load

    written: list[tuple[Variant, list[Path]]] = []
    reads = Protected()
    for v in variants:
        if v.error:
            continue
        try:
            graph = build(load(template, list(base_overrides) + v.overrides))
        except PipelineError as exc:
            v.error = "; ".join(str(p) for p in exc.problems)
            continue
        except VfxError as exc:
            v.error = str(exc)
            continue
        try:
            paths = [p for enc in graph.encoders for p in enc.output_paths()]
            v.outputs = [str(p) for enc in graph.encoders for p in enc.output_paths()[:1]]
            for node in graph.nodes.values():
                for path in node.input_files():
                    reads.add(path, f"read by row {v.row} (line {v.line}, node '{node.id}')")
        finally:
            graph.close()
        written.append((v, paths))
    where = f"{matrix}: " if matrix else ""
    found = clashes(written)
    if found:
        path, a, b = found[0]
        raise MatrixError(
            f"{where}rows {a.row} and {b.row} (lines {a.line} and {b.line}) both write {path}; "
            "give each row its own output (nothing was rendered)"
        )
    for v, paths in written:
        for path in paths:
            what = reads.what(path)
            if what is not None:
                raise MatrixError(
                    f"{where}row {v.row} (line {v.line}) writes {path}, which is {what}; "
                    "refusing to overwrite an input (nothing was rendered)"
                )


def render_matrix_local(
    template: str, variants: list[Variant], base_overrides, options, progress_factory, log=None
) -> None:
    """Render each good variant in turn on this machine; a failure is kept on its variant.

    The rows read through one node cache (``options.cache``, else one in memory), whose memory
    store keeps the frames of the nodes two or more rows share (same key: same options, inputs
    and files), so a background common to every row is rendered once.
    """
    from dataclasses import replace

    from ..cache import NodeCache
    from ..engine import render, resolve_device
    from ..graph import build
    from ..pipeline import load

    own = options.cache is None
    cache = NodeCache.open(disk=False) if own else options.cache
    cache.memory_keys = shared_keys(template, variants, base_overrides, resolve_device(options.device))
    options = replace(options, cache=cache)
    try:
        for v in variants:
            if v.error:
                continue
            try:
                graph = build(load(template, list(base_overrides) + v.overrides))
                with progress_factory(v) as progress:
                    result = render(graph, options, progress=progress)
                v.outputs = [str(p) for p in result.outputs[:1]]
            except PipelineError as exc:
                v.error = "; ".join(str(p) for p in exc.problems)
            except VfxError as exc:
                v.error = str(exc)
            except Exception as exc:
                v.error = f"{type(exc).__name__}: {exc}"
            if log and v.error:
                log(f"error: {v.label}: {v.error}")
    finally:
        cache.memory_keys = None
        if own and cache.memory is not None:
            cache.memory.clear()


def shared_keys(template: str, variants: list[Variant], base_overrides, device) -> set[str]:
    """Node cache keys that two or more good variants have in common (``vfx.cache.keys``)."""
    from ..cache import graph_keys
    from ..graph import build
    from ..pipeline import load

    seen: dict[str, int] = {}
    for v in variants:
        if v.error:
            continue
        try:
            graph = build(load(template, list(base_overrides) + v.overrides))
        except VfxError:
            continue  # reported when the row renders
        try:
            for key in set(graph_keys(graph, device).values()) - {None}:
                seen[key] = seen.get(key, 0) + 1  # type: ignore[index]
        finally:
            graph.close()
    return {key for key, count in seen.items() if count > 1}
