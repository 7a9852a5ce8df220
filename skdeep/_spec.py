"""Small clonable objects that name a plugin and set its hyperparameters.

``solver=Optimizer("rmsprop", rho=0.95)`` behaves like a scikit-learn
parameter object: ``get_params``/``set_params`` expose the hyperparameters,
so ``GridSearchCV`` can search ``solver__rho``. The object holds only a name
and numbers; the plugin is looked up, and its math compiled, during ``fit``.
"""

from __future__ import annotations

from numbers import Real

from sklearn.utils._param_validation import InvalidParameterError


def _declared(kind, name):
    """The plugin's declared hyperparameters with defaults, or ``{}`` when
    ``name`` is not registered (a typo is reported at ``fit``)."""
    from ._registry import get_registry

    try:
        return dict(get_registry().get(kind, name).hyperparameters)
    except (ValueError, TypeError):
        return {}


class _PluginSpec:
    _kind = "plugin"

    def __init__(self, name, **hyperparameters):
        self.name = name
        self._hyperparameters = dict(hyperparameters)

    def get_params(self, deep=True):
        """Return ``{"name": ..., **hyperparameters}``.

        Every hyperparameter of the plugin is listed, with its default
        where this object does not set it, so ``clone`` and ``repr`` show
        the values a fit uses.
        """
        return {"name": self.name, **_declared(self._kind, self.name),
                **self._hyperparameters}

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
        """Hyperparameters set on this object (a copy; defaults not included)."""
        return dict(self._hyperparameters)

    def __getattr__(self, key):
        if key.startswith("_") or "_hyperparameters" not in self.__dict__:
            raise AttributeError(key)
        params = self.get_params()
        if key in params:
            return params[key]
        raise AttributeError(
            f"{type(self).__name__}({self.name!r}) has no hyperparameter {key!r}; "
            f"it has: {', '.join(k for k in params if k != 'name') or 'none'}."
        )

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self), self.name))  # equal objects share the name

    def __repr__(self):
        params = self.get_params()
        args = [repr(params.pop("name"))] + [f"{k}={v!r}" for k, v in params.items()]
        return f"{type(self).__name__}({', '.join(args)})"


def _builtin_table(kind):
    """numpydoc lines listing the built-in plugins of ``kind`` with their
    hyperparameters, defaults and bounds (kept in sync with the records)."""
    import importlib

    from ._registry import plural
    from .plugin_types import bounds_text

    module = importlib.import_module(f"skdeep.builtins.{plural(kind)}")
    records = getattr(module, f"skdeep_{plural(kind)}")()
    lines = []
    for record in records:
        if record.hyperparameters:
            hps = ", ".join(
                f"``{k}={v!r}``" + (f" ({bounds_text(record.bounds[k])})"
                                    if k in record.bounds else "")
                for k, v in record.hyperparameters.items())
        else:
            hps = "no hyperparameters"
        lines.append(f"    - ``{record.name!r}``: {hps}")
    return "\n".join(lines)


_SPEC_DOC = """{title}

    Parameters
    ----------
    name : str
        A registered {kind} name.
    **hyperparameters : float
        Values of the plugin's hyperparameters; those not given take the
        plugin's defaults. Unknown names and values outside the plugin's
        bounds are refused at ``fit``.

    Notes
    -----
    Built-in {kinds} and their hyperparameters (default, accepted range):

{table}

    ``repr`` and ``get_params`` show every hyperparameter with the value a
    fit uses; ``skdeep.list_plugins("{kind}")`` lists installed plugins'.
{extra}
    Examples
    --------
    >>> from skdeep import {cls}
    >>> {cls}({example})
    {cls}({example_repr})
    """


def _document(cls, title, example, example_repr, extra=""):
    from ._registry import plural

    kind = cls._kind
    cls.__doc__ = _SPEC_DOC.format(
        title=title, kind=kind, kinds=plural(kind),
        table=_builtin_table(kind), cls=cls.__name__, example=example,
        example_repr=example_repr, extra=extra)
    # Public under the package's name (error messages, pickles, docs).
    cls.__module__ = "skdeep"
    return cls


class Activation(_PluginSpec):
    _kind = "activation"


class Optimizer(_PluginSpec):
    _kind = "optimizer"


class Initializer(_PluginSpec):
    _kind = "initializer"


class Regularizer(_PluginSpec):
    _kind = "regularizer"


class Loss(_PluginSpec):
    _kind = "loss"


_document(Activation, "A hidden-layer activation by name, with hyperparameters.",
          '"leaky_relu", alpha=0.2', "'leaky_relu', alpha=0.2")
_document(Optimizer, "An optimizer (``solver``) by name, with hyperparameters.",
          '"adamw"', "'adamw', beta_1=0.9, beta_2=0.999, epsilon=1e-08, "
          "weight_decay=0.01",
          extra="\n    The values here win over the estimator's ``momentum``, "
          "``beta_1``, ``beta_2``\n    and ``epsilon`` (a fit warns where "
          "such an estimator parameter was\n    set to something else); "
          "``solver`` given by name takes them from the\n    estimator.\n")
