"""Pixel operations, each written once with a documented contract, for the engine and for plugins.

``vfx.ops.backend`` decides which path (torch on any device, or a CPU fast path: Numba, OpenCV)
an op takes.

- ``color``: the sRGB curve, premultiplied alpha, Rec.709 luma, BT.709 Y'CbCr, hex colours, and
  the 8/16-bit media boundary (``to_linear``, ``from_linear``);
- ``filters``: the Gaussian blur (``border=``, ``truncate=``), box blur, erode / dilate;
- ``resample``: resize, box down / bilinear up by integer factors, affine warps, remap;
- ``lut``: 3-D LUT application;
- ``composite``: where a layer lands on a canvas, and blending it into that region in place.
"""
