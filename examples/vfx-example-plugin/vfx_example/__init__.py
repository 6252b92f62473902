"""vfx-example-plugin: an example third-party plugin for vfx (the ``example.posterize`` effect)."""

__version__ = "0.1.0"
