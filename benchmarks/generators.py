"""Throughput of the generator nodes (``generator.gan``, ``generator.vae``), in frames per second.

Three measurements, on the CPU and (where torch sees one) on CUDA:

1. **model forward**: ``model.generate(z)`` alone, at 64x64 and 128x128, batch sizes 1, 8, 32, 128;
2. **node render**: ``node.frames(indices)`` of a 1920x1080 generator node, batch B with
   ``chunk = B`` (one forward pass per batch): latent walk + forward + sRGB to linear + upscale to
   1080p; fresh frame numbers every time, so the chunk cache never helps;
3. **end to end**: ``vfx render`` of a 1080p pipeline, a generator layer composited (screen) over a
   decoded H.264 plate, encoded to H.264 (libx264 veryfast, crf 20), next to the same pipeline
   without the generator layer.

Models: the shipped models (``plugins/generators/models/*.safetensors``) where one of the architecture and
resolution exists, else an untrained model of the shipped architectures (``dcgan_sn``,
``conv_vae``) with their default config at that resolution: the speed is the same, the pictures
are not. On CUDA the forward passes use the node's default precision (bf16/fp16 autocast) and the
GPU's utilisation is sampled every 50 ms (``nvidia-smi``, or ``torch.cuda.utilization``) while
the node renders.

    .venv/bin/python benchmarks/generators.py                 # everything, writes results/generators.md
    .venv/bin/python benchmarks/generators.py --device cpu --repeat 3 --skip-e2e
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vfx.engine import configure_threads  # noqa: E402
from vfx.graph import build  # noqa: E402
from vfx.models import build_model, read_config, save_model  # noqa: E402
from vfx.pipeline import load  # noqa: E402

VFX = str(Path(sys.executable).parent / "vfx")
WORK = ROOT / "benchmarks" / "work" / "generators"
RESULTS = ROOT / "benchmarks" / "results" / "generators.md"
ARCHS = {"gan": "dcgan_sn", "vae": "conv_vae"}
RESOLUTIONS = (64, 128)


# ------------------------------------------------------------------------------------ models


def pick_models(folder: Path) -> dict[tuple[str, int], tuple[Path, str]]:
    """(family, resolution) -> (model file, description): shipped where possible, else untrained."""
    shipped_dir = ROOT / "plugins" / "generators" / "models"
    shipped = {}
    for path in sorted(shipped_dir.glob("*.safetensors")) if shipped_dir.is_dir() else []:
        if path.name.endswith(".ckpt.safetensors"):
            continue
        try:
            cfg = read_config(path)
        except Exception:
            continue
        key = (
            cfg.get("family") or ("gan" if cfg.get("architecture") == "dcgan_sn" else "vae"),
            int(cfg.get("resolution", 0)),
        )
        shipped.setdefault(key, (path, f"shipped '{path.stem}' ({cfg.get('architecture')})"))
    out = {}
    for family, arch in ARCHS.items():
        for res in RESOLUTIONS:
            if (family, res) in shipped:
                out[(family, res)] = shipped[(family, res)]
                continue
            torch.manual_seed(0)
            model = build_model({"architecture": arch, "resolution": res})
            path = save_model(model, folder / f"{arch}_{res}.safetensors")
            out[(family, res)] = (path, f"untrained {arch} (default config)")
    return out


def describe_model(path: Path) -> str:
    from vfx.models import load_model

    m = load_model(path)
    params = sum(p.numel() for p in m.parameters())
    return f"latent {m.latent_dim}, {params / 1e6:.2f} M parameters"


# ------------------------------------------------------------------------------------ GPU sampling


class GpuSampler:
    """Samples the GPU's utilisation (percent) every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.samples, self._stop = interval, [], threading.Event()
        self._smi = shutil.which("nvidia-smi")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> float | None:
        try:
            return float(torch.cuda.utilization())
        except Exception:
            pass
        if self._smi:
            try:
                out = subprocess.run(
                    [self._smi, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
                    capture_output=True,
                    text=True,
                    timeout=2,
                ).stdout
                return float(out.strip().splitlines()[0])
            except Exception:
                return None
        return None

    def _run(self):
        while not self._stop.is_set():
            v = self._read()
            if v is not None:
                self.samples.append(v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.samples) if self.samples else None


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------ measurements


def bench_forward(path: Path, device: str, batch: int, repeat: int) -> dict:
    """Frames/s of ``model.generate`` alone (float32 on the CPU, autocast like the node on CUDA)."""
    from vfx.models import load_model
    import contextlib

    model = load_model(path, device=device)
    z = torch.randn(batch, model.latent_dim, device=device)
    labels = torch.zeros(batch, dtype=torch.long, device=device) if model.num_classes else None
    if str(device).startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        ctx = lambda: torch.autocast("cuda", dtype=dtype)  # noqa: E731
    else:
        ctx = contextlib.nullcontext
    times, cpu = [], []
    with torch.inference_mode():
        for r in range(repeat + 1):
            sync(device)
            t, c = time.perf_counter(), time.process_time()
            with ctx():
                model.generate(z, labels)
            sync(device)
            if r:
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
    return {"fps": batch / statistics.median(times), "cpu_fps": batch / max(statistics.median(cpu), 1e-9)}


def node_pipeline(model: Path, family: str, batch: int, frames: int) -> str:
    return textwrap.dedent(f"""
        [pipeline]
        width = 1920
        height = 1080
        fps = 24
        duration = {frames}
        seed = 1
        [nodes.gen]
        type = "generator.{family}"
        model = "{model}"
        chunk = {batch}
        """)


def bench_node(path: Path, family: str, device: str, batch: int, repeat: int) -> dict:
    """Frames/s of a 1080p generator node's ``frames`` (walk + forward + linearise + upscale)."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "p.toml"
        p.write_text(node_pipeline(path, family, batch, batch * (repeat + 2)))
        graph = build(load(p), device=device, require_encoder=False)
        node = graph.nodes["gen"]
        node.open()
        times, cpu = [], []
        sampler = GpuSampler() if str(device).startswith("cuda") else None
        for r in range(repeat + 1):
            indices = list(range(r * batch, (r + 1) * batch))
            node.drop_cache()
            sync(device)
            if r == 1 and sampler:
                sampler.__enter__()
            t, c = time.perf_counter(), time.process_time()
            px = node.frames(indices).pixels
            sync(device)
            if r:
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            del px
        if sampler:
            sampler.__exit__()
        graph.close()
    out = {"fps": batch / statistics.median(times), "cpu_fps": batch / max(statistics.median(cpu), 1e-9)}
    if sampler:
        out["gpu_util"] = sampler.mean
    return out


def make_plate(seconds: int) -> Path:
    """A 1080p24 H.264 plate (zone plate test pattern), made once with vfx itself."""
    WORK.mkdir(parents=True, exist_ok=True)
    plate = WORK / f"plate_{seconds}s.mp4"
    if plate.is_file():
        return plate
    p = WORK / "plate.toml"
    p.write_text(
        textwrap.dedent(f"""
        [pipeline]
        width = 1920
        height = 1080
        fps = 24
        duration = "{seconds}s"
        [nodes.bars]
        type = "source.testpattern"
        pattern = "zoneplate"
        [nodes.out]
        type = "encode.video"
        input = "bars"
        path = "{plate.name}"
        codec = "h264"
        crf = 18
        preset = "veryfast"
        """)
    )
    subprocess.run([VFX, "render", "-q", str(p)], check=True)
    return plate


def e2e_pipeline(plate: Path, model: Path | str | None, family: str, out: Path) -> str:
    """The plate alone (``model`` None), under a flat colour layer (``model`` "color": the cost of the
    composite and blend without a generator), or under a generator layer."""
    if model == "color":
        gen = '[nodes.gen]\ntype = "source.color"\ncolor = "#402010"\n'
    else:
        gen = (
            ""
            if model is None
            else textwrap.dedent(f"""
            [nodes.gen]
            type = "generator.{family}"
            model = "{model}"
            period = "1s"
            """)
        )
    layers = '["plate"]' if model is None else '["plate", { input = "gen", blend = "screen", opacity = 0.8 }]'
    return (
        textwrap.dedent(f"""
        [pipeline]
        width = 1920
        height = 1080
        fps = 24
        duration = "{plate.stem.split("_")[1]}"
        seed = 2
        [nodes.plate]
        type = "source.video"
        path = "{plate}"
        """)
        + gen
        + textwrap.dedent(f"""
        [nodes.comp]
        type = "editor.composite"
        layers = {layers}
        [nodes.out]
        type = "encode.video"
        input = "comp"
        path = "{out}"
        codec = "h264"
        crf = 20
        preset = "veryfast"
        """)
    )


def bench_e2e(plate: Path, model: Path | str | None, family: str, device: str, batch: int | None) -> dict:
    """``vfx render`` of the pipeline: the engine's fps (render time) and the process's wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "e2e.toml"
        p.write_text(e2e_pipeline(plate, model, family, Path(tmp) / "out.mp4"))
        cmd = [VFX, "render", str(p), "--device", device] + (["--batch-size", str(batch)] if batch else [])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if res.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr}")
        m = re.search(r"(\d+) frames in ([\d.]+)s \(([\d.]+) fps, batch (\d+)", res.stdout + res.stderr)
        frames, secs, fps, used = int(m.group(1)), float(m.group(2)), float(m.group(3)), int(m.group(4))
    return {"fps": fps, "frames": frames, "render_s": secs, "wall_s": wall, "batch": used, "cpu_s": cpu_s}


