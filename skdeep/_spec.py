"""Small clonable objects that name a plugin and set its hyperparameters.

``solver=Optimizer("rmsprop", rho=0.95)`` behaves like a scikit-learn
parameter object: ``get_params``/``set_params`` expose the hyperparameters,
so ``GridSearchCV`` can search ``solver__rho``. The object holds only a name
and numbers; the plugin is looked up, and its math compiled, during ``fit``.
"""

from __future__ import annotations


class _PluginSpec:
    _kind = "plugin"

    def __init__(self, name, **hyperparameters):
        self.name = name
        self._hyperparameters = dict(hyperparameters)

    def get_params(self, deep=True):
        """Return ``{"name": ..., **hyperparameters}``."""
        return {"name": self.name, **self._hyperparameters}

    def set_params(self, **params):
        """Set the name or hyperparameters; returns ``self``."""
        for key, value in params.items():
            if key == "name":
                self.name = value
            else:
                self._hyperparameters[key] = value
        return self

    @property
    def hyperparameters(self):
        """Hyperparameters set on this object (a copy)."""
        return dict(self._hyperparameters)

    def __getattr__(self, key):
        hp = self.__dict__.get("_hyperparameters")
        if hp is not None and key in hp:
            return hp[key]
        raise AttributeError(
            f"{type(self).__name__!s} has no attribute {key!r}"
        )

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self), self.name, tuple(sorted(self._hyperparameters.items()))))

    def __repr__(self):
        args = [repr(self.name)] + [f"{k}={v!r}" for k, v in self._hyperparameters.items()]
        return f"{type(self).__name__}({', '.join(args)})"


class Activation(_PluginSpec):
    """An activation by name, with hyperparameters (e.g. ``alpha``).

    Examples
    --------
    >>> from skdeep import Activation
    >>> Activation("leaky_relu", alpha=0.2)
    Activation('leaky_relu', alpha=0.2)
    """

    _kind = "activation"


class Optimizer(_PluginSpec):
    """An optimizer by name, with hyperparameters (e.g. ``rho``).

    Hyperparameters not set here take the plugin's defaults, not the
    estimator's ``beta_1``/``momentum``... parameters.
    """

    _kind = "optimizer"


class Initializer(_PluginSpec):
    """A weight initializer by name, with hyperparameters."""

    _kind = "initializer"


class Regularizer(_PluginSpec):
    """A weight penalty by name, with hyperparameters (e.g. ``l1_ratio``)."""

    _kind = "regularizer"


class Loss(_PluginSpec):
    """A loss by name, with hyperparameters (e.g. Huber's ``delta``)."""

    _kind = "loss"


SPEC_TYPES = {
    "activation": Activation,
    "optimizer": Optimizer,
    "initializer": Initializer,
    "regularizer": Regularizer,
    "loss": Loss,
}


def resolve(kind, value, linked=None, param_name=None):
    """Look up a plugin and the hyperparameter values to run it with.

    Parameters
    ----------
    kind : str
        Plugin kind.
    value : str or _PluginSpec
        What the user passed.
    linked : dict, optional
        Estimator parameter values, used for the optimizer's
        ``estimator_params`` when ``value`` is a name.
    param_name : str, optional
        Estimator parameter name, for error messages.

    Returns
    -------
    record : plugin record
    hyperparameters : dict of str to float
        In the order the plugin's functions receive them.
    """
    from ._registry import get_registry

    param_name = param_name or kind
    spec_type = SPEC_TYPES[kind]
    if isinstance(value, str):
        name, given = value, {}
    elif isinstance(value, spec_type):
        name, given = value.name, value.hyperparameters
    else:
        raise TypeError(
            f"{param_name} must be a {kind} name (str) or a "
            f"skdeep.{spec_type.__name__} object, got {value!r}."
        )
    if not isinstance(name, str):
        raise TypeError(f"{param_name} name must be a str, got {name!r}.")
    record = get_registry().get(kind, name)
    declared = dict(record.hyperparameters)
    unknown = set(given) - set(declared)
    if unknown:
        accepted = ", ".join(declared) or "none"
        raise ValueError(
            f"{param_name}: {kind} {name!r} has no hyperparameter "
            f"{', '.join(sorted(unknown))}. Accepted: {accepted}."
        )
    values = dict(declared)
    if isinstance(value, str) and linked is not None:
        for key in getattr(record, "estimator_params", ()):
            values[key] = linked[key]
    values.update(given)
    for key, v in values.items():
        try:
            values[key] = float(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"{param_name}: hyperparameter {key!r} of {kind} {name!r} must "
                f"be a number, got {v!r}."
            ) from None
    return record, values
