"""``encode.exr_sequence``: numbered OpenEXR files, with named layers from other inputs (AOVs)."""

from __future__ import annotations


import vfx
from vfx import ConfigureError, FrameBatch, opt

from ._common import NumberedFiles


class ExrLayerEntry(vfx.Options):
    """One extra layer of an EXR file: a node and the layer name its channels are written under."""

    input = opt.Input(doc="the layer's node (same size as the main input)")
    name = opt.Str(doc="layer name: its channels are NAME.R, NAME.G, NAME.B (NAME.A)")
    data = opt.Bool(False, doc="data, not colour (depth, normals, ids): never colour-converted")


_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class _LayerStack(vfx.Node):
    """The encoder's input and its layer nodes pulled together: (N, 4 * layers, H, W) pixels.

    The engine pulls an encoder's input in its render thread; stacking the layers there keeps
    every node read from that one thread.
    """

    type = "encode.exr_sequence/layers"
    kind = "internal"

    def __init__(self, encoder: vfx.Encoder, nodes: list[vfx.Node]):
        super().__init__(f"{encoder.id}:layers", encoder._options, encoder.ctx)
        self.nodes = nodes
        self.video = nodes[0].video
        self.audio = nodes[0].audio

    def render(self, indices):
        import torch

        parts = [self.pull(node, indices).pixels for node in self.nodes]
        device = parts[0].device
        return FrameBatch(indices, torch.cat([p.to(device) for p in parts], dim=1), owned=True)

    def render_audio(self, start, count):
        return self.nodes[0].audio_samples(start, count)

    def frames(self, indices):
        return self.render(list(indices))


class ExrSequenceEncoder(NumberedFiles):
    """Numbered OpenEXR files, half or float, scanline or tiled, one per frame, named by frame index.

    The graph's pixels (scene-linear, premultiplied alpha) are written as they are: a float file
    holds them exactly. ``layers`` adds more inputs as named layers of the same files (AOVs:
    ``[{input = "diffuse", name = "diffuse"}]`` writes channels ``diffuse.R`` ...), or, with
    ``multipart``, as parts. With a ``[color]`` table the frames are converted from the working
    space into ``color_space`` (default: the config's scene-linear role). The files are written
    into a hidden folder and moved into place when every frame is done.
    """

    type = "encode.exr_sequence"
    suffix, described = ".exr", "EXR sequences"

    class Options(vfx.Options):
        input = opt.Input(doc="the video to write (the default, unnamed RGBA layer)")
        path = opt.OutputPath(doc="printf-style pattern such as out/beauty_%04d.exr")
        pixel_type = opt.Choice("half", choices=("half", "float"), doc="16-bit half or 32-bit float channels")
        compression = opt.Choice(
            "zip",
            choices=("none", "rle", "zips", "zip", "piz", "pxr24", "b44", "b44a", "dwaa", "dwab"),
            doc="compression (zip, piz and none are lossless; dwaa / dwab are lossy and small)",
        )
        dwa_level = opt.Float(
            45.0, min=0.0, max=10000.0, animate=False, doc="DWAA / DWAB quality: higher is smaller and lossier"
        )
        tiled = opt.Bool(False, doc="write tiled files instead of scanlines")
        tile_size = opt.Int(64, min=8, max=4096, animate=False, doc="tile width and height, when tiled")
        alpha = opt.Bool(True, doc="write the A channel when the input has alpha")
        layers = opt.Table(
            ExrLayerEntry, None, min_count=1, doc="extra layers: a list of {input, name, data} tables (AOVs)"
        )
        multipart = opt.Bool(False, doc="write each layer as a part of a multi-part file, not as channels of one")
        offset = opt.Int(0, min=0, animate=False, doc="number added to each frame index in the file name")
        color_space = opt.Str(
            None, doc="OCIO colour space to write, with a [color] table (default: the scene_linear role)"
        )

    def configure(self):
        super().configure()
        main = self.input("input")
        nodes = [main]
        self._names = [""]
        self._colour = [True]  # which layers the [color] output conversion applies to
        for k, entry in enumerate(self.options.layers or []):
            node = self.input(entry.input, ref=True)
            name = entry.name
            if not name or not set(name) <= _NAME_CHARS:
                raise ConfigureError(
                    f"layer {k + 1}: the name {name!r} must be letters, digits, '_' or '-'", option="layers"
                )
            if name in self._names or name.lower() == "rgba":
                raise ConfigureError(
                    f"layer {k + 1}: the name {name!r} is used twice (or is reserved)", option="layers"
                )
            v = node.video
            if v is None:
                raise ConfigureError(f"layer {k + 1}: node '{entry.input}' has no video", option="layers")
            if (v.width, v.height) != (self.video.width, self.video.height):
                raise ConfigureError(
                    f"layer {k + 1}: '{entry.input}' is {v.width}x{v.height}, the input is "
                    f"{self.video.width}x{self.video.height}; add an editor.resize",
                    option="layers",
                )
            if v.frame_count < self.video.frame_count:
                raise ConfigureError(
                    f"layer {k + 1}: '{entry.input}' has {v.frame_count} frames, the input {self.video.frame_count}",
                    option="layers",
                )
            nodes.append(node)
            self._names.append(name)
            self._colour.append(not entry.data)
        self._alphas = [self.options.alpha and n.video.has_alpha for n in nodes]
        if len(nodes) > 1:  # the engine pulls "input": stack the layers there, in its render thread
            self._inputs["input"] = _LayerStack(self, nodes)
        from vfx.ops.ocio import encoder_transform

        try:
            self._transform = encoder_transform(
                self.ctx.settings, self.options.color_space, default_role="scene_linear"
            )
        except vfx.VfxError as exc:
            raise ConfigureError(str(exc), option="color_space") from None

    def prepare(self, batch):
        """The batch as (index, {layer name: (H, W, 4) float32 array}) per frame, on the CPU."""
        pixels = batch.pixels
        if pixels.device.type != "cpu":
            pixels = pixels.cpu()
        layers = [pixels[:, 4 * k : 4 * k + 4] for k in range(len(self._names))]
        if self._transform is not None:
            layers = [self._transform.apply(p) if colour else p for p, colour in zip(layers, self._colour)]
        frames = []
        for n, i in enumerate(batch.indices):
            frames.append((i, {name: layer[n].permute(1, 2, 0).numpy() for name, layer in zip(self._names, layers)}))
        return frames

    def write(self, frames, audio):
        from vfx.media import write_exr

        if isinstance(frames, FrameBatch):
            frames = self.prepare(frames)
        o = self.options
        for i, layers in frames:
            write_exr(
                self.frame_path(i),
                layers,
                pixel_type=o.pixel_type,
                compression=o.compression,
                tiled=o.tiled,
                tile_size=o.tile_size,
                alpha=dict(zip(self._names, self._alphas)),
                multipart=o.multipart,
                attributes={"dwaCompressionLevel": float(o.dwa_level)} if o.compression.startswith("dwa") else None,
            )
