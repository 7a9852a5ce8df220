"""Public helpers around the plugin registry."""

from ._registry import get_registry


def register_plugin(plugin, name=None):
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

    Returns
    -------
    str
        The name it was registered under.
    """
    return get_registry().register(plugin, name=name)


def list_plugins(kind=None):
    """List registered plugins.

    Parameters
    ----------
    kind : {"activation", "optimizer", "initializer", "regularizer", "loss"}, optional
        Restrict to one kind.

    Returns
    -------
    list of dict
        One ``{"kind", "name", "source", "hyperparameters", "description"}``
        per plugin, sorted by kind and name.
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
                "description": entry.record.description,
            })
    return rows
