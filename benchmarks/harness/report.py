"""Medians of the runs, the vfx-to-peer ratios, and the tables and JSON that present them."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from .measure import Measurement

RESULT_HEADERS = [
    "workload",
    "tool",
    "frames",
    "runs",
    "wall s",
    "fps",
    "cpu s",
    "cpu ms/frame",
    "peak RSS MiB",
    "check",
]
RATIO_HEADERS = ["workload", "vfx/ffmpeg fps", "vfx/moviepy fps", "vfx/ffmpeg peak RSS", "vfx/ffmpeg cpu/frame"]
GROWTH_HEADERS = ["tool", "W3 peak 10 s MiB", "W3 peak 60 s MiB", "60 s / 10 s"]


@dataclass
class Summary:
    """The median cost of one workload in one tool over its successful runs."""

    workload: str
    tool: str
    frames: int
    runs: int
    wall_s: float | None
    cpu_s: float | None
    peak_rss_mib: float | None
    problems: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float | None:
        return self.frames / self.wall_s if self.wall_s else None

    @property
    def cpu_ms_per_frame(self) -> float | None:
        """CPU time of the whole tree per output frame: steadier than fps on a shared machine."""
        return 1000 * self.cpu_s / self.frames if self.cpu_s and self.frames else None


def summarize(workload: str, tool: str, frames: int, runs: list[Measurement], problems: list[str]) -> Summary:
    """Medians over the runs that exited 0; failed runs are listed as problems."""
    good = [r for r in runs if r.returncode == 0]
    failed = [f"run exited {r.returncode}" for r in runs if r.returncode != 0]

    def median(attr: str) -> float | None:
        return statistics.median(getattr(r, attr) for r in good) if good else None

    return Summary(
        workload, tool, frames, len(good), median("wall_s"), median("cpu_s"), median("peak_rss_mib"), failed + problems
    )


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def lookup(summaries: list[Summary]) -> dict[tuple[str, str], Summary]:
    return {(s.workload, s.tool): s for s in summaries}


def ratios(summaries: list[Summary]) -> list[dict]:
    """Per workload: vfx's fps over ffmpeg's and MoviePy's, vfx's peak RSS and CPU time per frame over ffmpeg's."""
    by_key = lookup(summaries)
    rows = []
    for name in dict.fromkeys(s.workload for s in summaries):
        vfx, ff, mp = (by_key.get((name, tool)) for tool in ("vfx", "ffmpeg", "moviepy"))
        if vfx is None:
            continue
        rows.append(
            {
                "workload": name,
                "vfx_over_ffmpeg_fps": ratio(vfx.fps, ff and ff.fps),
                "vfx_over_moviepy_fps": ratio(vfx.fps, mp and mp.fps),
                "vfx_over_ffmpeg_peak_rss": ratio(vfx.peak_rss_mib, ff and ff.peak_rss_mib),
                "vfx_over_ffmpeg_cpu_per_frame": ratio(vfx.cpu_ms_per_frame, ff and ff.cpu_ms_per_frame),
            }
        )
    return rows


def memory_growth(summaries: list[Summary]) -> list[dict]:
    """Per tool: peak RSS on the 60 s W3 stream over that on the 10 s one (1.0: flat)."""
    by_key = lookup(summaries)
    rows = []
    for tool in dict.fromkeys(s.tool for s in summaries):
        short, long = by_key.get(("W3-10s", tool)), by_key.get(("W3-60s", tool))
        if short and long:
            rows.append(
                {
                    "tool": tool,
                    "peak_10s_mib": short.peak_rss_mib,
                    "peak_60s_mib": long.peak_rss_mib,
                    "growth": ratio(long.peak_rss_mib, short.peak_rss_mib),
                }
            )
    return rows


def number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def result_rows(summaries: list[Summary]) -> list[list[str]]:
    return [
        [
            s.workload,
            s.tool,
            str(s.frames),
            str(s.runs),
            number(s.wall_s, 2),
            number(s.fps, 1),
            number(s.cpu_s, 1),
            number(s.cpu_ms_per_frame, 1),
            number(s.peak_rss_mib, 0),
            "; ".join(s.problems) or "ok",
        ]
        for s in summaries
    ]


def ratio_rows(rows: list[dict]) -> list[list[str]]:
    return [
        [
            r["workload"],
            number(r["vfx_over_ffmpeg_fps"], 2),
            number(r["vfx_over_moviepy_fps"], 2),
            number(r["vfx_over_ffmpeg_peak_rss"], 2),
            number(r["vfx_over_ffmpeg_cpu_per_frame"], 2),
        ]
        for r in rows
    ]


def growth_rows(rows: list[dict]) -> list[list[str]]:
    return [
        [r["tool"], number(r["peak_10s_mib"], 0), number(r["peak_60s_mib"], 0), number(r["growth"], 2)] for r in rows
    ]


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == "-"
    return True


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; columns holding only numbers are right-aligned."""
    columns = list(zip(headers, *rows))
    widths = [max(len(cell) for cell in column) for column in columns]
    numeric = [bool(rows) and all(is_number(cell) for cell in column[1:]) for column in columns]

    def line(cells: list[str]) -> str:
        cells = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, numeric)]
        return "  ".join(cells).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def sections(summaries: list[Summary]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of each table the report shows."""
    found = [
        ("Results (medians)", RESULT_HEADERS, result_rows(summaries)),
        (
            "vfx against the peers (above 1: vfx faster / uses more memory)",
            RATIO_HEADERS,
            ratio_rows(ratios(summaries)),
        ),
    ]
    growth = memory_growth(summaries)
    if growth:
        found.append(("Peak memory over a 6x longer stream (W3)", GROWTH_HEADERS, growth_rows(growth)))
    return found


def render_text(summaries: list[Summary]) -> str:
    return "\n\n".join(f"{title}\n{text_table(h, rows)}" for title, h, rows in sections(summaries))


def render_markdown(summaries: list[Summary], header: str) -> str:
    parts = [header] + [f"## {title}\n\n{markdown_table(h, rows)}" for title, h, rows in sections(summaries)]
    return "\n\n".join(parts) + "\n"


def to_json(summaries: list[Summary], raw: dict[tuple[str, str], list[Measurement]], meta: dict) -> dict:
    """Everything measured: the environment, each run, the medians and the ratios."""
    return {
        "meta": meta,
        "runs": [{"workload": w, "tool": t, **asdict(m)} for (w, t), measured in raw.items() for m in measured],
        "summary": [{**asdict(s), "fps": s.fps, "cpu_ms_per_frame": s.cpu_ms_per_frame} for s in summaries],
        "ratios": ratios(summaries),
        "w3_memory_growth": memory_growth(summaries),
    }
