"""Unit tests for example.posterize: the node is built directly, fed by a tiny in-memory source.

No pipeline file, registry or encoder is needed, so these run in milliseconds. The vfx repository
also renders a real pipeline through the installed plugin (tests/test_example_plugin.py there).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from vfx_example.posterize import Posterize, level_values, register_commands, register_nodes

import vfx
from vfx import NodeContext, OptionError, ParseContext, PipelineSettings
from vfx.ops.color import srgb_encode


class Frames(vfx.Source):
    """A source that serves frames from a tensor, standing in for a real input node."""

    type = "test.frames"

    def __init__(self, pixels):
        super().__init__("src", vfx.Options(), NodeContext("src", PipelineSettings()))
        self.pixels = pixels
        n, _, h, w = pixels.shape
        self.video = vfx.StreamInfo(w, h, Fraction(24), n)

    def render(self, indices):
        return vfx.FrameBatch(indices, self.pixels[indices])


def make(src, seed=1, **options):
    """A configured Posterize node reading ``src``, the way the graph would build it."""
    parsed = Posterize.Options.from_mapping({"input": "src", **options}, ParseContext())
    node = Posterize("poster", parsed, NodeContext("poster", PipelineSettings(seed=seed)))
    node.connect({"input": src})
    node.configure()
    return node


def frames(n=3, h=8, w=8, alpha=1.0):
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand((n, 3, h, w), generator=g) * alpha
    return torch.cat([rgb, torch.full((n, 1, h, w), alpha)], dim=1)


def test_each_channel_takes_only_the_given_levels():
    out = make(Frames(frames()), levels=4).frames([0, 1, 2]).pixels
    steps = srgb_encode(out[:, :3]) * 3  # 0, 1, 2 or 3 in sRGB steps
    assert torch.allclose(steps, steps.round(), atol=1e-4)
    assert len(steps.round().unique()) == 4


def test_linear_space_steps_are_even_in_linear_light():
    out = make(Frames(frames()), levels=3, space="linear").frames([0]).pixels
    assert set((out[:, :3] * 2).round().unique().tolist()) <= {0.0, 1.0, 2.0}


def test_the_input_tensor_is_not_modified():
    pixels = torch.rand(3, 4, 8, 8)
    before = pixels.clone()
    make(Frames(pixels), levels=2, dither=0.5).frames([0, 1, 2])
    assert torch.equal(pixels, before)


def test_mix_blends_between_input_and_posterized():
    src = Frames(frames())
    full = make(src, levels=2).frames([0]).pixels
    none = make(src, levels=2, mix=0.0).frames([0]).pixels
    half = make(src, levels=2, mix=0.5).frames([0]).pixels
    assert torch.equal(none, src.pixels[[0]])
    assert torch.allclose(half, (full + none) / 2, atol=1e-6)


def test_alpha_is_kept_and_colour_stays_premultiplied():
    out = make(Frames(frames(alpha=0.5)), levels=4).frames([0]).pixels
    assert torch.all(out[:, 3] == 0.5)
    assert torch.all(out[:, :3] <= out[:, 3:4] + 1e-6)


def test_dither_is_the_same_for_a_frame_in_any_batch():
    src = Frames(frames(n=4))
    whole = make(src, levels=2, dither=1.0).frames([0, 1, 2, 3]).pixels
    alone = make(src, levels=2, dither=1.0).frames([2]).pixels
    assert torch.equal(whole[2:3], alone)
    other_seed = make(src, seed=2, levels=2, dither=1.0).frames([2]).pixels
    assert not torch.equal(alone, other_seed)


def test_video_and_audio_info_pass_through():
    src = Frames(frames())
    src.audio = vfx.AudioInfo(48000, 2, 6000)
    node = make(src)
    assert node.video == src.video and node.audio == src.audio


@pytest.mark.parametrize(
    "options, option",
    [({"levels": 1}, "levels"), ({"mix": 2}, "mix"), ({"space": "lab"}, "space"), ({"level": 4}, "level")],
)
def test_bad_options_are_refused_with_the_option_named(options, option):
    with pytest.raises(OptionError) as info:
        Posterize.Options.from_mapping({"input": "src", **options}, ParseContext())
    assert [name for name, _ in info.value.errors] == [option]


def test_register_nodes_registers_the_class():
    seen = []
    register_nodes(seen.append)
    assert seen == [Posterize] and Posterize.type == "example.posterize" and Posterize.kind == "effect"


def test_a_mask_limits_the_effect():
    # Options extend vfx.Effect.Options, so ``mask`` is there and the engine blends by its alpha
    pixels = frames(n=1)
    mask_pixels = torch.zeros_like(pixels)
    mask_pixels[:, :, :, 4:] = 1.0  # the right half opaque: posterized there only
    mask = Frames(mask_pixels)
    parsed = Posterize.Options.from_mapping({"input": "src", "mask": "m", "levels": 2}, ParseContext())
    node = Posterize("poster", parsed, NodeContext("poster", PipelineSettings()))
    node.connect({"input": Frames(pixels), "mask": mask})
    node.configure()
    out = node.frames([0]).pixels
    full = make(Frames(pixels), levels=2).frames([0]).pixels
    assert torch.equal(out[..., :4], pixels[..., :4])
    assert torch.allclose(out[..., 4:], full[..., 4:])


def test_the_posterize_levels_command():
    import click
    from click.testing import CliRunner

    cli = click.Group()
    register_commands(cli)
    assert CliRunner().invoke(cli, ["posterize-levels", "4"]).output == "0 85 170 255\n"
    assert CliRunner().invoke(cli, ["posterize-levels", "3", "--space", "linear"]).output == "0 188 255\n"
    assert level_values(4) == [0, 85, 170, 255]
