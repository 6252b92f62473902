"""The docs a user reads stay true: the node reference is what the schemas say, every hook is
documented, and the plugin guide's code runs as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import vfx.hookspecs

ROOT = Path(__file__).resolve().parent.parent


def test_node_reference_is_generated_from_current_schemas():
    res = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_node_reference.py"), "--check"], capture_output=True, text=True
    )
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


# --- the plugin guide runs as written ---------------------------------------------------------

GUIDE = ROOT / "docs" / "writing-plugins.md"
EXAMPLE = ROOT / "examples" / "vfx-example-plugin"
FRAGMENT = "<!-- fragment"  # a comment just before a block that is deliberately partial
MAX_FRAGMENTS = 2


def code_blocks(text: str, lang: str) -> list[tuple[int, str, bool]]:
    """(line number, code, is a fragment) of every fenced ``lang`` block, list-item blocks dedented."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == f"```{lang}":
            indent = line[: len(line) - len(line.lstrip())]
            before = next((b.strip() for b in reversed(lines[:i]) if b.strip()), "")
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            code = "\n".join(b[len(indent) :] if b.startswith(indent) else b for b in lines[i + 1 : j]) + "\n"
            blocks.append((i + 1, code, before.startswith(FRAGMENT)))
            i = j
        i += 1
    return blocks


def guide_block_after(text: str, marker: str, lang: str = "python") -> str:
    """The first ``lang`` block after the paragraph that holds ``marker``."""
    start = text.index(marker)
    return next(code for line, code, _ in code_blocks(text[start:], lang))


def _run_block(path: Path, code: str) -> dict:
    """Run ``code`` as the file ``path`` (Numba caches kernels beside their file), then every
    ``test_*`` function it defines; return its globals."""
    import inspect
    import runpy

    path.write_text(code, encoding="utf-8")
    namespace = runpy.run_path(str(path), run_name=f"guide_{path.stem}")
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and callable(fn) and not inspect.signature(fn).parameters:
            fn()
    return namespace


@pytest.fixture
def example_importable(monkeypatch):
    """``vfx_example`` importable from its source (as the example's own tests see it)."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    for name in [m for m in sys.modules if m == "vfx_example" or m.startswith("vfx_example.")]:
        del sys.modules[name]


def test_every_python_block_in_the_plugin_guide_runs(tmp_path, example_importable):
    blocks = code_blocks(GUIDE.read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 6
    fragments = [line for line, _, fragment in blocks if fragment]
    assert len(fragments) <= MAX_FRAGMENTS, f"too many fragments in the guide (lines {fragments})"
    for line, code, fragment in blocks:
        if fragment:
            compile(code, f"{GUIDE.name}:{line}", "exec")  # partial, but still Python
            continue
        try:
            _run_block(tmp_path / f"block_{line}.py", code)
        except Exception as exc:
            raise AssertionError(
                f"the Python block at {GUIDE.name}:{line} fails as written: {type(exc).__name__}: {exc}"
            ) from exc


def test_the_whole_plugin_in_the_guide_is_the_example_module():
    shown = guide_block_after(GUIDE.read_text(encoding="utf-8"), "`vfx_example/posterize.py`, the whole plugin:")
    assert shown == (EXAMPLE / "vfx_example" / "posterize.py").read_text(encoding="utf-8")


def test_the_guides_example_pipeline_is_the_examples_file():
    shown = guide_block_after(GUIDE.read_text(encoding="utf-8"), "The example pipeline,", "toml")
    assert shown == (EXAMPLE / "example.toml").read_text(encoding="utf-8")


def test_the_guides_command_and_backend_plugin_works(tmp_path, monkeypatch):
    import click
    from click.testing import CliRunner

    from vfx.engine import RenderOptions, render
    from vfx.graph import build
    from vfx.pipeline import load
    from vfx.plugins import get_registry

    code = guide_block_after(GUIDE.read_text(encoding="utf-8"), "A plugin that adds a command and an encoder backend")
    plugin = _run_block(tmp_path / "hello_plugin.py", code)

    cli = click.Group()
    plugin["register_commands"](cli)
    assert CliRunner().invoke(cli, ["hello", "vfx"]).output == "hello, vfx\n"

    backends = {}
    plugin["register_encoder_backends"](lambda name, backend: backends.setdefault(name, backend))
    assert backends["null"].available_encoders() == {"null_video": "discards every frame"}
    writers = []
    open_writer = backends["null"].open_writer
    monkeypatch.setattr(
        backends["null"],
        "open_writer",
        lambda path, **s: writers.append(open_writer(path, **s)) or writers[-1],
        raising=False,
    )
    monkeypatch.setitem(get_registry().backends, "null", backends["null"])
    pipeline = tmp_path / "null.toml"
    pipeline.write_text(
        "format = 1\n[pipeline]\nwidth = 32\nheight = 16\nfps = 24\nduration = 5\n"
        '[nodes.bg]\ntype = "source.color"\ncolor = "#336699"\n'
        '[nodes.out]\ntype = "encode.video"\ninput = "bg"\npath = "null.mp4"\nbackend = "null"\n',
        encoding="utf-8",
    )
    render(build(load(pipeline)), RenderOptions(device="cpu"))
    assert [w.frames for w in writers] == [5]
    assert (tmp_path / "null.mp4").is_file() and (tmp_path / "null.mp4").stat().st_size == 0
