"""Where one node's time goes: torch's profiler over a 1080p render of its frames.

Builds the same one-node pipeline as ``effects.py`` (a gradient plate under an effect, or the
background alone), renders a warm-up batch, then profiles one batch and prints the operators
that took the most time (self CPU time, and CUDA time on a GPU).

    .venv/bin/python benchmarks/profile_node.py background.mountains [--device cuda] [--batch 8] [--rows 25]
"""

from __future__ import annotations

import argparse

import torch

from effects import SETTINGS, START, one_node
from vfx.engine import configure_threads, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("node_type")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rows", type=int, default=25)
    args = parser.parse_args()
    device = resolve_device(args.device)
    configure_threads(device)
    cuda = str(device).startswith("cuda")
    indices = list(range(START, START + args.batch))
    with one_node(args.node_type, device, SETTINGS.get(args.node_type, "")) as (node, plate):
        for _ in range(2):  # warm-up
            if plate is not None:
                _ = plate.frames(indices).pixels
            node.drop_cache()
            _ = node.frames(indices).pixels
        if cuda:
            torch.cuda.synchronize()
        activities = [torch.profiler.ProfilerActivity.CPU]
        if cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        node.drop_cache()
        with torch.profiler.profile(activities=activities) as prof:
            _ = node.frames(indices).pixels
            if cuda:
                torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    if cuda:
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=args.rows // 2))


if __name__ == "__main__":
    main()
