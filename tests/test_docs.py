"""The docs a user reads stay true: the node reference is what the schemas say, every hook is documented."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import vfx.hookspecs

ROOT = Path(__file__).resolve().parent.parent


def test_node_reference_is_generated_from_current_schemas():
    res = subprocess.run([sys.executable, str(ROOT / "docs" / "make_node_reference.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, "docs/nodes.md is stale: run `make docs`\n" + res.stdout + res.stderr


def test_every_hook_has_a_docstring_and_a_guide_entry():
    guide = (ROOT / "docs" / "writing-plugins.md").read_text()
    hooks = [name for name in dir(vfx.hookspecs) if name.startswith("register_")]
    assert hooks
    for name in hooks:
        assert getattr(vfx.hookspecs, name).__doc__, name
        assert f"`{name}(" in guide, name


def test_readme_promises_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
