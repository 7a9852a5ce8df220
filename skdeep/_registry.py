"""The plugin registry: the only place that knows where plugins come from.

Built-in plugins and third-party packages arrive through the same pluggy
hooks. Entry points in the ``skdeep`` group are loaded lazily, on the first
lookup, one at a time, so a broken package only produces a warning naming
it. Setting ``SKDEEP_DISABLE_PLUGIN_AUTOLOAD`` to ``1`` (or ``true``,
``yes``, ``on``) turns entry-point loading off.
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from dataclasses import dataclass
from importlib import metadata

import pluggy
from sklearn.utils._param_validation import InvalidParameterError

from . import hookspecs
from .plugin_types import (
    ActivationPlugin,
    InitializerPlugin,
    LossPlugin,
    OptimizerPlugin,
    RegularizerPlugin,
)

ENTRY_POINT_GROUP = "skdeep"
DISABLE_AUTOLOAD_ENV = "SKDEEP_DISABLE_PLUGIN_AUTOLOAD"

KINDS = {
    "activation": ("skdeep_activations", ActivationPlugin),
    "optimizer": ("skdeep_optimizers", OptimizerPlugin),
    "initializer": ("skdeep_initializers", InitializerPlugin),
    "regularizer": ("skdeep_regularizers", RegularizerPlugin),
    "loss": ("skdeep_losses", LossPlugin),
}

_BUILTIN_MODULES = (
    "skdeep.builtins.activations",
    "skdeep.builtins.optimizers",
    "skdeep.builtins.initializers",
    "skdeep.builtins.regularizers",
    "skdeep.builtins.losses",
)


class PluginConflictError(ValueError):
    """Two plugins registered the same name for the same kind."""


class PluginWarning(UserWarning):
    """A plugin could not be loaded or returned something invalid."""


@dataclass(frozen=True)
class Entry:
    """A registered plugin record and where it came from."""

    kind: str
    record: object
    source: str


def did_you_mean(name, choices):
    """`` Did you mean 'relu'?`` for a near miss (any case), else ``""``."""
    if not isinstance(name, str):
        return ""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), by_lower, n=2, cutoff=0.6)
    if not close:
        return ""
    return f" Did you mean {' or '.join(repr(by_lower[c]) for c in close)}?"


def plural(kind):
    """``"losses"`` for ``"loss"``, ``"activations"`` for ``"activation"``."""
    return kind + ("es" if kind.endswith("s") else "s")


class Registry:
    """Plugin manager plus the resolved tables of records by kind."""

    def __init__(self, autoload=None):
        self._lock = threading.RLock()
        self._pm = pluggy.PluginManager("skdeep")
        self._pm.add_hookspecs(hookspecs)
        self._sources = {}
        self._autoload = autoload
        self._loaded = False
        self._tables = None

    # -- loading -----------------------------------------------------------
    def _ensure_loaded(self):
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            import importlib

            for modname in _BUILTIN_MODULES:
                module = importlib.import_module(modname)
                self._register(module, modname, "skdeep (built-in)")
            autoload = self._autoload
            if autoload is None:
                autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in (
                    "", "0", "false", "no", "off")
            if autoload:
                self._load_entry_points()
            self._loaded = True

    def _load_entry_points(self):
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            where = f"entry point {ep.name!r} ({ep.value})"
            # Entry-point names are only unique within a distribution.
            name = ep.name
            if dist is not None:
                where += f" from {dist.metadata['Name']} {dist.version}"
                name = f"{dist.metadata['Name']}:{ep.name}"
            if self._pm.has_plugin(name):
                continue  # the same distribution found twice on the path
            try:
                plugin = ep.load()
                self._register(plugin, name, where)
                self._check_hooks(name)
            except Exception as exc:  # a broken plugin must not break skdeep
                if self._pm.has_plugin(name):
                    self.unregister(name)
                warnings.warn(
                    f"skdeep could not load plugin {where}: "
                    f"{type(exc).__name__}: {exc}",
                    PluginWarning,
                    stacklevel=3,
                )

    def _check_hooks(self, name):
        """Refuse hook functions of plugin ``name`` that skdeep has no hook
        for (a misspelt name would otherwise be ignored), and ``skdeep_*``
        functions without ``@skdeep.hookimpl`` (pluggy ignores them)."""
        plugin = self._pm.get_plugin(name)
        unmarked = [
            attr for attr in dir(plugin)
            if attr.startswith("skdeep_")
            and callable(getattr(plugin, attr, None))
            and not hasattr(getattr(plugin, attr), "skdeep_impl")
        ]
        if unmarked:
            raise ValueError(
                f"plugin {name!r} defines {', '.join(unmarked)} without "
                "@skdeep.hookimpl, so skdeep cannot see it; decorate "
                f"{'it' if len(unmarked) == 1 else 'them'} with "
                "@skdeep.hookimpl."
            )
        for hook_caller in self._pm.get_hookcallers(plugin) or ():
            if not hook_caller.has_spec():
                raise ValueError(
                    f"plugin {name!r} implements {hook_caller.name!r}, which is "
                    f"not a skdeep hook; the hooks are "
                    f"{', '.join(spec for spec, _ in KINDS.values())}."
                )

    def _register(self, plugin, name, source):
        self._pm.register(plugin, name=name)
        self._sources[name] = source
        self._tables = None

    def register(self, plugin, name=None, replace=False, validate=None):
        """Register a plugin object (module or instance) at runtime.

        Parameters
        ----------
        plugin : module or object
            Holds functions decorated with :data:`skdeep.hookimpl`.
        name : str, optional
            Name of the plugin; defaults to the module or class name.
        replace : bool, default=False
            Replace a plugin registered under the same name (re-running a
            notebook cell) instead of refusing it.
        validate : callable, optional
            ``validate(entries)`` with the plugin's ``[Entry]``, run before
            the registration holds; what it raises undoes it.

        Returns
        -------
        name : str
            The name under which the plugin was registered.

        Raises
        ------
        ValueError
            If the name is taken (and not ``replace``), the plugin
            implements a hook skdeep does not have, one of its hooks fails,
            or it registers a name another plugin has
            (:class:`PluginConflictError`).
        TypeError
            If a hook returns something other than plugin records.

        Nothing is registered when it raises.
        """
        self._ensure_loaded()
        with self._lock:
            if name is None:
                name = getattr(plugin, "__name__", type(plugin).__name__)
            previous = None
            if self._pm.has_plugin(name):
                if not replace:
                    raise ValueError(
                        f"A plugin named {name!r} is already registered; pass "
                        "replace=True to replace it, or another name."
                    )
                previous = self._pm.get_plugin(name), self._sources.get(name)
                self.unregister(name)
            try:
                self._register(plugin, name, "registered at runtime")
                self._check_hooks(name)
                tables = self._build_tables(strict=name)
                if validate is not None:
                    validate([entry for table in tables.values()
                              for entry in table.values()
                              if entry.source.startswith(f"{name}: ")])
            except Exception:
                if self._pm.has_plugin(name):
                    self.unregister(name)
                if previous is not None:
                    self._register(previous[0], name, previous[1])
                raise
        return name

    def unregister(self, name):
        """Remove a plugin registered under ``name``."""
        with self._lock:
            self._pm.unregister(name=name)
            self._sources.pop(name, None)
            self._tables = None

    # -- lookup ------------------------------------------------------------
    def _build_tables(self, strict=None):
        # A failing hook of the plugin named ``strict`` raises; others warn.
        tables = {kind: {} for kind in KINDS}
        for kind, (hook_name, record_type) in KINDS.items():
            hook = getattr(self._pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                plugin_name = self._pm.get_name(impl.plugin)
                source = f"{plugin_name}: {self._sources.get(plugin_name, '?')}"
                try:
                    records = list(impl.function() or [])
                except Exception as exc:
                    if plugin_name == strict:
                        raise ValueError(
                            f"skdeep plugin {plugin_name!r} failed in {hook_name}: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    warnings.warn(
                        f"skdeep plugin {source} failed in {hook_name}: "
                        f"{type(exc).__name__}: {exc}",
                        PluginWarning,
                        stacklevel=3,
                    )
                    continue
                for record in records:
                    if not isinstance(record, record_type) and plugin_name == strict:
                        raise TypeError(
                            f"skdeep plugin {plugin_name!r} returned {record!r} "
                            f"from {hook_name}; expected {record_type.__name__}."
                        )
                    if not isinstance(record, record_type):
                        warnings.warn(
                            f"skdeep plugin {source} returned {record!r} from "
                            f"{hook_name}; expected {record_type.__name__}. "
                            "Ignored.",
                            PluginWarning,
                            stacklevel=3,
                        )
                        continue
                    previous = tables[kind].get(record.name)
                    if previous is not None:
                        raise PluginConflictError(
                            f"Two plugins register the {kind} {record.name!r}: "
                            f"{previous.source} and {source}. Rename the one "
                            "you register at runtime, or uninstall or disable "
                            "one of the installed packages."
                        )
                    tables[kind][record.name] = Entry(kind, record, source)
        self._tables = tables
        return tables

    def tables(self):
        """Return ``{kind: {name: Entry}}`` for every registered plugin."""
        self._ensure_loaded()
        with self._lock:
            if self._tables is None:
                self._build_tables()
            return self._tables

    def get(self, kind, name, param_name=None):
        """Return the record of ``kind`` named ``name``.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            If no such plugin exists (a ``ValueError``, what scikit-learn
            raises for an invalid parameter value); the message suggests
            close names and lists the available ones.
        """
        table = self.tables()[kind]
        try:
            return table[name].record
        except (KeyError, TypeError):
            available = ", ".join(sorted(table))
            where = f" (given as {param_name}={name!r})" if param_name else ""
            raise InvalidParameterError(
                f"Unknown {kind} {name!r}{where}.{did_you_mean(name, table)} "
                f"Available {plural(kind)}: {available}. Installed plugin "
                "packages add more; `python -m skdeep plugins` lists them."
            ) from None

    def names(self, kind):
        """Return the sorted names registered for ``kind``."""
        return sorted(self.tables()[kind])


_REGISTRY = Registry()


def get_registry():
    """Return the process-wide :class:`Registry`."""
    return _REGISTRY