_document(Initializer, "A weight initializer by name, with hyperparameters.",
          '"he_normal"', "'he_normal'")
_document(Regularizer, "A weight penalty by name, with hyperparameters.",
          '"l1_l2", l1_ratio=0.2', "'l1_l2', l1_ratio=0.2")
_document(Loss, "A training loss by name, with hyperparameters.",
          '"huber", delta=0.5', "'huber', delta=0.5")


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


SPEC_TYPES = {
    "activation": Activation,
    "optimizer": Optimizer,
    "initializer": Initializer,
    "regularizer": Regularizer,
    "loss": Loss,
}


def with_hyperparameters(kind, value, params, linked=None, param_name=None):
    """``value`` with the nested parameters ``params`` set (``solver__rho``).

    A name becomes its spec object first (with the estimator parameters it
    follows, ``linked``, so nothing changes but ``params``); a spec object
    is updated in place, as scikit-learn does; in a per-layer sequence of
    activations, every layer whose activation has the hyperparameter gets it.

    Returns
    -------
    The new parameter value.
    """
    param_name = param_name or kind
    if isinstance(value, (tuple, list)) and kind == "activation":
        layers = [with_name(kind, v) for v in value]
        for key, v in params.items():
            having = [spec for spec in layers if key == "name" or key in spec.get_params()]
            if not having:
                raise ValueError(
                    f"Invalid parameter {param_name}__{key}: none of the "
                    f"activations {[s.name for s in layers]} has a "
                    f"hyperparameter {key!r}."
                )
            for spec in having:
                spec.set_params(**{key: v})
        return type(value)(layers)
    spec = with_name(kind, value, linked, param_name)
    if "name" in params:
        spec.set_params(name=params["name"])
    from ._registry import get_registry

    get_registry().get(kind, spec.name, param_name=param_name)  # a typo?
    declared = spec.get_params()
    unknown = sorted(set(params) - set(declared))
    if unknown:
        accepted = ", ".join(f"{param_name}__{k}" for k in declared if k != "name")
        raise ValueError(
            f"Invalid parameter {param_name}__{unknown[0]}: {kind} "
            f"{spec.name!r} has no hyperparameter {unknown[0]!r}. Accepted: "
            f"{accepted or 'none (it has no hyperparameters)'}."
        )
    return spec.set_params(**params)


def with_name(kind, value, linked=None, param_name=None):
    """``value`` as a spec object: a name becomes one (resolving it, so that
    a typo is reported here), a spec object is returned as is."""
    spec_type = SPEC_TYPES[kind]
    if isinstance(value, spec_type):
        return value
    if not isinstance(value, str):
        raise TypeError(
            f"{param_name or kind} must be {_article(kind)} {kind} name (str) "
            f"or a skdeep.{spec_type.__name__}; got {value!r}."
        )
    from ._registry import get_registry

    record = get_registry().get(kind, value)
    follows = {key: linked[key] for key in getattr(record, "estimator_params", ())
               if linked is not None}
    return spec_type(value, **follows)


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

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        For an unknown name, an unknown hyperparameter, or a value of the
        wrong type or out of bounds: what scikit-learn raises for an invalid
        parameter value (a subclass of ``ValueError`` and ``TypeError``).
    """
    from ._registry import did_you_mean, get_registry
    from .plugin_types import bounds_problem

    param_name = param_name or kind
    spec_type = SPEC_TYPES[kind]
    if isinstance(value, str):
        name, given = value, {}
    elif isinstance(value, spec_type):
        name, given = value.name, value.hyperparameters
    else:
        raise InvalidParameterError(
            f"{param_name} must be {_article(kind)} {kind} name (str) or a "
            f"skdeep.{spec_type.__name__} object, got {value!r}."
        )
    if not isinstance(name, str):
        raise InvalidParameterError(f"{param_name} name must be a str, got {name!r}.")
    record = get_registry().get(kind, name, param_name=param_name)
    declared = dict(record.hyperparameters)
    unknown = set(given) - set(declared)
    if unknown:
        accepted = ", ".join(declared) or "none"
        raise InvalidParameterError(
            f"{param_name}: {kind} {name!r} has no hyperparameter "
            f"{', '.join(sorted(unknown))}. Accepted: {accepted}."
            f"{did_you_mean(sorted(unknown)[0], declared)}"
        )
    values = dict(declared)
    if isinstance(value, str) and linked is not None:
        for key in getattr(record, "estimator_params", ()):
            values[key] = linked[key]
    values.update(given)
    for key, v in values.items():
        if not isinstance(v, Real):
            raise InvalidParameterError(
                f"{param_name}: hyperparameter {key!r} of {kind} {name!r} must "
                f"be a number, got {v!r} ({type(v).__name__}). Example: "
                f"{spec_type.__name__}({name!r}, {key}={declared[key]!r})."
            )
        values[key] = float(v)
        bound = record.bounds.get(key)
        problem = bound and bounds_problem(values[key], bound)
        if problem:
            raise InvalidParameterError(
                f"{param_name}: hyperparameter {key!r} of {kind} {name!r} is "
                f"{v!r}, but {problem} (default {declared[key]!r})."
            )
    return record, values
