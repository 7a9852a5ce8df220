"""From the estimator's parameters to a network plan.

:func:`resolve_plan` turns ``hidden_layer_sizes``, ``activation``,
``solver``, ``loss``, ``regularizer``, ``initializer``, ``batch_norm`` and
``layer_norm`` into resolved plugins (records with their hyperparameter values) and layer
sizes, raising an error that names the parameter for anything invalid. The
estimator validates data and keeps fitted attributes; it never looks a
plugin up itself.
"""

from __future__ import annotations

import dataclasses
import inspect
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils._param_validation import InvalidParameterError

from ._spec import resolve
from .plugin_types import ESTIMATOR_PARAMS


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to build: the resolved plugins and the hidden layer sizes.

    Attributes
    ----------
    hidden : list of int
        Hidden layer sizes.
    activations : list of (ActivationPlugin, dict)
        One per hidden layer.
    optimizer, loss, regularizer, initializer : (plugin record, dict)
        Each resolved plugin with its hyperparameter values.
    batch_norm, layer_norm : list of bool
        Per hidden layer (never both on one layer).
    """

    hidden: list
    activations: list
    optimizer: tuple
    loss: tuple
    regularizer: tuple
    initializer: tuple
    batch_norm: list
    layer_norm: list

    @property
    def stochastic(self):
        """Whether the optimizer trains in minibatches (not L-BFGS)."""
        return not self.optimizer[0].full_batch

    @property
    def learnable(self):
        """Per hidden layer: whether its activation has learned parameters."""
        return [plugin.learnable is not None for plugin, _ in self.activations]


def resolve_plan(est):
    """Resolve the estimator ``est``'s parameters into a :class:`Plan`."""
    hidden = hidden_sizes(est.hidden_layer_sizes)
    batch_norm = _per_layer_flags("batch_norm", est.batch_norm, len(hidden))
    layer_norm = _per_layer_flags("layer_norm", est.layer_norm, len(hidden))
    both = [i for i in range(len(hidden)) if batch_norm[i] and layer_norm[i]]
    if both:
        raise ValueError(
            f"hidden layers {both} have both batch_norm and layer_norm; a "
            "layer takes one normalization: give per-layer flags, e.g. "
            "batch_norm=[True, False], layer_norm=[False, True]."
        )
    return Plan(
        hidden=hidden,
        activations=resolve_activations(est.activation, len(hidden)),
        optimizer=resolve_solver(est),
        loss=_resolve_loss(est),
        regularizer=resolve("regularizer", est.regularizer, param_name="regularizer"),
        initializer=resolve("initializer", est.initializer, param_name="initializer"),
        batch_norm=batch_norm,
        layer_norm=layer_norm,
    )


def hidden_sizes(sizes):
    """``hidden_layer_sizes`` as a list of positive ints."""
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    sizes = list(sizes)
    if np.any(np.array(sizes) <= 0):
        raise ValueError(
            f"hidden_layer_sizes must be > 0, got {sizes}: each entry is the "
            "number of units of a hidden layer, e.g. (100,) or (64, 32)."
        )
    if not all(isinstance(s, Integral) and not isinstance(s, bool) for s in sizes):
        raise TypeError(
            f"hidden_layer_sizes must be whole numbers of units, got {sizes}."
        )
    return [int(s) for s in sizes]


def resolve_activations(value, n_hidden):
    """The ``activation`` parameter as one resolved plugin per hidden layer."""
    if isinstance(value, (tuple, list)):
        if len(value) != n_hidden:
            raise ValueError(
                f"activation has {len(value)} entries but there are "
                f"{n_hidden} hidden layers; give one activation per "
                "hidden layer or a single one for all."
            )
        per_layer = list(value)
    else:
        per_layer = [value] * n_hidden
    resolved = [resolve("activation", v, param_name="activation")
                for v in per_layer]
    if not per_layer:  # no hidden layer: still validate the name
        resolve("activation", value if not isinstance(value, (tuple, list))
                else "identity", param_name="activation")
    return resolved


def linked_params(est):
    """The estimator parameters an optimizer given by name may follow, as
    the numbers its update receives."""
    linked = {k: getattr(est, k) for k in ESTIMATOR_PARAMS}
    linked["nesterovs_momentum"] = float(bool(est.nesterovs_momentum))
    return linked


def resolve_solver(est):
    """The ``solver`` plugin, with the estimator parameters it follows."""
    return resolve("optimizer", est.solver, linked=linked_params(est),
                   param_name="solver")


def overridden_estimator_params(est, optimizer):
    """``[(name, value)]``: estimator parameters set away from their default
    that the optimizer would follow by name, but ``solver`` is a spec object
    using ``value`` instead (they would be silently ignored)."""
    if isinstance(est.solver, str):
        return []
    record, values = optimizer
    defaults = inspect.signature(type(est).__init__).parameters
    linked = linked_params(est)
    return [
        (key, values[key]) for key in record.estimator_params
        if getattr(est, key) != defaults[key].default
        and values[key] != linked[key]
    ]


def activation_names(value, n_hidden):
    """Activation names per hidden layer (what initializers are told)."""
    per_layer = list(value) if isinstance(value, (tuple, list)) else [value] * n_hidden
    names = [v if isinstance(v, str) else v.name for v in per_layer]
    if not names:
        names = [value if isinstance(value, str) else getattr(value, "name", "")]
    return names


def _per_layer_flags(name, value, n_hidden):
    """A bool-or-sequence parameter (``batch_norm``, ``layer_norm``) as one
    bool per hidden layer."""
    if isinstance(value, (tuple, list)):
        if len(value) != n_hidden:
            raise ValueError(
                f"{name} has {len(value)} entries but there are "
                f"{n_hidden} hidden layers; give one bool per hidden layer "
                "or a single bool."
            )
        return [bool(v) for v in value]
    return [bool(value)] * n_hidden


def _resolve_loss(est):
    plugin, hp = resolve("loss", est.loss, param_name="loss")
    task = "classification" if is_classifier(est) else "regression"
    if plugin.task != task:
        from ._registry import get_registry

        accepted = [
            name for name in get_registry().names("loss")
            if get_registry().get("loss", name).task == task
        ]
        raise InvalidParameterError(
            f"loss {plugin.name!r} is a {plugin.task} loss; "
            f"{type(est).__name__} accepts: {', '.join(accepted)}."
        )
    return plugin, hp
