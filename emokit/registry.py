"""Plugin discovery and lookup by name.

Plugins are found through the ``emokit`` entry-point group; emokit's own built-ins are listed
there too, so they load exactly like a third party's. Each plugin is loaded and called in
isolation, and within a plugin each component: a plugin that fails to import is skipped whole
(its error recorded); a hook that raises or returns something other than a list loses that hook's
components; a component that is not a provider of its kind, has a bad name (see
:data:`NAME_RULE`) or a name already taken is skipped alone, and the plugin's other components
still load. Every such problem is recorded on the plugin's :class:`PluginInfo` (``emokit plugins``
shows them; ``emokit plugins --strict`` fails on them, and also on misspelled or undecorated hooks).
Set ``EMOKIT_DISABLE_EXTERNAL_PLUGINS=1`` to load the built-ins only.
"""

from __future__ import annotations

import difflib
import importlib.metadata as metadata
import inspect
import os
import re
import traceback
from dataclasses import dataclass, field
from typing import Any

import pluggy

from emokit import hookspecs
from emokit.data.provider import DatasetProvider
from emokit.features.extractor import FeatureExtractor
from emokit.methods.method import Method
from emokit.suites import Suite

ENTRY_POINT_GROUP = "emokit"
DISABLE_ENV = "EMOKIT_DISABLE_EXTERNAL_PLUGINS"
BUILTIN_DISTRIBUTION = "emokit"

#: kind -> (hook name, base class every provider must derive from)
KINDS: dict[str, tuple[str, type]] = {
    "dataset": ("emokit_register_datasets", DatasetProvider),
    "feature": ("emokit_register_features", FeatureExtractor),
    "method": ("emokit_register_methods", Method),
    "suite": ("emokit_register_suites", Suite),
}

#: what a name users type must look like: lowercase letters and digits in words joined by single
#: dashes, starting with a letter (``sim-savee``, ``face-logmel``, ``deep-coral``). No spaces, no
#: capitals, no dots (a dot scopes an option to one component: ``--option pathnet.population=16``).
NAME_RULE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
NAME_RULE_TEXT = "lowercase letters and digits in words joined by single dashes, starting with a letter"

HOOK_PREFIX = "emokit_"


def check_name(kind: str, name: Any) -> str | None:
    """Why ``name`` cannot name a ``kind``, or ``None`` when it can."""
    if not isinstance(name, str) or not name:
        return f'{kind} has no name (set its class attribute `name`, e.g. name = "my-{kind}")'
    if not NAME_RULE.match(name):
        return f"{kind} name {name!r} is not valid: expected {NAME_RULE_TEXT} (e.g. {_suggest(name)!r})"
    return None


def _suggest(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    suggestion = "-".join(words)
    return suggestion if suggestion and suggestion[0].isalpha() else f"my-{suggestion or 'name'}"


def hook_problems(plugin: object) -> list[str]:
    """What is wrong with ``plugin``'s hooks that pluggy alone would pass silently: functions that look
    like hooks (``emokit_*``) but name no hook (misspelled), and hook functions missing the
    :data:`emokit.api.hookimpl` decorator (pluggy ignores those)."""
    hooks = {n for n, _ in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith(HOOK_PREFIX)}
    problems = []
    for name in sorted(dir(plugin)):
        if not name.startswith(HOOK_PREFIX):
            continue
        value = getattr(plugin, name, None)
        if not callable(value):
            continue
        marked = hasattr(value, f"{hookspecs.PROJECT_NAME}_impl")
        if name not in hooks:
            close = difflib.get_close_matches(name, sorted(hooks), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{name}() is not an emokit hook{hint}; hooks: {', '.join(sorted(hooks))}")
        elif not marked:
            problems.append(f"{name}() is not decorated with @hookimpl, so emokit never calls it")
    return problems


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
    """What ``emokit plugins`` shows about one plugin.

    ``error`` is set when the plugin as a whole could not load (nothing of it registered);
    ``problems`` lists components or hooks of it that were skipped while the rest loaded, and
    hook functions that look misspelled or undecorated.
    """

    name: str
    origin: str  # "builtin", the distribution that provides it, or "runtime"
    version: str
    registers: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None
    disabled: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.disabled

    @property
    def clean(self) -> bool:
        """Loaded with nothing skipped and no suspicious hook (what ``--strict`` asks)."""
        return self.ok and not self.problems


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
        info.problems.extend(hook_problems(plugin))
        try:
            manager.check_pending()  # hookimpls that name no hook
        except pluggy.PluginValidationError as exc:
            if not info.problems:
                info.problems.append(str(exc))
        hook_warnings = len(info.problems)
        for kind, (hook_name, base) in KINDS.items():
            caller = getattr(manager.hook, hook_name)
            if not caller.get_hookimpls():
                continue
            try:
                batches = caller()
            except Exception as exc:
                info.problems.append(f"{hook_name}() raised {_describe(exc)}; its {kind}s were skipped")
                continue
            for batch in batches:
                if batch is None:
                    continue
                if not isinstance(batch, (list, tuple)):
                    info.problems.append(
                        f"{hook_name}() returned {_short(batch)}, expected a list of "
                        f"{base.__name__} instances (return [{type(batch).__name__}()] for one)"
                    )
                    continue
                for provider in batch:
                    self._add_provider(info, kind, base, hook_name, provider)
        skipped = info.problems[hook_warnings:]
        if skipped and not info.registers:  # nothing of it loaded: the plugin failed
            info.error = skipped[0] if len(skipped) == 1 else f"{skipped[0]} (and {len(skipped) - 1} more)"

    def _add_provider(self, info: PluginInfo, kind: str, base: type, hook_name: str, provider: Any) -> None:
        if not isinstance(provider, base):
            expected = f"emokit.api.{base.__name__}"
            info.problems.append(f"{hook_name}() returned {_short(provider)}, expected a {expected}; skipped")
            return
        name = getattr(provider, "name", "")
        why = check_name(kind, name)
        if why is not None:
            info.problems.append(f"{why}; {type(provider).__name__} skipped")
            return
        owner = self._owner.get((kind, name))
        if owner is not None:
            by = "itself" if owner == info.name else f"plugin {owner!r}"
            info.problems.append(f"{kind} name {name!r} is already registered by {by}; skipped")
            return
        self.providers[kind][name] = provider
        self._owner[(kind, name)] = info.name
        info.registers.setdefault(kind, []).append(name)

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

    def suite(self, name: str) -> Suite:
        return self.get("suite", name)

    @property
    def failed(self) -> list[PluginInfo]:
        """Plugins that did not load at all."""
        return [p for p in self.plugins if p.error and not p.disabled]

    @property
    def troubled(self) -> list[PluginInfo]:
        """Plugins that loaded with some component or hook skipped."""
        return [p for p in self.plugins if p.ok and p.problems]


def _distribution_name(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"] or "").lower() if dist is not None else ""


def _distribution_version(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.version if dist is not None else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
