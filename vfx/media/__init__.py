"""PyAV helpers shared by source and encoder plugins: probing, decoding, encoding, atomic outputs;
and reading .cube LUTs (``lut``)."""
