"""The Node API a plugin uses: animated options for a batch and at sub-frame times, the frame-by-frame
fallback (which does not change the node), inputs and the engine's one-batch cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vfx
from vfx import opt
from vfx.engine import share
from vfx.options import ParseContext

from conftest import TensorClip


class Tint(vfx.Effect):
    """Multiplies by ``gain``; renders frame by frame, recording what it saw."""

    type = "test.tint"

    class Options(vfx.Effect.Options):
        gain = opt.Float(1.0)
        offset = opt.Vec([0.0, 0.0])
        label = opt.Str("x")
        unset = opt.Float(None)

    def __init__(self, *args):
        super().__init__(*args)
        self.seen = []

    def render(self, indices):
        self.seen.append((list(indices), self.options.gain))
        src = self.pull(self.input("input"), indices)
        return vfx.FrameBatch(indices, src.pixels * self.options.gain)


def tint(**options) -> Tint:
    parsed = Tint.Options.from_mapping({"input": "src", **options}, ParseContext())
    node = Tint("fx", parsed, vfx.NodeContext("fx", vfx.PipelineSettings()))
    node.connect({"input": TensorClip(torch.ones(1, 4, 2, 2), count=10)})
    node.configure()
    return node


def test_values_for_evaluates_every_animatable_option_that_is_set():
    node = tint(gain={"keyframes": [[0, 0.0], [4, 1.0]]}, offset=[1.0, 2.0])
    vals = node.values_for([0, 2, 4])
    assert set(vals) == {"gain", "offset"}  # no strings, no unset options
    assert vals["gain"].tolist() == [0.0, 0.5, 1.0]
    assert vals["offset"].shape == (3, 2)
    assert set(node.values_for([1], ["gain"])) == {"gain"}


def test_values_at_sub_frame_times_and_constants():
    node = tint(gain={"keyframes": [[0, 0.0], [4, 1.0]]})
    assert node.values_at("gain", [1.0, 1.5]).tolist() == pytest.approx([0.25, 0.375])
    assert node.values_at("offset", np.array([0.5, 2.5])).tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_the_frame_by_frame_fallback_does_not_change_the_node():
    node = tint(gain={"keyframes": [[0, 0.0], [4, 1.0]]})
    before = node.options
    out = node.frames([0, 2, 4])
    assert node.seen == [([0], 0.0), ([2], 0.5), ([4], 1.0)]  # plain values, one frame at a time
    assert node.options is before and isinstance(node.options.gain, vfx.Animated)
    assert out.pixels[:, 0, 0, 0].tolist() == [0.0, 0.5, 1.0]


def test_a_shared_node_renders_a_batch_once_and_is_never_handed_out_writable():
    node = tint(gain=2.0)
    share(node)
    a, b = node.frames([1, 2]), node.frames([1, 2])
    assert a is b and len(node.seen) == 1
    consumer = tint()
    assert consumer.pull_writable(node, [1, 2]) is not a.pixels
    node.drop_cache()
    node.frames([1, 2])
    assert len(node.seen) == 2
    share(node, False)
    assert node.frames([1, 2]) is not node.frames([1, 2])
