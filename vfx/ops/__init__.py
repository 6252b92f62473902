"""Pixel operations, each written once with a documented contract, for the engine and for plugins.

``vfx.ops.backend`` decides which path (torch on any device, or a CPU fast path: Numba, OpenCV)
an op takes.
"""
