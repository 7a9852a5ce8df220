"""Hook specifications: the contract between skdeep and its plugins.

A plugin is an ordinary module (or object) with functions named like the
hooks below, decorated with :data:`skdeep.hookimpl`. Packages announce such a
module through the ``skdeep`` entry-point group::

    [project.entry-points.skdeep]
    my_plugins = "my_package.plugins"

Each hook returns a list of records from :mod:`skdeep.plugin_types`.
"""

import pluggy

hookspec = pluggy.HookspecMarker("skdeep")
hookimpl = pluggy.HookimplMarker("skdeep")


@hookspec
def skdeep_activations():
    """Return a list of :class:`~skdeep.plugin_types.ActivationPlugin`."""


@hookspec
def skdeep_optimizers():
    """Return a list of :class:`~skdeep.plugin_types.OptimizerPlugin`."""


@hookspec
def skdeep_initializers():
    """Return a list of :class:`~skdeep.plugin_types.InitializerPlugin`."""


@hookspec
def skdeep_regularizers():
    """Return a list of :class:`~skdeep.plugin_types.RegularizerPlugin`."""


@hookspec
def skdeep_losses():
    """Return a list of :class:`~skdeep.plugin_types.LossPlugin`."""
