"""The plugin manager: loads every entry point in the group ``vfx`` (built-ins included).

A plugin that fails to import is recorded in ``failures`` and does not stop the others.
"""

from __future__ import annotations

import difflib
import functools
import importlib.metadata
import sys
import threading

import pluggy

from . import hookspecs
from .errors import PluginFailure
from .node import Node

ENTRY_POINT_GROUP = "vfx"


class Registry:
    """Node types and encoder backends gathered from every plugin."""

    def __init__(self, manager: pluggy.PluginManager, failures: list[PluginFailure]):
        self.manager = manager
        self.failures = failures
        self.nodes: dict[str, type[Node]] = {}
        self.node_plugin: dict[str, str] = {}
        self.backends: dict[str, object] = {}
        self.architectures: dict[str, type] = {}  # generative model architectures
        self.architecture_plugin: dict[str, str] = {}
        for plugin_name, _plugin in list(manager.list_name_plugin()):
            self._collect(plugin_name)

    def _collect(self, plugin_name: str) -> None:
        def register_node(cls):
            if not (isinstance(cls, type) and issubclass(cls, Node)) or not cls.type or not cls.kind:
                self.failures.append(
                    PluginFailure(
                        plugin_name, "register_nodes", f"{cls!r} is not a vfx.Node subclass with a type and a kind"
                    )
                )
                return
            if cls.type in self.nodes:
                self.failures.append(
                    PluginFailure(
                        plugin_name,
                        "register_nodes",
                        f"node type '{cls.type}' is already registered by "
                        f"'{self.node_plugin[cls.type]}'; this registration is ignored",
                    )
                )
                return
            self.nodes[cls.type] = cls
            self.node_plugin[cls.type] = plugin_name

        def register_backend(name, backend):
            self.backends.setdefault(name, backend)

        def register_architecture(name, cls):
            # a class, or "module:Class" imported on first use; a GenerativeModel subclass means
            # vfx.models.base is already imported, so checking one never imports torch here
            base = sys.modules.get("vfx.models.base")
            ok = (isinstance(cls, str) and ":" in cls) or (
                base is not None
                and isinstance(cls, type)
                and issubclass(cls, base.GenerativeModel)
                and cls.family in ("vae", "gan")
            )
            if not (isinstance(name, str) and name and ok):
                self.failures.append(
                    PluginFailure(
                        plugin_name,
                        "register_model_architectures",
                        f"{cls!r} is not "
                        "a vfx.models.GenerativeModel subclass with family 'vae' or 'gan' "
                        "(or a 'module:Class' path to one)",
                    )
                )
                return
            if name in self.architectures:
                self.failures.append(
                    PluginFailure(
                        plugin_name,
                        "register_model_architectures",
                        f"architecture '{name}' is already registered "
                        f"by '{self.architecture_plugin[name]}'; this registration is ignored",
                    )
                )
                return
            self.architectures[name] = cls
            self.architecture_plugin[name] = plugin_name

        for hook_name, register in (
            ("register_nodes", register_node),
            ("register_encoder_backends", register_backend),
            ("register_model_architectures", register_architecture),
        ):
            impls = [i for i in getattr(self.manager.hook, hook_name).get_hookimpls() if i.plugin_name == plugin_name]
            if not impls:
                continue
            try:
                impls[0].function(register)
            except Exception as exc:  # a broken plugin must not take the others down
                self.failures.append(PluginFailure(plugin_name, hook_name, f"{type(exc).__name__}: {exc}"))

    def node_type(self, name: str) -> type[Node]:
        return self.nodes[name]

    def suggest(self, name: str) -> str | None:
        hits = difflib.get_close_matches(name, list(self.nodes), n=1, cutoff=0.5)
        if not hits:
            short = {t.split(".", 1)[-1]: t for t in self.nodes}
            hits = [short[h] for h in difflib.get_close_matches(name.split(".")[-1], list(short), n=1)]
        return hits[0] if hits else None


_lock = threading.Lock()


def _is_builtin(ep) -> bool:
    dist = getattr(ep, "dist", None)
    return dist is not None and dist.metadata["Name"] == "vfx"


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry (plugins load once, on first use)."""
    with _lock:
        manager = pluggy.PluginManager("vfx")
        manager.add_hookspecs(hookspecs)
        failures: list[PluginFailure] = []
        seen = set()
        # built-ins (entry points of the vfx distribution itself) first, so no plugin can take
        # over a built-in node type by loading earlier; then the others by name
        for ep in sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (not _is_builtin(e), e.name)
        ):
            if ep.name in seen:
                continue
            seen.add(ep.name)
            try:
                module = ep.load()
                manager.register(module, name=ep.name)
            except Exception as exc:
                failures.append(PluginFailure(ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
        return Registry(manager, failures)


def plugin_infos() -> list[dict]:
    """Name, module, version and node types of each loaded plugin, for ``vfx plugins``."""
    reg = get_registry()
    dists = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                dists[ep.name] = (dist.metadata["Name"], dist.version)
    out = []
    for name, plugin in reg.manager.list_name_plugin():
        dist = dists.get(name, ("", ""))
        out.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", repr(plugin)),
                "package": dist[0],
                "version": dist[1],
                "nodes": sorted(t for t, p in reg.node_plugin.items() if p == name),
            }
        )
    return out
