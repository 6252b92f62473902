"""Farm benchmark: scaling from 1 to 2 Ray workers, and the farm's overhead over ``vfx render``.

One run, on one machine, of a CPU-bound effects pipeline (an explosion over a dusk plate, then a
glow; 1080p, 20 s at 24 fps by default), each configuration a separate subprocess:

- ``local``:    ``vfx render``                                   (torch 1 thread, encoder 1 thread)
- ``farm-1``:   ``vfx farm render --workers 1 --cpus-per-task 1``  (a local Ray started and stopped)
- ``farm-2``:   ``vfx farm render --workers 2 --cpus-per-task 1``

Every configuration holds each worker to one core (OMP_NUM_THREADS=1, torch threads 1, encoder
threads 1, Ray num_cpus=1 per task), so two workers can at best halve the time. ``vfx render`` and
the one-worker farm run pinned to one CPU (affinity, inherited by Ray's processes): the engine
overlaps rendering and encoding in two threads, which would otherwise spread over both cores. Reported:

- scaling: farm-1 render time / farm-2 render time (target: at least 1.7x), render time being the
  command's wall time less Ray's start and stop;
- overhead: farm-1 render time against ``vfx render`` (target: within 10%), plus Ray's start and
  stop (target: under 8 s together);
- per chunk: graph set-up on the worker, render, segment check, task time as the worker saw it,
  time from submission to result as the driver saw it, and the join.

    .venv/bin/python benchmarks/farm.py                 # the full run (1080p, 20 s)
    .venv/bin/python benchmarks/farm.py --quick         # 960x540, 3 s: checks the harness works
    .venv/bin/python benchmarks/farm.py --seconds 10 --chunk-size 24

Results go to benchmarks/results/farm.md (and farm.json). Timings are only meaningful on a quiet
machine: the table records the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VFX = str(Path(sys.executable).parent / "vfx")
WORK = ROOT / "benchmarks" / "work" / "farm"
RESULTS = ROOT / "benchmarks" / "results"

PIPELINE = """# farm benchmark: explosion + glow, CPU bound
format = 1
[pipeline]
width = {width}
height = {height}
fps = 24
duration = "{seconds}s"
seed = 11
[vars]
output = "out.mp4"
[nodes.sky]
type = "source.testpattern"
pattern = "gradient"
sweep = false
[nodes.dusk]
type = "source.color"
color = "#05030a"
[nodes.plate]
type = "editor.composite"
layers = ["sky", {{ input = "dusk", opacity = 0.8 }}]
[nodes.boom]
type = "effect.explosion"
input = "plate"
at = 6
position = [0.5, 0.7]
[nodes.glow]
type = "effect.glow"
input = "boom"
threshold = 0.8
radius = {radius}
[nodes.out]
type = "encode.video"
input = "glow"
path = "${{output}}"
codec = "h264"
crf = 20
preset = "veryfast"
threads = 1
"""


def run(cmd: list[str], env: dict, cores: set[int] | None = None) -> tuple[float, str]:
    """Wall time and output of ``cmd``; with ``cores``, it and every process it starts (Ray's
    included) may run only on those CPUs."""
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=WORK, preexec_fn=pin)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout


def farm_run(pipeline: Path, name: str, workers: int, chunk: int, env: dict, cores: set[int] | None = None) -> dict:
    stats = WORK / f"{name}.json"
    wall, _ = run(
        [
            VFX,
            "farm",
            "render",
            str(pipeline),
            "--set",
            f"output={name}.mp4",
            "--chunk-size",
            str(chunk),
            "--workers",
            str(workers),
            "--cpus-per-task",
            "1",
            "--stats",
            str(stats),
            "--quiet",
        ],
        env,
        cores,
    )
    s = json.loads(stats.read_text())
    job = s["jobs"][0]
    ray_io = s.get("ray_start", 0) + s.get("ray_stop", 0)
    recs = job["records"]

    def mean(key, sub=None):
        vals = [(r[key][sub] if sub else r[key]) for r in recs]
        return sum(vals) / len(vals) if vals else 0.0

    return {
        "wall": wall,
        "ray_start": s.get("ray_start", 0),
        "ray_stop": s.get("ray_stop", 0),
        "render": wall - ray_io,
        "chunks": len(recs),
        "join": job["seconds"].get("join", 0),
        "audio": job["seconds"].get("audio", 0),
        "chunk_setup": mean("seconds", "setup"),
        "chunk_render": mean("seconds", "render"),
        "chunk_check": mean("seconds", "check"),
        "chunk_task": mean("task_seconds"),
        "chunk_driver": mean("driver_seconds"),
    }


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the render (default 20)")
    ap.add_argument("--size", default="1920x1080", help="frame size (default 1920x1080)")
    ap.add_argument("--chunk-size", type=int, default=48, help="frames per chunk (default 48)")
    ap.add_argument("--quick", action="store_true", help="960x540, 3 s, chunks of 12: a check that it runs")
    ap.add_argument("--out", default=str(RESULTS / "farm.md"))
    args = ap.parse_args(argv)
    if args.quick:
        args.seconds, args.size, args.chunk_size = 3.0, "960x540", 12
    width, height = map(int, args.size.lower().split("x"))
    WORK.mkdir(parents=True, exist_ok=True)
    pipeline = WORK / "farm_bench.toml"
    pipeline.write_text(PIPELINE.format(width=width, height=height, seconds=args.seconds, radius=max(8, width // 24)))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    before = loadavg()
    frames = round(args.seconds * 24)
    print(f"farm benchmark: {width}x{height}, {frames} frames, chunks of {args.chunk_size}; load {before}")
    run([VFX, "validate", str(pipeline)], env)
    # One worker is held to one core by CPU affinity (the engine overlaps rendering and encoding in
    # two threads, so a thread count alone would let it use both); `vfx render` gets the same core.
    one_core = {sorted(os.sched_getaffinity(0))[0]}
    local_wall, _ = run(
        [VFX, "render", str(pipeline), "--set", "output=local.mp4", "--threads", "1", "--quiet"], env, one_core
    )
    print(f"  vfx render            {local_wall:8.2f} s")
    one = farm_run(pipeline, "farm1", 1, args.chunk_size, env, one_core)
    print(
        f"  farm, 1 worker        {one['wall']:8.2f} s (render {one['render']:.2f} s, ray start "
        f"{one['ray_start']:.2f} s, stop {one['ray_stop']:.2f} s)"
    )
    two = farm_run(pipeline, "farm2", 2, args.chunk_size, env)
    print(f"  farm, 2 workers       {two['wall']:8.2f} s (render {two['render']:.2f} s)")
    after = loadavg()
    scaling = one["render"] / two["render"] if two["render"] else 0
    overhead = one["render"] / local_wall - 1 if local_wall else 0
    ray_io = one["ray_start"] + one["ray_stop"]
    verdict = lambda ok: "yes" if ok else "NO"  # noqa: E731
    lines = [
        "# Farm benchmark",
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/farm.py'] + (argv if argv is not None else sys.argv[1:]))}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average before {before}, after {after}.",
        "",
        f"Pipeline: explosion over a dusk plate, then glow; {width}x{height}, {frames} frames at 24 fps, h264 "
        f"veryfast with 1 encoder thread; chunks of {args.chunk_size} frames. Every worker held to one core "
        "(OMP_NUM_THREADS=1, torch threads 1, Ray num_cpus=1 per task); `vfx render` and the one-worker farm "
        "pinned to one CPU by affinity, the two-worker farm on two.",
        "",
        "| run | wall s | render s (wall less Ray start/stop) | Ray start s | Ray stop s |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| `vfx render` | {local_wall:.2f} | {local_wall:.2f} | - | - |",
        f"| `vfx farm render --workers 1` | {one['wall']:.2f} | {one['render']:.2f} | {one['ray_start']:.2f} | "
        f"{one['ray_stop']:.2f} |",
        f"| `vfx farm render --workers 2` | {two['wall']:.2f} | {two['render']:.2f} | {two['ray_start']:.2f} | "
        f"{two['ray_stop']:.2f} |",
        "",
        "| check | measured | target | met |",
        "| --- | ---: | ---: | --- |",
        f"| scaling, 2 workers vs 1 | {scaling:.2f}x | >= 1.7x | {verdict(scaling >= 1.7)} |",
        f"| overhead, farm (1 worker) vs vfx render | {overhead * 100:+.1f}% | within 10% | "
        f"{verdict(abs(overhead) <= 0.10)} |",
        f"| Ray start + stop | {ray_io:.2f} s | < 8 s | {verdict(ray_io < 8)} |",
        "",
        "Per chunk (means over the chunks of each farm run), seconds:",
        "",
        "| run | chunks | set-up on worker (load + build graph) | render | segment check | task (worker) | "
        "submit to result (driver) | audio task | join |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in (("1 worker", one), ("2 workers", two)):
        lines.append(
            f"| {name} | {r['chunks']} | {r['chunk_setup']:.3f} | {r['chunk_render']:.3f} | "
            f"{r['chunk_check']:.3f} | {r['chunk_task']:.3f} | {r['chunk_driver']:.3f} | {r['audio']:.3f} | "
            f"{r['join']:.3f} |"
        )
    busy = max(float(x) for x in (before.split() + after.split()) if x != "?") if "?" not in before else 0
    if busy > 0.5 * (os.cpu_count() or 1):
        lines += [
            "",
            f"**The machine was busy (load average up to {busy:.1f} on {os.cpu_count()} cores): these "
            "timings say nothing about scaling or overhead. Re-run on a quiet machine.**",
        ]
    lines += [
        "",
        "Per-chunk overhead = task time less render time (graph set-up, segment check and the "
        "record); the first chunk on each worker also pays the worker's start and its imports (torch), "
        "which the driver's submit-to-result time shows.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    (Path(args.out).with_suffix(".json")).write_text(
        json.dumps(
            {
                "local": local_wall,
                "farm1": one,
                "farm2": two,
                "scaling": scaling,
                "overhead": overhead,
                "load_before": before,
                "load_after": after,
                "size": [width, height],
                "frames": frames,
                "chunk_size": args.chunk_size,
            },
            indent=1,
        )
    )
    print(f"scaling {scaling:.2f}x, overhead {overhead * 100:+.1f}%, ray start+stop {ray_io:.2f} s -> {args.out}")


if __name__ == "__main__":
    main()
