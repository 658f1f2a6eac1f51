"""Plugin discovery and lookup by name.

Plugins are found through the ``emokit`` entry-point group; emokit's own built-ins are listed
there too, so they load exactly like a third party's. Each plugin is loaded and called in
isolation: one that fails to import, raises in a hook, returns something that is not a provider,
or registers a name already taken is recorded with its error and skipped, and the rest still
load. Set ``EMOKIT_DISABLE_EXTERNAL_PLUGINS=1`` to load the built-ins only.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import os
import traceback
from dataclasses import dataclass, field
from typing import Any

import pluggy

from emokit import hookspecs
from emokit.bench.task import Method
from emokit.data.datasets import DatasetProvider
from emokit.features.base import FeatureExtractor

ENTRY_POINT_GROUP = "emokit"
DISABLE_ENV = "EMOKIT_DISABLE_EXTERNAL_PLUGINS"
BUILTIN_DISTRIBUTION = "emokit"

#: kind -> (hook name, base class every provider must derive from)
KINDS: dict[str, tuple[str, type]] = {
    "dataset": ("emokit_register_datasets", DatasetProvider),
    "feature": ("emokit_register_features", FeatureExtractor),
    "method": ("emokit_register_methods", Method),
}


class UnknownNameError(KeyError):
    """A dataset, feature or method name that no plugin registered; the message lists valid ones."""

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, valid
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        super().__init__(
            f"unknown {kind} {name!r}{did_you_mean}; valid {kind}s: {', '.join(valid) or 'none'}"
        )

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return self.args[0]


@dataclass
class PluginInfo:
    """What ``emokit plugins`` shows about one plugin."""

    name: str
    origin: str  # "builtin", the distribution that provides it, or "runtime"
    version: str
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    disabled: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.disabled


class Registry:
    """The loaded plugins and the providers they registered, by kind and name."""

    def __init__(self) -> None:
        self.plugins: list[PluginInfo] = []
        self.providers: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self._owner: dict[tuple[str, str], str] = {}

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def discover(cls, extra: list[tuple[str, object]] | None = None) -> Registry:
        """Load every plugin advertised under the ``emokit`` entry-point group.

        Args:
            extra: ``(name, plugin object)`` pairs registered after the entry points (for
                embedding emokit or testing a plugin without installing it).
        """
        registry = cls()
        disable_external = os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")
        entry_points = sorted(
            metadata.entry_points(group=ENTRY_POINT_GROUP),
            # built-ins first so that an external plugin can never shadow one of them
            key=lambda ep: (_distribution_name(ep) != BUILTIN_DISTRIBUTION, ep.name),
        )
        for ep in entry_points:
            dist = _distribution_name(ep)
            builtin = dist == BUILTIN_DISTRIBUTION
            info = PluginInfo(
                name=ep.name,
                origin="builtin" if builtin else (dist or ep.value),
                version=_distribution_version(ep),
            )
            registry.plugins.append(info)
            if disable_external and not builtin:
                info.disabled = True
                info.error = f"disabled by {DISABLE_ENV}"
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                info.error = f"failed to import {ep.value}: {_describe(exc)}"
                continue
            registry._add(info, plugin)
        for name, plugin in extra or []:
            info = PluginInfo(name=name, origin="runtime", version="")
            registry.plugins.append(info)
            registry._add(info, plugin)
        return registry

    def _add(self, info: PluginInfo, plugin: object) -> None:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        try:
            manager.register(plugin, name=info.name)
        except Exception as exc:
            info.error = f"invalid plugin: {_describe(exc)}"
            return
        collected: dict[str, list[Any]] = {}
        for kind, (hook_name, base) in KINDS.items():
            caller = getattr(manager.hook, hook_name)
            if not caller.get_hookimpls():
                continue
            try:
                results = [p for batch in caller() for p in (batch or [])]
            except Exception as exc:
                info.error = f"{hook_name}() raised {_describe(exc)}"
                return
            for provider in results:
                if not isinstance(provider, base) or not getattr(provider, "name", ""):
                    expected = f"{base.__module__}.{base.__name__}"
                    info.error = f"{hook_name}() returned {provider!r}, expected a named {expected}"
                    return
            collected[kind] = results
        # a plugin that clashes on any name is skipped whole, so it never half-loads
        for kind, results in collected.items():
            seen: set[str] = set()
            for provider in results:
                owner = self._owner.get((kind, provider.name))
                if owner is not None or provider.name in seen:
                    by = f"plugin {owner!r}" if owner else "itself"
                    info.error = f"{kind} name {provider.name!r} is already registered by {by}"
                    return
                seen.add(provider.name)
        for kind, results in collected.items():
            for provider in results:
                self.providers[kind][provider.name] = provider
                self._owner[(kind, provider.name)] = info.name
            info.registers[kind] = [p.name for p in results]

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        """Registered names of ``kind`` (``"dataset"``, ``"feature"`` or ``"method"``), sorted."""
        return sorted(self.providers[kind])

    def get(self, kind: str, name: str) -> Any:
        """The provider registered as ``name``; :class:`UnknownNameError` lists the valid ones."""
        try:
            return self.providers[kind][name]
        except KeyError:
            raise UnknownNameError(kind, name, self.names(kind)) from None

    def dataset(self, name: str) -> DatasetProvider:
        return self.get("dataset", name)

    def feature(self, name: str) -> FeatureExtractor:
        return self.get("feature", name)

    def method(self, name: str) -> Method:
        return self.get("method", name)

    def owner(self, kind: str, name: str) -> str | None:
        """The plugin that registered ``name``."""
        return self._owner.get((kind, name))

    @property
    def failed(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error and not p.disabled]


def _distribution_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"] or "").lower() if dist is not None else ""


def _distribution_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else ""


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, discovered on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.discover()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the discovered plugins (the next :func:`get_registry` discovers them again)."""
    global _REGISTRY
    _REGISTRY = None
