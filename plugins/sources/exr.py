"""``source.exr_sequence``: OpenEXR frames (one file, or a numbered sequence)."""

from __future__ import annotations

import bisect
from pathlib import Path

import vfx
from vfx import ConfigureError, FrameBatch, StreamInfo, opt

from ._common import find_sequence


class ExrSequenceSource(vfx.Source):
    """OpenEXR images, half or float, any compression, scanline or tiled: a numbered sequence
    named by a printf pattern (``renders/beauty_%04d.exr``, one file a frame) or one file held for
    ``duration``.

    EXR pixels are scene-linear with premultiplied alpha, the graph's own model: values enter the
    graph unchanged (a float file exactly). ``layer`` picks a named layer or part (``diffuse``
    for channels ``diffuse.R`` ...; ``vfx probe FILE`` lists them); by default the unnamed RGBA
    layer, else the first. The frame is the display window: data outside it is cut off, and
    display-window pixels without data are transparent. A layer without an A channel is opaque.
    With a ``[color]`` table the frames are converted from ``color_space`` (default: the
    config's scene-linear role) into the working space.
    """

    type = "source.exr_sequence"

    class Options(vfx.Options):
        path = opt.InputPath(pattern=True, doc="an .exr file, or a printf-style pattern: renders/beauty_%04d.exr")
        layer = opt.Str(None, doc="layer or part to read (default: the unnamed RGBA layer, else the first)")
        start_number = opt.Int(None, min=0, animate=False, doc="number of the first image (default: the lowest found)")
        gaps = opt.Choice(
            "error", choices=("error", "hold"), doc="a missing number: an error, or hold the image before it"
        )
        alpha = opt.Bool(None, doc="keep the layer's alpha (default: when it has an A channel); false: opaque")
        duration = opt.Time(None, min_frames=1, doc="how long to hold a single file (default: the pipeline duration)")
        color_space = opt.Str(
            None, doc="OCIO colour space of the files, with a [color] table (default: the scene_linear role)"
        )

    def configure(self):
        from vfx.media import exr_header, memory_limit

        pattern = str(self.options.path)
        self._single = "%" not in Path(pattern).name
        if self._single:
            if not Path(pattern).is_file():
                raise ConfigureError(f"file not found: {pattern}", option="path")
            self._start, self._numbers = 0, [0]
            first = Path(pattern)
        else:
            start, numbers = find_sequence(pattern, self.options.start_number, self.options.gaps)
            self._start, self._numbers = start, numbers
            first = Path(pattern % start)
        try:
            header = exr_header(first)
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="path") from None
        try:
            layer = header.layer(self.options.layer)
        except vfx.MediaError as exc:
            raise ConfigureError(str(exc), option="layer") from None
        budget = memory_limit()
        if header.decode_bytes > budget:
            raise ConfigureError(
                f"{first}: the image is {header.width}x{header.height}; a frame needs "
                f"{header.decode_bytes / 2**20:.0f} MiB, over the memory budget of {budget / 2**20:.0f} MiB "
                "(raise it with --max-memory or VFX_MAX_MEMORY)",
                option="path",
            )
        self._layer = layer.name if self.options.layer is not None else self.options.layer
        alpha = layer.has_alpha if self.options.alpha is None else self.options.alpha and layer.has_alpha
        count = (self.options.duration or self.ctx.settings.duration) if self._single else numbers[-1] - start + 1
        self.video = StreamInfo(header.width, header.height, self.ctx.settings.fps, count, bool(alpha))
        self._transform = None
        from vfx.ops.ocio import source_transform

        try:
            self._transform = source_transform(self.ctx.settings, self.options.color_space, default_role="scene_linear")
        except vfx.VfxError as exc:
            raise ConfigureError(str(exc), option="color_space") from None

    def _file(self, frame: int) -> Path:
        """The file shown at ``frame``: its own number, or with gaps held the last one before it."""
        if self._single:
            return Path(self.options.path)
        k = bisect.bisect_right(self._numbers, self._start + frame) - 1
        return Path(str(self.options.path) % self._numbers[k])

    def input_files(self):
        if getattr(self, "_single", True):
            return [Path(self.options.path)]
        return [Path(str(self.options.path) % n) for n in getattr(self, "_numbers", [])]

    def render(self, indices):
        from vfx.media import ImageRenderError, read_exr

        v = self.video
        pixels = vfx.empty_pixels(len(indices), v.height, v.width)
        nhwc = pixels.permute(0, 2, 3, 1).numpy()
        done: dict[Path, int] = {}
        for k, i in enumerate(indices):
            path = self._file(i)
            if path in done:  # a held image: copy the frame already read
                nhwc[k] = nhwc[done[path]]
                continue
            try:
                read_exr(path, self._layer, out=nhwc[k])
            except vfx.MediaError as exc:
                raise ImageRenderError(str(exc), node=self.id) from None
            done[path] = k
        if not v.has_alpha:
            nhwc[..., 3] = 1.0
        if self._transform is not None:
            pixels = self._transform.apply(pixels)
        return FrameBatch(indices, pixels if str(self.device) == "cpu" else pixels.to(self.device), owned=True)
