"""PyAV helpers shared by source and encoder plugins: probing, decoding, encoding;
and reading .cube LUTs (``lut``)."""
