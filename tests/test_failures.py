"""A failed render leaves nothing half-written and never touches what was already there."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

import vfx
from vfx.errors import RenderError
from vfx.engine import RenderOptions, render
from vfx.graph import build
from vfx.pipeline import load
from vfx.plugins import get_registry

from conftest import VFX, write_pipeline


class FailAt(vfx.Effect):
    """Passes frames through, then raises at one frame (for tests)."""

    type = "test.fail_at"

    class Options(vfx.Options):
        input = vfx.opt.Input(doc="input")
        frame = vfx.opt.Int(10, doc="frame that fails")

    def configure(self):
        self.video = self.input("input").video

    def render(self, indices):
        if self.options.frame in indices:
            raise ZeroDivisionError("boom at frame %d" % self.options.frame)
        return self.pull(self.input("input"), indices)


@pytest.fixture
def failing_node():
    reg = get_registry()
    reg.nodes[FailAt.type] = FailAt
    reg.node_plugin[FailAt.type] = "tests"
    yield
    reg.nodes.pop(FailAt.type)
    reg.node_plugin.pop(FailAt.type)


PIPE = """
    [pipeline]
    width = 64
    height = 64
    duration = 40
    [nodes.bars]
    type = "source.testpattern"
    tone = 440
    [nodes.fail]
    type = "test.fail_at"
    input = "bars"
    frame = 30
    [nodes.out]
    type = "{enc}"
    input = "fail"
    path = "{path}"
"""


@pytest.mark.parametrize("enc,path", [("encode.video", "out.mp4"), ("encode.image_sequence", "seq/f_%03d.png")])
def test_failure_mid_render_leaves_no_output_and_keeps_existing(tmp_path, failing_node, enc, path):
    p = write_pipeline(tmp_path, PIPE.format(enc=enc, path=path))
    existing = tmp_path / (path % 0 if "%" in path else path)
    existing.parent.mkdir(exist_ok=True)
    existing.write_bytes(b"precious")
    before = sorted(os.listdir(existing.parent))
    with pytest.raises(RenderError) as info:
        render(build(load(p)), RenderOptions(device="cpu", batch_size=4))
    assert "node 'fail'" in str(info.value) and "boom at frame 30" in str(info.value)
    assert existing.read_bytes() == b"precious"
    assert sorted(os.listdir(existing.parent)) == before


def test_failed_render_exits_1_without_traceback(tmp_path):
    """The CLI path: a failing node in a plugin module loaded by a subprocess."""
    (tmp_path / "failplug.py").write_text(
        textwrap.dedent('''
        import vfx

        class Fail(vfx.Effect):
            """Fails at frame 5."""
            type = "test.fail"
            class Options(vfx.Options):
                input = vfx.opt.Input(doc="input")
            def configure(self):
                self.video = self.input("input").video
            def render(self, indices):
                if 5 in indices:
                    raise RuntimeError("kaput")
                return self.pull(self.input("input"), indices)

        @vfx.hookimpl
        def register_nodes(register):
            register(Fail)
    ''')
    )
    dist = tmp_path / "failplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: failplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vfx]\nfailplug = failplug\n")
    p = write_pipeline(
        tmp_path,
        PIPE.replace("test.fail_at", "test.fail").replace("frame = 30\n", "").format(enc="encode.video", path="o.mp4"),
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([VFX, "render", str(p)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    assert "node 'fail'" in proc.stderr and "kaput" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.mp4").exists()
    assert [f for f in os.listdir(tmp_path) if "partial" in f] == []
    debug = subprocess.run([VFX, "--debug", "render", str(p)], capture_output=True, text=True, env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_broken_plugin_is_reported_and_others_still_load(tmp_path):
    (tmp_path / "brokenplug.py").write_text("import not_a_module_anywhere\n")
    dist = tmp_path / "brokenplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[vfx]\nbroken = brokenplug\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    proc = subprocess.run([VFX, "plugins"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0
    assert "FAILED broken (brokenplug): ModuleNotFoundError: No module named 'not_a_module_anywhere'" in proc.stdout
    assert "source.video" in proc.stdout and "encode.video" in proc.stdout
    nodes = subprocess.run([VFX, "nodes", "--json"], capture_output=True, text=True, env=env)
    assert nodes.returncode == 0 and '"editor.composite"' in nodes.stdout
