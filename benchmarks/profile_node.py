"""Where one node's time goes: torch's profiler over a 1080p render of its frames.

Builds the same one-node pipeline as ``effects.py`` (a gradient plate under an effect, or the
background alone), renders a warm-up batch, then profiles one batch and prints the operators
that took the most time (self CPU time, and CUDA time on a GPU).

    .venv/bin/python benchmarks/profile_node.py background.mountains [--device cuda] [--batch 8] [--rows 25]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from effects import LUT, SETTINGS, pipeline
from vfx.engine import configure_threads, resolve_device
from vfx.graph import build
from vfx.pipeline import load
from vfx.plugins import get_registry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("node_type")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_threads(device)
    kind = get_registry().nodes[args.node_type].kind
    extra = SETTINGS.get(args.node_type, "").replace("LUT", str(LUT))
    cuda = str(device).startswith("cuda")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.toml"
        path.write_text(pipeline(args.node_type, kind, extra))
        graph = build(load(path), device=device, require_encoder=False)
        for n in graph.nodes.values():
            n.open()
        node, plate = graph.nodes["fx"], graph.nodes.get("plate")
        if plate is not None:
            plate.cache_enabled = True
        indices = list(range(25, 25 + args.batch))
        for _ in range(2):
            if plate is not None:
                plate.frames(indices).pixels
            node.drop_cache()
            node.frames(indices).pixels
        if cuda:
            torch.cuda.synchronize()
        activities = [torch.profiler.ProfilerActivity.CPU]
        if cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        node.drop_cache()
        with torch.profiler.profile(activities=activities) as prof:
            node.frames(indices).pixels
            if cuda:
                torch.cuda.synchronize()
        graph.close()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    if cuda:
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=args.rows // 2))


if __name__ == "__main__":
    main()
