"""Every hook in ``vfx/hookspecs.py`` is implemented by a real plugin that the suite loads (a
built-in, or the example plugin in ``examples/vfx-example-plugin``) and fired through vfx's own
code path, not only documented (tests/test_docs.py checks that part), as datasette does.

The plugins are registered with a fresh plugin manager whose hook implementations record each
call; that registry stands in for the process's while a small pipeline renders through the
example plugin's node and a built-in encoder backend, the CLI loads the plugins' commands and a
model architecture is looked up by name. A new hook with no implementation, or one that nothing
calls any more, fails here.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pluggy
import pytest

from vfx import hookspecs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_MODULE = ROOT / "examples" / "vfx-example-plugin" / "vfx_example" / "posterize.py"
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "vfx_spec"))

PIPELINE = """
format = 1
[pipeline]
width = 32
height = 16
fps = 24
duration = 4

[nodes.pattern]
type = "source.testpattern"
pattern = "gradient"

[nodes.poster]
type = "example.posterize"
input = "pattern"
levels = 3

[nodes.out]
type = "encode.video"
input = "poster"
path = "poster.mkv"
codec = "ffv1"
backend = "pyav"
"""


def _example_plugin():
    """The example plugin's entry-point module, loaded from its source (not installed here)."""
    spec = importlib.util.spec_from_file_location("vfx_example_posterize_under_test", EXAMPLE_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recording(name: str, plugin, calls: dict) -> SimpleNamespace:
    """``plugin``'s hook implementations, each recording ``calls[hook].add(name)`` when called."""

    def recorded(hook, fn):
        @functools.wraps(fn)  # keeps the hookimpl marker and the signature
        def call(*args, **kwargs):
            calls[hook].add(name)
            return fn(*args, **kwargs)

        return call

    return SimpleNamespace(
        **{
            hook: recorded(hook, getattr(plugin, hook))
            for hook in HOOKS
            if hasattr(getattr(plugin, hook, None), "vfx_impl")
        }
    )


@pytest.fixture(scope="module")
def fired(tmp_path_factory):
    """{hook: names of the plugins whose implementation was called} after driving every path."""
    from click.testing import CliRunner

    import vfx.plugins
    from vfx.cli import VfxGroup
    from vfx.engine import RenderOptions, render
    from vfx.graph import build
    from vfx.models.registry import architecture
    from vfx.pipeline import load

    builtins = dict(vfx.plugins.get_registry().manager.list_name_plugin())
    plugins = {**builtins, "example": _example_plugin()}
    calls: dict[str, set[str]] = defaultdict(set)
    manager = pluggy.PluginManager("vfx")
    manager.add_hookspecs(hookspecs)
    for name, plugin in plugins.items():
        manager.register(_recording(name, plugin, calls), name=name)
    implemented = {
        hook: sorted(n for n, p in plugins.items() if hasattr(getattr(p, hook, None), "vfx_impl")) for hook in HOOKS
    }

    with pytest.MonkeyPatch.context() as mp:
        # register_nodes, register_encoder_backends, register_model_architectures: building a registry
        registry = vfx.plugins.Registry(manager, [])
        assert registry.failures == []
        mp.setattr(vfx.plugins, "get_registry", lambda: registry)

        # a render through the example plugin's node, written by a built-in encoder backend
        work = tmp_path_factory.mktemp("hooks")
        pipeline = work / "hooks.toml"
        pipeline.write_text(PIPELINE, encoding="utf-8")
        render(build(load(pipeline), registry=registry), RenderOptions(device="cpu"))
        assert (work / "poster.mkv").stat().st_size > 0

        # a model architecture looked up by the name a model file gives
        assert architecture("conv_vae").family == "vae"

        # register_commands: the CLI asks the plugins for commands it does not know
        mp.setattr(VfxGroup, "_plugins_loaded", False)
        group = VfxGroup(name="vfx")
        result = CliRunner().invoke(group, ["posterize-levels", "3"])
        assert result.exit_code == 0 and result.output == "0 128 255\n", result.output
    return implemented, calls


def test_the_hooks_are_found():
    assert "register_nodes" in HOOKS and all(name.startswith("register_") for name in HOOKS), HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_a_real_plugin_and_fired(hook, fired):
    implemented, calls = fired
    assert implemented[hook], (
        f"no plugin the suite loads implements {hook}: add an implementation to "
        "examples/vfx-example-plugin (and a path here that fires it)"
    )
    assert calls[hook], f"{hook} is implemented by {implemented[hook]} but nothing fired it"
    assert calls[hook] <= set(implemented[hook])


def test_the_example_plugin_implements_the_hooks_a_third_party_most_needs(fired):
    _, calls = fired
    assert "example" in calls["register_nodes"] and "example" in calls["register_commands"]


def test_the_recording_registry_did_not_leak(fired):
    import vfx.plugins

    assert "example.posterize" not in vfx.plugins.get_registry().nodes
    assert "vfx_example_posterize_under_test" not in sys.modules
