"""What the node cache saves: re-renders after a small edit, and template variants sharing layers.

Each run is a separate subprocess, measured by ``harness.measure`` (wall time, peak RSS of the tree):

1. **showcase title**: ``pipelines/showcase.toml`` with a title drawn over its last node (a
   ``source.text`` on ``outro``, its text a var). A plain render without the cache; a cold
   render that fills an empty cache; then the same pipeline with only the title's text changed,
   through the filled cache (target: under a fifth of the cold render).
2. **variants**: ``pipelines/variants/ad.toml`` with 12 rows that change the headline and the
   price (so the plate, its background, band and logo, is shared), rendered as one ``--matrix``
   without any cache, with the in-memory cache ``--matrix`` always uses, and row by row with the
   ffmpeg CLI (colour source, drawbox, scaled logo overlay, two drawtext with an alpha fade: an
   approximation of the template, the same work per row).
3. **bounds**: the showcase rendered with ``--cache-size 64M`` into a fresh folder, whose size is
   checked against the bound, and the peak memory of the cached renders next to the plain one.

Works in ``benchmarks/work/cache/`` (logs of each run stay there) and writes ``benchmarks/results/cache.md``.

    .venv/bin/python benchmarks/cache.py [--repeat 1] [--skip-ffmpeg] [--only showcase,variants,bounds]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from harness.measure import Measurement, run_measured  # noqa: E402

VFX = str(Path(sys.executable).parent / "vfx")
RESULTS = HERE / "results"
LOGO = ROOT / "out" / "assets" / "logo.png"
FONT = ROOT / "plugins" / "text" / "fonts" / "DejaVuSans.ttf"

TITLE = """
[nodes.title]
type = "source.text"
input = "outro"
text = "${title}"
size = 64
position = [0.5, 0.12]
shadow_color = "#000000a0"
animation = "fade"
"""


def showcase_with_title(work: Path) -> Path:
    """The showcase with a title over its last node; paths made absolute so it runs from ``work``."""
    text = (ROOT / "pipelines" / "showcase.toml").read_text()
    text = text.replace('"../out/assets/logo.png"', f'"{LOGO}"')
    text = text.replace('output = "../out/showcase.mp4"', f'output = "{work / "showcase.mp4"}"\ntitle = "Summer"')
    text = text.replace('input = "outro"\naudio = "tone"', 'input = "title"\naudio = "tone"')
    assert 'input = "title"' in text, "pipelines/showcase.toml changed: update benchmarks/cache.py"
    path = work / "showcase_title.toml"
    path.write_text(text + TITLE)
    return path


def measure(label: str, command: list[str], work: Path) -> Measurement:
    m = run_measured(command, work / f"{label}.log")
    if m.returncode != 0:
        raise SystemExit(f"{label} failed ({m.returncode}): see {work / (label + '.log')}\n" + " ".join(command))
    return m


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_showcase(work: Path, repeat: int) -> list[str]:
    pipeline = showcase_with_title(work)
    rows: dict[str, list[Measurement]] = {"plain": [], "cold": [], "warm": []}
    for r in range(repeat):
        cache = work / f"cache-{r}"
        shutil.rmtree(cache, ignore_errors=True)
        rows["plain"].append(measure("showcase-plain", [VFX, "render", str(pipeline), "-q"], work))
        base = [VFX, "render", str(pipeline), "-q", "--cache", str(cache)]
        rows["cold"].append(measure("showcase-cold", base, work))
        rows["warm"].append(measure("showcase-warm", base + ["--set", "title=Winter"], work))
    med = {k: statistics.median(m.wall_s for m in v) for k, v in rows.items()}
    low = {k: min(m.wall_s for m in v) for k, v in rows.items()}
    every = {k: ", ".join(f"{m.wall_s:.1f}" for m in v) for k, v in rows.items()}
    rss = {k: max(m.peak_rss_mib for m in v) for k, v in rows.items()}
    frames = _frames(pipeline)
    size = folder_bytes(work / f"cache-{repeat - 1}")
    return [
        "## Showcase: re-render after changing only the title text",
        "",
        f"`pipelines/showcase.toml` (1280x720, {frames} frames) with a title over `outro`; median of {repeat}, "
        "the three runs interleaved in each round.",
        "",
        "| run | median s | vs plain | each run, s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
        f"| plain render, no cache | {med['plain']:.2f} | 1.00x | {every['plain']} | {rss['plain']:.0f} |",
        f"| cold render filling an empty cache | {med['cold']:.2f} | {med['cold'] / med['plain']:.2f}x | {every['cold']} | {rss['cold']:.0f} |",
        f"| title text changed, warm cache | {med['warm']:.2f} | {med['warm'] / med['plain']:.2f}x | {every['warm']} | {rss['warm']:.0f} |",
        "",
        f"Warm / cold: **{med['warm'] / med['cold']:.3f}** median, {low['warm'] / low['cold']:.3f} best of each "
        f"(target < 0.2). Cache folder after: {size / 2**20:.0f} MiB.",
        "",
    ]


def _frames(pipeline: Path) -> int:
    from vfx.graph import build
    from vfx.pipeline import load

    graph = build(load(pipeline))
    graph.close()
    return graph.encoders[0].video.frame_count


def _cache_line(log: Path) -> str:
    """The ``cache: ...`` summary line a render printed."""
    lines = [line for line in log.read_text().splitlines() if line.startswith("cache:")]
    return lines[-1] if lines else "(no cache line)"


def write_rows(path: Path, n: int) -> Path:
    rows = [["output", "headline", "price"]]
    rows += [[f"v{i:02d}", f"Offer {i + 1}", f"-{10 + 2 * i}%"] for i in range(n)]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


MATRIX_DRIVER = """
import contextlib, sys
from vfx.cache import NodeCache
from vfx.engine import RenderOptions
from vfx.farm.variants import check_variants, read_matrix, render_matrix_local
template, rows = sys.argv[1], sys.argv[2]
variants = read_matrix(rows, template)
check_variants(template, variants)
render_matrix_local(template, variants, [], RenderOptions(device="cpu", cache=NodeCache()),
                    lambda v: contextlib.nullcontext(None))
