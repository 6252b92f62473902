"""``source.image`` and ``source.image_sequence``."""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np

import vfx
from vfx import ConfigureError, FrameBatch, StreamInfo, opt

from ._common import find_sequence


class ImageSource(vfx.Source):
    """A still image (PNG, JPEG, TIFF, ...) held for a duration.

    It has alpha when its pixels use it (one below full opacity), unless ``alpha`` says otherwise.
    Its size is read from the header and checked against the memory budget (``--max-memory``)
    before it is decoded; an image in a format without alpha is decoded only when rendered.
    """

    type = "source.image"

    class Options(vfx.Options):
        path = opt.InputPath(doc="the image file, relative to the pipeline file")
        duration = opt.Time(None, min_frames=1, doc="how long to hold it (default: the pipeline duration)")
        alpha = opt.Bool(None, doc="keep the image's alpha (default: when its pixels use it); false: opaque")

    def configure(self):
        from vfx.media import check_budget, image_header, memory_limit, read_image

        path = self.options.path
        self._rgba = None
        try:
            header = image_header(path)
            check_budget(path, header, memory_limit())
            alpha = self.options.alpha
            if alpha is None and header.has_alpha:
                self._rgba = read_image(path)
                alpha = bool((self._rgba[..., 3] < 255).any())
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        self.video = StreamInfo(
            header.width,
            header.height,
            self.ctx.settings.fps,
            self.options.duration or self.ctx.settings.duration,
            bool(alpha),
        )
        self._pixels = None

    def input_files(self):
        return [self.options.path]

    def render(self, indices):
        if self._pixels is None:
            from vfx.media import read_image
            from vfx.ops import color

            rgba = self._rgba if self._rgba is not None else read_image(self.options.path)
            if not self.video.has_alpha:
                rgba[..., 3] = 255
            self._pixels = color.to_linear(rgba[None], device=self.device, premultiply=self.video.has_alpha)
            self._rgba = None
        return FrameBatch(indices, self._pixels.expand(len(indices), -1, -1, -1))


class ImageSequenceSource(vfx.Source):
    """Numbered images named by a printf pattern such as ``shots/plate_%04d.png``, one a frame.

    The sequence runs from ``start_number`` (default: the lowest number found) to the highest
    number found. A missing number is an error naming it, unless ``gaps = "hold"``: then the image
    before the gap is held through it. The sequence has alpha when its first image's pixels use it
    (as ``source.image``), unless ``alpha`` says otherwise; an image that uses alpha in a sequence
    without it is an error. Every image is checked against the memory budget (``--max-memory``)
    from its header before it is decoded; all must have the size of the first.
    """

    type = "source.image_sequence"

    class Options(vfx.Options):
        path = opt.InputPath(pattern=True, doc="printf-style pattern: frames/img_%04d.png")
        start_number = opt.Int(None, min=0, animate=False, doc="number of the first image (default: the lowest found)")
        gaps = opt.Choice(
            "error", choices=("error", "hold"), doc="a missing number: an error, or hold the image before it"
        )
        alpha = opt.Bool(
            None, doc="keep the images' alpha (default: when the first image's pixels use it); false: opaque"
        )

    def configure(self):
        self._numbers: list[int] = []  # the numbers of the images found, from the first shown
        pattern = str(self.options.path)
        start, numbers = find_sequence(pattern, self.options.start_number, self.options.gaps)
        self._start, self._numbers = start, numbers
        from vfx.media import check_budget, image_header, memory_limit, read_image

        first_path = Path(pattern % start)
        try:
            self._budget = memory_limit()
            header = image_header(first_path)
            check_budget(first_path, header, self._budget)
            alpha = self.options.alpha
            if alpha is None:
                alpha = header.has_alpha and bool((read_image(first_path)[..., 3] < 255).any())
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        self.video = StreamInfo(
            header.width, header.height, self.ctx.settings.fps, numbers[-1] - start + 1, bool(alpha)
        )

    def _file(self, frame: int) -> Path:
        """The image shown at ``frame``: its own number, or with gaps held the last one before it."""
        k = bisect.bisect_right(self._numbers, self._start + frame) - 1
        return Path(str(self.options.path) % self._numbers[k])

    def input_files(self):
        return [Path(str(self.options.path) % n) for n in getattr(self, "_numbers", [])]

    def render(self, indices):
        from vfx.media import ImageRenderError, read_image
        from vfx.ops import color

        arrays = []
        for i in indices:
            path = self._file(i)
            try:
                arr = read_image(path, self._budget)
            except vfx.MediaError as exc:
                raise ImageRenderError(str(exc), node=self.id) from None
            if arr.shape[:2] != (self.video.height, self.video.width):
                raise ImageRenderError(
                    f"{path} is {arr.shape[1]}x{arr.shape[0]}, the first image is "
                    f"{self.video.width}x{self.video.height}",
                    node=self.id,
                )
            if not self.video.has_alpha:
                if self.options.alpha is None and (arr[..., 3] < 255).any():
                    raise ImageRenderError(
                        f"{path} uses alpha but the first image of the sequence does not; set "
                        "alpha = true to keep it (or false to drop it)",
                        node=self.id,
                    )
                arr[..., 3] = 255
            arrays.append(arr)
        return FrameBatch(
            indices, color.to_linear(np.stack(arrays), device=self.device, premultiply=self.video.has_alpha)
        )