# ------------------------------------------------------------------------------------ report


def fmt(v, digits=1):
    return "-" if v is None else f"{v:,.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="all", help="cpu, cuda or all (cuda where available)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (median reported)")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--e2e-seconds", type=int, default=3, help="length of the end-to-end render")
    parser.add_argument("--e2e-repeat", type=int, default=2, help="rounds of end-to-end runs (interleaved; median)")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    devices = (
        ["cpu"]
        if args.device == "cpu"
        else ["cuda"]
        if args.device == "cuda"
        else (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    )
    WORK.mkdir(parents=True, exist_ok=True)
    models = pick_models(WORK)
    results: dict = {"forward": {}, "node": {}, "e2e": []}

    def log(msg):
        print(msg, flush=True)

    for device in devices:
        configure_threads(device)
        threads = torch.get_num_threads()
        for (family, res), (path, _what) in models.items():
            for b in batches:
                f = bench_forward(path, device, b, args.repeat)
                n = bench_node(path, family, device, b, args.repeat)
                results["forward"][(device, family, res, b)] = f
                results["node"][(device, family, res, b)] = n
                log(
                    f"{device} {family} {res}x{res} batch {b:>3}: forward {f['fps']:9.1f} fps, "
                    f"node@1080p {n['fps']:7.1f} fps"
                    + (f" (GPU {fmt(n.get('gpu_util'), 0)}%)" if "gpu_util" in n else "")
                )
        results.setdefault("threads", {})[device] = threads

    if not args.skip_e2e:
        plate = make_plate(args.e2e_seconds)
        for device in devices:
            runs = [
                ("plate only (no generator)", None, "gan", None),
                ("plate + flat colour layer (composite cost, no generator)", "color", "gan", 8),
            ]
            for (family, res), (path, _what) in models.items():
                if res == 64 or family == "gan":
                    runs.append((f"{family} {res}x{res}", path, family, 8))
            runs.append(("gan 64x64, engine's default batch", models[("gan", 64)][0], "gan", None))
            rounds: dict = {}
            for _ in range(args.e2e_repeat):  # interleaved, so drift in the load hits every run alike
                for label, path, family, batch in runs:
                    r = bench_e2e(plate, path, family, device, batch)
                    rounds.setdefault(label, []).append(r)
                    log(
                        f"e2e {device} {label}: {r['fps']:.1f} fps (batch {r['batch']}, {r['frames']} frames, "
                        f"render {r['render_s']:.1f}s, process {r['wall_s']:.1f}s, CPU {r['cpu_s']:.1f}s)"
                    )
            for label, rs in rounds.items():
                med = {k: statistics.median(r[k] for r in rs) for k in ("fps", "render_s", "wall_s", "cpu_s")}
                results["e2e"].append({**rs[0], **med, "device": device, "label": label, "runs": len(rs)})

    # --- markdown ---
    load_avg = " / ".join(f"{v:.1f}" for v in __import__("os").getloadavg())
    md = [
        "# Generator benchmarks",
        "",
        f"`.venv/bin/python benchmarks/generators.py {' '.join(sys.argv[1:])}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        f"Machine: {platform.machine()}, {__import__('os').cpu_count()} cores, torch {torch.__version__}"
        + (f", {torch.cuda.get_device_name(0)}" if "cuda" in devices else ", no CUDA device")
        + f"; load average at the end {load_avg}.",
        "",
        "**Noisy numbers**: the CPU is 2 cores shared with other engineers' jobs while this ran; torch uses "
        f"the engine's thread budget ({', '.join(f'{d}: {t} thread(s)' for d, t in results['threads'].items())}). "
        "Medians of the timed repetitions; compare rows within one run, not across runs.",
        "",
        "Models:",
        "",
    ]
    for (family, res), (path, what) in models.items():
        md.append(f"- {family} {res}x{res}: {what}, {describe_model(path)}")
    md += [
        "",
        "## Frames per second by batch size",
        "",
        "*forward*: `model.generate(z)` alone (CPU float32; CUDA autocast). *node@1080p*: "
        "`node.frames()` of a 1920x1080 node with `chunk` = batch: latent walk, one forward pass, "
        "sRGB to linear, bicubic upscale to 1080p (fill), output RGBA float32. Each cell: wall-clock fps "
        "(in brackets: frames per CPU-second of this process, less sensitive to other people's load).",
        "",
    ]
    for device in devices:
        header = "| model | " + " | ".join(f"b={b} forward | b={b} node@1080p" for b in batches) + " |"
        md += [f"### {device}", "", header, "|" + " --- |" * (1 + 2 * len(batches))]
        for family, res in models:
            cells = []
            for b in batches:
                f = results["forward"][(device, family, res, b)]
                n = results["node"][(device, family, res, b)]
                util = f", GPU {fmt(n['gpu_util'], 0)}%" if n.get("gpu_util") is not None else ""
                cells += [
                    f"{fmt(f['fps'], 0)} ({fmt(f['cpu_fps'], 0)})",
                    f"{fmt(n['fps'])} ({fmt(n['cpu_fps'])}{util})",
                ]
            md.append(f"| {family} {res}x{res} | " + " | ".join(cells) + " |")
        md.append("")
    if results["e2e"]:
        md += [
            "## End to end: `vfx render`, 1080p24 generator layer over an H.264 plate, to H.264",
            "",
            f"{args.e2e_seconds} s plate (decoded H.264 zone plate), the generator layer composited with "
            '`blend = "screen"`, opacity 0.8, encoded with libx264 veryfast crf 20. *fps* is the engine\'s '
            "(render time); *process* is the wall time of the whole `vfx render` (start-up and model loading "
            "included); *CPU ms/frame* is the process's user+system CPU time (all threads, start-up "
            "included) per frame. Medians of the interleaved rounds.",
            "",
            "| device | pipeline | batch | frames | fps | process s | CPU ms/frame |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in results["e2e"]:
            md.append(
                f"| {r['device']} | {r['label']} | {r['batch']} | {r['frames']} | {r['fps']:.1f} | "
                f"{r['wall_s']:.1f} | {1000 * r['cpu_s'] / r['frames']:.0f} |"
            )
        md.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(md))
    raw = {
        "forward": {"|".join(map(str, k)): v for k, v in results["forward"].items()},
        "node": {"|".join(map(str, k)): v for k, v in results["node"].items()},
        "e2e": results["e2e"],
    }
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
