"""``encode.image_sequence``: numbered PNG files."""

from __future__ import annotations

import vfx
from vfx import opt

from ._common import NumberedFiles


class ImageSequenceEncoder(NumberedFiles):
    """Numbered PNG files (8 or 16 bits, alpha kept), one per frame, named by frame index.

    The files are written into a hidden folder and moved into place when every frame is done.
    """

    type = "encode.image_sequence"
    needs_torch = False
    suffix, described = ".png", "image sequences"

    class Options(vfx.Options):
        input = opt.Input(doc="the video to write")
        path = opt.OutputPath(doc="printf-style pattern such as out/frame_%04d.png")
        bits = opt.Choice("8", choices=("8", "16"), doc="bits per channel")
        alpha = opt.Bool(True, doc="keep the alpha channel (RGBA) when the input has one")
        offset = opt.Int(0, min=0, animate=False, doc="number added to each frame index in the file name")

    def prepare(self, batch):
        from vfx.ops import color

        alpha = self.options.alpha and self.video.has_alpha
        return list(zip(batch.indices, color.from_linear(batch.pixels, alpha=alpha, bits=int(self.options.bits))))

    def write(self, frames, audio):
        from vfx.media import write_png

        if isinstance(frames, vfx.FrameBatch):
            frames = self.prepare(frames)
        for i, rgb in frames:
            write_png(self.frame_path(i), rgb)
