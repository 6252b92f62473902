"""What the built-in encoders share."""

from __future__ import annotations

from pathlib import Path

import vfx
from vfx import ConfigureError, opt


class NumberedFiles(vfx.Encoder):
    """An encoder that writes one file per frame, named by a printf ``path`` pattern and the frame
    index plus ``offset``, into a hidden folder moved into place when every frame is done."""

    #: the file extension the pattern must end with, and what the files are called in errors
    suffix = ""
    described = "image sequences"

    def configure(self):
        super().configure()
        o = self.options
        problem = opt.frame_pattern_error(o.path.name, o.offset + self.video.frame_count - 1)
        if problem:
            raise ConfigureError(problem, option="path")
        if o.path.suffix.lower() != self.suffix:
            raise ConfigureError(f"{self.described} are written as {self.suffix} files", option="path")
        self._dir = None

    def output_paths(self):
        o = self.options
        return [o.path.parent / (o.path.name % (o.offset + i)) for i in range(self.video.frame_count)]

    def begin(self, start, stop):
        self._dir = vfx.AtomicDir(self.options.path.parent)

    def frame_path(self, index: int) -> Path:
        """Where frame ``index`` is written until ``finish`` moves it into place."""
        return Path(self._dir.temp) / (self.options.path.name % (self.options.offset + index))

    def finish(self):
        return self._dir.commit()

    def abort(self):
        if self._dir is not None:
            self._dir.discard()
