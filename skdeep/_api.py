"""Public helpers around the plugin registry."""

from ._compile_check import check_entries
from ._registry import get_registry


def register_plugin(plugin, name=None, replace=False, check=True):
    """Register a plugin object in this process.

    Installed packages are found through the ``skdeep`` entry-point group
    without calling this; use it for plugins defined in a script or notebook.

    Parameters
    ----------
    plugin : module or object
        Holds ``skdeep_*`` hook functions decorated with
        :data:`skdeep.hookimpl`.
    name : str, optional
        Name to register under (default: the module or class name).
    replace : bool, default=False
        Replace a plugin registered under the same name, as re-running a
        notebook cell needs; otherwise that is an error.
    check : bool, default=True
        Compile the plugin's scalar functions now (float64), so a function
        Numba cannot compile is refused here with a short
        :class:`skdeep.PluginCompileError` naming the plugin, the function,
        the construct and the fix. It costs Numba's compiler start-up
        once per process (1.5-2 s on a 2-core machine) plus about 0.13 s
        per function: register and a first fit from a warm cache took
        2.0-2.5 s instead of 1.1-1.35 s. ``False`` defers the check to a
        fit that fails to compile.

    Returns
    -------
    str
        The name it was registered under.

    Raises
    ------
    ValueError
        If the name is taken (and not ``replace``), the plugin implements a
        hook skdeep does not have (a misspelt ``skdeep_*`` name), defines a
        ``skdeep_*`` function without ``@skdeep.hookimpl``, one of its
        hooks fails, or it registers a plugin name that another plugin has
        (:class:`skdeep.PluginConflictError`), or one of its functions does
        not compile (:class:`skdeep.PluginCompileError`).
    TypeError
        If a hook returns something other than plugin records.

    Nothing is registered when it raises.
    """
    return get_registry().register(plugin, name=name, replace=replace,
                                   validate=check_entries if check else None)


def list_plugins(kind=None):
    """List registered plugins.

    Parameters
    ----------
    kind : {"activation", "optimizer", "initializer", "regularizer", "loss"}, optional
        Restrict to one kind.

    Returns
    -------
    list of dict
        One ``{"kind", "name", "source", "hyperparameters", "bounds",
        "description"}`` per plugin, sorted by kind and name.
    """
    rows = []
    for k, table in get_registry().tables().items():
        if kind is not None and k != kind:
            continue
        for name in sorted(table):
            entry = table[name]
            rows.append({
                "kind": k,
                "name": name,
                "source": entry.source,
                "hyperparameters": dict(entry.record.hyperparameters),
                "bounds": dict(entry.record.bounds),
                "description": entry.record.description,
            })
    return rows
