"""Cost of each effect on one 1920x1080 frame, next to the cost of encoding that frame.

For every effect and background node, in one process and one run: the median time of
``node.frames([i])`` over fresh frame indices (torch with the engine's thread budget; on a CPU also
as the node's frames per second alone), and the
median CPU time libx264 ``veryfast`` takes to encode a 1080p frame (from RGBA, as the engine
hands it over), so each effect is reported as a ratio of the encode (CPU time to CPU time). With ``--device cuda`` (where a GPU
exists) it reports batch sizes 1, 8 and 32 instead.

    .venv/bin/python benchmarks/effects.py [--only effect.blur,effect.glow] [--device cuda] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from vfx.engine import configure_threads, resolve_device, share
from vfx.graph import build
from vfx.pipeline import load
from vfx.plugins import get_registry

WIDTH, HEIGHT = 1920, 1080
LUT = Path(__file__).resolve().parent.parent / "pipelines" / "luts" / "warm.cube"
# options some nodes need to show their work on the measured frames
SETTINGS = {
    "effect.explosion": "at = 0\ncount = 20000",
    "effect.blur": "sigma = 20.0",
    "effect.lightning": "strikes = [0]\nduration = 400",
    "effect.fade": "in = 300\nout = 0",
    "effect.chroma_key": 'key_color = "#00ff00"\nfeather = 2.0',
    "effect.transform": "rotate = 10.0\nscale = 1.1",
    "effect.grade": 'exposure = 0.3\ncontrast = 1.2\nsaturation = 1.1\nlut = "LUT"',
}
# further rows: the same node with other settings (label: (node type, settings))
VARIANTS = {
    "effect.grade (no LUT)": ("effect.grade", "exposure = 0.3\ncontrast = 1.2\nsaturation = 1.1"),
}


def pipeline(node_type: str, kind: str, extra: str) -> str:
    if kind == "source":
        body = f'[nodes.fx]\ntype = "{node_type}"\n{extra}\n'
    else:
        body = (
            f'[nodes.plate]\ntype = "source.testpattern"\npattern = "gradient"\nsweep = false\n'
            f'[nodes.fx]\ntype = "{node_type}"\ninput = "plate"\n{extra}\n'
        )
    return (
        textwrap.dedent(f"""
        [pipeline]
        width = {WIDTH}
        height = {HEIGHT}
        fps = 24
        duration = 400
        seed = 1
        """)
        + body
    )


#: the first measured frame: not a whole second, where gradient-noise shake sits on a lattice point
START = 25


@contextlib.contextmanager
def one_node(node_type: str, device: str, extra: str):
    """The opened graph of one node (``fx``) and its plate (``plate``, None for a source), the
    plate cached so that re-rendering it costs nothing."""
    kind = get_registry().nodes[node_type].kind
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.toml"
        path.write_text(pipeline(node_type, kind, extra.replace("LUT", str(LUT))))
        graph = build(load(path), device=device, require_encoder=False)
        for n in graph.nodes.values():
            n.open()
        plate = graph.nodes.get("plate")
        if plate is not None:
            share(plate)
        try:
            yield graph.nodes["fx"], plate
        finally:
            graph.close()


def time_node(node_type: str, device: str, batch: int, repeat: int, extra: str) -> tuple[float, float]:
    """Median wall and CPU milliseconds per frame of one node (its plate, if any, is rendered first).

    The CPU time is this thread's (torch and OpenCV run on it, one thread each): it leaves out
    the time other processes on a shared machine take the core away."""
    times, cpu_times = [], []
    indices = list(range(START, START + batch))  # the same frames each round, caches dropped
    with one_node(node_type, device, extra) as (node, plate):
        for r in range(repeat + 1):
            if plate is not None:
                _ = plate.frames(indices).pixels  # the plate is not the effect's cost
            node.drop_cache()
            t, cpu = time.perf_counter(), time.thread_time()
            _ = node.frames(indices).pixels
            if str(device).startswith("cuda"):
                import torch

                torch.cuda.synchronize()
            if r:
                times.append((time.perf_counter() - t) * 1000 / batch)
                cpu_times.append((time.thread_time() - cpu) * 1000 / batch)
    return statistics.median(times), statistics.median(cpu_times)


def time_encode(repeat: int) -> tuple[float, float]:
    """Wall and CPU milliseconds libx264 veryfast spends per 1080p frame fed as RGBA, like the engine.

    The effects run on one thread, so their cost compares with the encoder's CPU time."""
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (HEIGHT, WIDTH, 4), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        out = av.open(str(Path(tmp) / "e.mp4"), "w")
        stream = out.add_stream("libx264", rate=24, options={"crf": "20", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.thread_type = "AUTO"
        count = 24 + repeat * 4
        t, cpu = time.perf_counter(), time.process_time()
        for i in range(count):
            img = np.roll(base, i * 8, axis=1)
            frame = av.VideoFrame.from_ndarray(img, format="rgba").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
            )
            frame.pts = i
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode(None):
            out.mux(p)
        out.close()
        return (time.perf_counter() - t) * 1000 / count, (time.process_time() - cpu) * 1000 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_threads(device)
    reg = get_registry()
    rows = []
    for t in sorted(reg.nodes):
        if t.startswith(("effect.", "background.")):
            rows.append((t, t, SETTINGS.get(t, "")))
            rows += [(label, t, extra) for label, (vt, extra) in VARIANTS.items() if vt == t]
    if args.only:
        rows = [r for r in rows if r[1] in args.only.split(",")]
    batches = [1, 8, 32] if str(device).startswith("cuda") else [1]
    encode_wall, encode = time_encode(args.repeat)
    cuda = str(device).startswith("cuda")
    print(
        f"libx264 veryfast encode of a 1080p frame: {encode:.1f} ms CPU ({encode_wall:.1f} ms wall on "
        f"all cores); effects below on {device}, one torch thread"
    )
    if cuda:
        header = "node".ljust(24) + "".join(f"{f'ms/frame b={b}':>16}" for b in batches) + f"{'x encode':>10}"
    else:
        header = "node".ljust(24) + f"{'wall ms':>10}{'fps':>8}{'CPU ms':>10}{'x encode (CPU)':>16}"
    print(header)
    print("-" * len(header))
    for label, t, extra in rows:
        row = [time_node(t, device, b, args.repeat, extra) for b in batches]
        if cuda:
            print(label.ljust(24) + "".join(f"{wall:>16.1f}" for wall, _ in row) + f"{row[0][0] / encode:>10.2f}")
        else:
            wall, cpu = row[0]
            print(label.ljust(24) + f"{wall:>10.1f}{1000 / wall:>8.1f}{cpu:>10.1f}{cpu / encode:>16.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
