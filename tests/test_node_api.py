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


PUBLIC_PACKAGES = ("vfx", "vfx.media", "vfx.models")


def _public_module(module: str) -> bool:
    return module in PUBLIC_PACKAGES or module == "vfx.ops" or module.startswith("vfx.ops.")


def test_built_in_and_example_plugins_import_only_the_public_surface():
    """Plugins use names exported by ``vfx``, ``vfx.ops``, ``vfx.media`` and ``vfx.models`` only."""
    import ast
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*(root / "plugins").rglob("*.py"), *(root / "examples").rglob("*.py")]
    assert len(files) > 40
    wrong = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [(a.name, None) for a in node.names if a.name.split(".")[0] == "vfx"]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "vfx":
                found = [(node.module, a.name) for a in node.names]
            else:
                continue
            for module, name in found:
                where = f"{path.relative_to(root)}:{node.lineno}"
                if not _public_module(module):
                    wrong.append(f"{where} imports {module}")
                    continue
                if name is None:
                    continue
                exported = getattr(importlib.import_module(module), "__all__", None)
                if name.startswith("_") or (exported is not None and name not in exported):
                    wrong.append(f"{where} imports {name} from {module}, which does not export it")
    assert not wrong, "\n".join(wrong)


def test_every_name_vfx_media_exports_resolves():
    import vfx.media

    for name in vfx.media.__all__:
        assert getattr(vfx.media, name) is not None, name
