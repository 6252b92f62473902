"""Pieces of the benchmark harness: input media, workloads, measurement, verification, report."""
