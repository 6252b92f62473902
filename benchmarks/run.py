"""Benchmark vfx against the ffmpeg CLI and MoviePy 2.x on the same synthetic inputs.

Makes its inputs in ``benchmarks/work/inputs`` (once), runs each workload in each tool as a
separate subprocess (wall time, CPU time, peak RSS of the whole process tree), checks every output
with PyAV, prints the medians and ratios, and writes them to ``benchmarks/results/`` as JSON and
markdown. See ``benchmarks/README.md``.

    .venv/bin/python benchmarks/run.py [--repeat 3] [--only W1,W2,W2T,W3G,W4,W5,W6] [--skip-moviepy]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import psutil

from harness import media, report, verify
from harness.measure import Measurement, run_measured
from harness.workloads import BENCH_DIR, TOOLS, VFX, Workload, all_workloads

WORK = BENCH_DIR / "work"
RESULTS = BENCH_DIR / "results"
PACKAGES = ("vfx", "av", "torch", "numpy", "moviepy", "psutil")
WARM_IMPORTS = "import av, cv2, numpy, torch, moviepy"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per workload and tool; medians are reported")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated workloads to run: W1, W2, W2T, W3 (or W3-10s, W3-60s), W3G, W4, W5, W6",
    )
    parser.add_argument("--skip-moviepy", action="store_true", help="run only vfx and the ffmpeg CLI")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def select(workloads: list[Workload], only: str) -> list[Workload]:
    """The workloads named in ``only`` (by group or exact name); all of them when it is empty."""
    wanted = {name.strip().upper() for name in only.split(",") if name.strip()}
    if not wanted:
        return workloads
    known = {name.upper(): name for w in workloads for name in (w.group, w.name)}
    if wanted - known.keys():
        sys.exit(
            f"--only: unknown workload(s) {', '.join(sorted(wanted - known.keys()))}; "
            f"choose from {', '.join(sorted(set(known.values())))}"
        )
    return [w for w in workloads if {w.group.upper(), w.name.upper()} & wanted]


def preflight(workloads: list[Workload]) -> None:
    """``vfx validate`` each pipeline with its real inputs, after one import of the big libraries
    so that no tool's first timed run pays for reading them from disk."""
    if not VFX.exists():
        sys.exit(f"no vfx CLI at {VFX}: run this with the virtualenv's python (make bench)")
    subprocess.run([sys.executable, "-c", WARM_IMPORTS], check=True)
    for workload in workloads:
        command = workload.vfx_command("validate", WORK / "out" / "validate.mp4")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"vfx validate failed on {workload.pipeline}:\n{done.stdout}{done.stderr}")


def output_path(workload: Workload, tool: str) -> Path:
    return WORK / "out" / f"{workload.name}_{tool}.mp4"


def run_once(workload: Workload, tool: str, attempt: int) -> Measurement:
    """One measured run, its output removed first so a stale file cannot pass the check."""
    output = output_path(workload, tool)
    output.unlink(missing_ok=True)
    log = WORK / "logs" / f"{workload.name}_{tool}_{attempt}.log"
    measured = run_measured(workload.command(tool, output), log)
    status = "" if measured.returncode == 0 else f"  FAILED (exit {measured.returncode}, see {log})"
    print(
        f"  {workload.name:7} {tool:8} run {attempt}: {measured.wall_s:7.2f} s  "
        f"{measured.peak_rss_mib:6.0f} MiB{status}",
        file=sys.stderr,
        flush=True,
    )
    return measured


def run_all(workloads: list[Workload], tools: list[str], repeat: int) -> dict[tuple[str, str], list[Measurement]]:
    """Every workload in every tool, ``repeat`` rounds, tools interleaved so drift hits them alike."""
    (WORK / "out").mkdir(parents=True, exist_ok=True)
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    raw: dict[tuple[str, str], list[Measurement]] = {(w.name, t): [] for w in workloads for t in tools if w.runs_in(t)}
    for attempt in range(1, repeat + 1):
        for workload in workloads:
            for tool in tools:
                if workload.runs_in(tool):
                    raw[workload.name, tool].append(run_once(workload, tool, attempt))
    return raw


def summarize_all(
    workloads: list[Workload], tools: list[str], raw: dict[tuple[str, str], list[Measurement]]
) -> list[report.Summary]:
    """Medians per workload and tool, with what the probe found wrong in the last output."""
    summaries = []
    for workload in workloads:
        for tool in filter(workload.runs_in, tools):
            problems = verify.problems(output_path(workload, tool), workload.frames)
            for problem in problems:
                print(f"WARNING: {workload.name} {tool}: {problem}", file=sys.stderr)
            summaries.append(report.summarize(workload.name, tool, workload.frames, raw[workload.name, tool], problems))
    return summaries


def environment(args: argparse.Namespace, workloads: list[Workload], tools: list[str]) -> dict:
    """The machine, the versions and the options of this run."""
    ffmpeg_version = subprocess.run([media.FFMPEG, "-version"], capture_output=True, text=True).stdout
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=BENCH_DIR
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "commit": commit or None,
        "cpu": cpu_model(),
        "cores": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / (1 << 30), 1),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg_version.split(" Copyright")[0] if ffmpeg_version else None,
        "packages": {name: package_version(name) for name in PACKAGES},
        "repeat": args.repeat,
        "workloads": {w.name: w.summary for w in workloads},
        "tools": tools,
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def markdown_header(meta: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["packages"].items() if v)
    workloads = "\n".join(f"- **{name}**: {summary}" for name, summary in meta["workloads"].items())
    return (
        f"# vfx benchmark, {meta['date']}\n\n"
        f"{meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB; commit {meta['commit']}; "
        f"median of {meta['repeat']} run(s).\n\n{meta['ffmpeg']}; Python {meta['python']}, {versions}.\n\n"
        f"{workloads}"
    )


def write_results(
    meta: dict, summaries: list[report.Summary], raw: dict[tuple[str, str], list[Measurement]]
) -> list[Path]:
    """The JSON and markdown reports, stamped with the time and copied to ``latest.*``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    body = {
        "json": json.dumps(report.to_json(summaries, raw, meta), indent=2) + "\n",
        "md": report.render_markdown(summaries, markdown_header(meta)),
    }
    written = []
    for suffix, text in body.items():
        for name in (f"bench-{stamp}.{suffix}", f"latest.{suffix}"):
            (RESULTS / name).write_text(text)
        written.append(RESULTS / f"bench-{stamp}.{suffix}")
    return written


def main() -> None:
    args = parse_args()
    tools = [t for t in TOOLS if not (args.skip_moviepy and t == "moviepy")]
    print("making inputs in benchmarks/work/inputs (once) ...", file=sys.stderr, flush=True)
    workloads = select(all_workloads(media.make_all(WORK / "inputs")), args.only)
    preflight(workloads)
    meta = environment(args, workloads, tools)
    raw = run_all(workloads, tools, args.repeat)
    summaries = summarize_all(workloads, tools, raw)
    print()
    print(report.render_text(summaries))
    for path in write_results(meta, summaries, raw):
        print(f"wrote {path.relative_to(BENCH_DIR.parent)}")


if __name__ == "__main__":
    main()