bad = [v.error for v in variants if v.error]
sys.exit(1 if bad else 0)
"""


def ffmpeg_row(ffmpeg: str, row: list[str], out: Path) -> list[str]:
    """One variant with the ffmpeg CLI: the template's layers as a filtergraph."""
    _, headline, price = row

    def text(s: str) -> str:
        return s.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")

    graph = (
        "[0]drawbox=x=0:y=280:w=640:h=80:color=0xe63946:t=fill[b];[1]scale=150:75[l];[b][l]overlay=470:16,"
        f"drawtext=fontfile={FONT}:expansion=none:text='{text(headline)}':fontsize=56:fontcolor=white:x=(w-tw)*0.42:"
        "y=(h-th)*0.42:shadowcolor=black@0.63:shadowx=3:shadowy=3:alpha='min(1,t/0.5)',"
        f"drawtext=fontfile={FONT}:expansion=none:text='{text(price)}':fontsize=48:fontcolor=white:x=(w-tw)/2:y=(h-th)*0.89:"
        "alpha='if(lt(t,0.5),0,min(1,(t-0.5)/0.5))'"
    )
    return [
        ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x1d3557:s=640x360:r=24:d=2",
        "-i", str(LOGO), "-filter_complex", graph, "-frames:v", "48",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", str(out),
    ]  # fmt: skip


def bench_variants(work: Path, repeat: int, skip_ffmpeg: bool) -> list[str]:
    template = work / "ad.toml"
    text = (ROOT / "pipelines" / "variants" / "ad.toml").read_text()
    text = text.replace('"../../out/assets/logo.png"', f'"{LOGO}"')
    text = text.replace('"../../out/variants/${output}.mp4"', f'"{work / "variants"}/${{output}}.mp4"')
    template.write_text(text)
    rows = write_rows(work / "rows12.csv", 12)
    driver = work / "matrix_nocache.py"
    driver.write_text(MATRIX_DRIVER)
    runs: dict[str, list[float]] = {"none": [], "memory": [], "ffmpeg": []}
    for _ in range(repeat):
        runs["none"].append(
            measure("variants-nocache", [sys.executable, str(driver), str(template), str(rows)], work).wall_s
        )
        cmd = [VFX, "render", str(template), "--matrix", str(rows)]
        runs["memory"].append(measure("variants-cache", cmd, work).wall_s)
        served = _cache_line(work / "variants-cache.log")
        if not skip_ffmpeg:
            import imageio_ffmpeg

            ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
            (work / "ffmpeg").mkdir(exist_ok=True)
            with open(rows) as f:
                body = list(csv.reader(f))[1:]
            total = 0.0
            for row in body:
                total += measure(
                    "variants-ffmpeg", ffmpeg_row(ffmpeg, row, work / "ffmpeg" / f"{row[0]}.mp4"), work
                ).wall_s
            runs["ffmpeg"].append(total)
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    lines = [
        "## Variants: 12 rows of `pipelines/variants/ad.toml` (640x360, 48 frames each)",
        "",
        "Rows change the headline and price; the plate (background, band, logo) is the same in all.",
        "",
        "| run | wall s | vs no cache |",
        "| --- | --- | --- |",
        f"| `--matrix`, no cache | {med['none']:.2f} | 1.00x |",
        f"| `--matrix` (shared nodes cached in memory) | {med['memory']:.2f} | {med['memory'] / med['none']:.2f}x |",
    ]
    if "ffmpeg" in med:
        lines.append(f"| ffmpeg CLI, one process per row | {med['ffmpeg']:.2f} | {med['ffmpeg'] / med['none']:.2f}x |")
    lines += ["", f"With the cache, the matrix printed: `{served}` (576 frames of each node without it).", ""]
    return lines


def bench_bounds(work: Path) -> list[str]:
    pipeline = showcase_with_title(work)
    folder = work / "bounded"
    shutil.rmtree(folder, ignore_errors=True)
    m = measure("bounded", [VFX, "render", str(pipeline), "-q", "--cache", str(folder), "--cache-size", "64M"], work)
    size = folder_bytes(folder)
    return [
        "## Bounds",
        "",
        f"Showcase into a fresh cache with `--cache-size 64M`: folder {size / 2**20:.1f} MiB after the render "
        f"({'within' if size <= 64 << 20 else 'OVER'} the bound), peak RSS {m.peak_rss_mib:.0f} MiB, {m.wall_s:.2f} s.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-ffmpeg", action="store_true")
    parser.add_argument("--only", default="showcase,variants,bounds")
    args = parser.parse_args()
    if not LOGO.exists():
        raise SystemExit(f"{LOGO} is missing: run `make demo` (or pipelines/make_assets.py) first")
    only = set(args.only.split(","))
    lines = ["# Node cache", "", f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}", ""]
    work = HERE / "work" / "cache"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if "showcase" in only:
        lines += bench_showcase(work, args.repeat)
    if "variants" in only:
        lines += bench_variants(work, args.repeat, args.skip_ffmpeg)
    if "bounds" in only:
        lines += bench_bounds(work)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cache.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
