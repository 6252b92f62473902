"""Run one command as a subprocess and measure its wall time, CPU time and peak tree RSS.

Peak memory is sampled: every ``POLL_SECONDS`` the RSS of the process and all its descendants is
summed (MoviePy runs ffmpeg readers and a writer as children, so the tree is what counts). Pages
shared between processes count in each of them, as ``ps`` shows them.
"""

from __future__ import annotations

import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

POLL_SECONDS = 0.05
MIB = 1 << 20


@dataclass
class Measurement:
    """What one run cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int


def tree_rss(proc: psutil.Process) -> int:
    """Bytes resident in ``proc`` and its descendants now (processes that vanish count as 0)."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def children_cpu_seconds() -> float:
    """User plus system time of every waited-for descendant of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class PeakSampler(threading.Thread):
    """Polls a process tree's RSS in the background and keeps the largest sum seen."""

    def __init__(self, proc: psutil.Process):
        super().__init__(daemon=True)
        self.proc = proc
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, tree_rss(self.proc))
            self.stopped.wait(POLL_SECONDS)

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self.stopped.set()
        self.join()
        return self.peak


def run_measured(command: list[str], log_path: Path) -> Measurement:
    """Run ``command`` to completion, its output going to ``log_path``, and measure it."""
    cpu_before = children_cpu_seconds()
    with open(log_path, "w") as log:
        started = time.perf_counter()
        proc = psutil.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sampler = PeakSampler(proc)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - started
    peak = sampler.stop()
    return Measurement(
        wall_s=wall,
        cpu_s=children_cpu_seconds() - cpu_before,
        peak_rss_mib=peak / MIB,
        returncode=proc.returncode,
    )
