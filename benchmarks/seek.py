"""Opening, indexing and random seeks in a 1-minute 1080p H.264 clip, in MP4 and MPEG-TS.

    .venv/bin/python benchmarks/seek.py [--seeks 24] [--old-decode FILE]

Makes ``benchmarks/work/inputs/seek_1080p.mp4`` (testsrc2, 60 s at 30 fps, 60-frame GOPs with
B-frames, ~18 Mb/s) and a ``.ts`` copy of it once. Reports the cost of indexing each (the packets
demuxed, no decoding: what ``source.video`` pays on the first open of a file, scaled to 10
minutes), the cost of reading the index back from the disk cache, and the mean latency of random
seeks through ``VideoReader``, checking each frame's timestamp. ``--old-decode`` takes another
``vfx/media/decode.py`` (``git show REV:vfx/media/decode.py > old.py``) with the constant-rate
``VideoReader(path, out_fps, frame_count, src_fps)`` of before the index, to compare.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INPUTS = ROOT / "work" / "inputs"


def inputs() -> list[Path]:
    import imageio_ffmpeg

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    mp4, ts = INPUTS / "seek_1080p.mp4", INPUTS / "seek_1080p.ts"
    INPUTS.mkdir(parents=True, exist_ok=True)
    if not mp4.exists():
        subprocess.run(
            [
                ff,
                "-y",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=s=1920x1080:r=30:d=60",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-crf",
                "20",
                "-g",
                "60",
                "-bf",
                "3",
                str(mp4),
            ],
            check=True,
        )
    if not ts.exists():
        subprocess.run([ff, "-y", "-loglevel", "error", "-i", str(mp4), "-c", "copy", str(ts)], check=True)
    return [mp4, ts]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeks", type=int, default=24)
    ap.add_argument("--old-decode", type=Path, default=None)
    args = ap.parse_args()
    files = inputs()
    cache = tempfile.mkdtemp(prefix="vfx-seek-bench-")
    os.environ["VFX_CACHE_DIR"] = cache
    from vfx.media import index as index_module
    from vfx.media.decode import VideoReader

    old = None
    if args.old_decode:
        spec = importlib.util.spec_from_file_location("vfx.media._old_decode", args.old_decode)
        old = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old)
    for path in files:
        builds = []
        for _ in range(3):
            index_module._CACHE.clear()
            for f in Path(cache).rglob("*.json"):
                f.unlink()
            index_module.DISK_CACHE_MIN_SECONDS = 0.0
            t = time.perf_counter()
            index = index_module.frame_index(path)
            builds.append(time.perf_counter() - t)
        index_module._CACHE.clear()
        t = time.perf_counter()
        index_module.frame_index(path)
        disk = time.perf_counter() - t
        n = len(index)
        build = min(builds)
        print(
            f"{path.name}: {n} frames, {path.stat().st_size / 1e6:.0f} MB; index {build * 1000:.0f} ms "
            f"(median of 3: {sorted(builds)[1] * 1000:.0f} ms; {build * 10:.1f} s per 10 min), "
            f"from the disk cache {disk * 1000:.1f} ms"
        )
        rng = random.Random(7)
        wanted = [rng.randrange(n) for _ in range(args.seeks)]
        readers = [("indexed", lambda path=path, index=index: VideoReader(path, index, Fraction(30)))]
        if old is not None:
            readers.append(("before", lambda path=path, n=n: old.VideoReader(path, Fraction(30), n, Fraction(30))))
        for name, make in readers:
            reader = make()
            t = time.perf_counter()
            got = [reader.frames([k])[0].pts for k in wanted]
            dt = (time.perf_counter() - t) / len(wanted)
            reader.close()
            exact = sum(g == index.pts[k] for g, k in zip(got, wanted))
            print(f"  {name}: {dt * 1000:.0f} ms per random seek, {exact}/{len(wanted)} frames exact")


if __name__ == "__main__":
    sys.exit(main())
