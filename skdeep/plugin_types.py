"""Records that plugins return from the ``skdeep_*`` hooks.

A plugin author writes plain Python scalar functions (using only arithmetic,
comparisons and the :mod:`math` module) and wraps them in one of these
records. skdeep compiles the same functions for the CPU (Numba ``@njit``) and
for NVIDIA GPUs (``numba.cuda`` device functions); the author never writes a
loop or a kernel.

Hyperparameters are declared by name with a default value. They reach the
scalar functions as trailing positional arguments, in declaration order, and
are runtime values: changing them never triggers a recompilation. A record
may declare ``bounds`` for them (``{"rho": (0.0, 1.0, "left")}``: ``0 <= rho
< 1``); a value outside is refused at ``fit`` with an error naming the
hyperparameter and the accepted range.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "ActivationPlugin",
    "InitializerPlugin",
    "LossPlugin",
    "OptimizerPlugin",
    "RegularizerPlugin",
]


def _check_name(kind, name):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"{kind} plugin name must be a Python identifier, got {name!r}."
        )


def _check_hyperparameters(kind, name, hyperparameters):
    for key, value in hyperparameters.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(
                f"{kind} {name!r}: hyperparameter names must be identifiers, "
                f"got {key!r}."
            )
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(
                f"{kind} {name!r}: hyperparameter {key!r} must default to a "
                f"number, got {value!r}."
            )


_CLOSED = ("both", "left", "right", "neither")


def _check_bounds(kind, name, hyperparameters, bounds):
    """Refuse malformed ``bounds`` and defaults outside them."""
    for key, bound in bounds.items():
        if key not in hyperparameters:
            raise ValueError(
                f"{kind} {name!r}: bounds name {key!r}, which is not one of its "
                f"hyperparameters ({', '.join(hyperparameters) or 'none'})."
            )
        if (not isinstance(bound, tuple) or len(bound) not in (2, 3)
                or (len(bound) == 3 and bound[2] not in _CLOSED)
                or any(b is not None and (not isinstance(b, (int, float))
                                          or isinstance(b, bool))
                       for b in bound[:2])):
            raise ValueError(
                f"{kind} {name!r}: bounds[{key!r}] must be (low, high) or (low, "
                f"high, closed) with numbers or None and closed one of "
                f"{', '.join(map(repr, _CLOSED))}; got {bound!r}."
            )
        problem = bounds_problem(hyperparameters[key], bound)
        if problem:
            raise ValueError(
                f"{kind} {name!r}: the default {key}={hyperparameters[key]!r} "
                f"is outside its bounds: {problem}."
            )


def bounds_text(bound):
    """``"[0, 1)"``, ``"> 0"``, ... for a ``(low, high[, closed])`` bound."""
    low, high = bound[:2]
    closed = bound[2] if len(bound) == 3 else "both"
    left = closed in ("both", "left")
    right = closed in ("both", "right")
    if low is not None and high is not None:
        return f"{'[' if left else '('}{low:g}, {high:g}{']' if right else ')'}"
    if low is not None:
        return f"{'>=' if left else '>'} {low:g}"
    if high is not None:
        return f"{'<=' if right else '<'} {high:g}"
    return "any number"


def bounds_problem(value, bound):
    """``""`` when ``value`` lies within ``bound``, else what is accepted."""
    low, high = bound[:2]
    closed = bound[2] if len(bound) == 3 else "both"
    left = closed in ("both", "left")
    right = closed in ("both", "right")
    inside = value == value and (  # NaN is never inside
        (low is None or (value >= low if left else value > low))
        and (high is None or (value <= high if right else value < high)))
    return "" if inside else f"it must be {bounds_text(bound)}"


# Estimator parameters an optimizer may take hyperparameter values from.
ESTIMATOR_PARAMS = ("momentum", "nesterovs_momentum", "beta_1", "beta_2", "epsilon")


def _check_function(kind, name, field_name, fn, arguments, keywords=()):
    """Refuse a missing or non-callable function, or one that cannot take
    ``arguments`` (their names, for the message) positionally."""
    if not callable(fn):
        raise ValueError(
            f"{kind} {name!r}: {field_name} must be a function, got {fn!r}."
        )
    python_function = getattr(fn, "py_func", fn)  # a Numba dispatcher's
    try:
        signature = inspect.signature(python_function)
    except (TypeError, ValueError):
        return  # builtins and the like: nothing to check
    try:
        signature.bind(*arguments, **dict.fromkeys(keywords, 0.0))
    except TypeError:
        wanted = ", ".join([*arguments, *(f"{k}=..." for k in keywords)])
        raise ValueError(
            f"{kind} {name!r}: {field_name} is called as "
            f"{field_name}({wanted}), but its signature is "
            f"{getattr(python_function, '__name__', field_name)}{signature}."
        ) from None


@dataclass(frozen=True)
class ActivationPlugin:
    """A hidden-layer activation function.

    Parameters
    ----------
    name : str
        Name users pass as ``activation=``.
    value : callable
        ``value(x, *hyperparameters) -> float``: the activation of one
        pre-activation value ``x``.
    derivative : callable
        ``derivative(x, y, *hyperparameters) -> float``: the derivative
        d value / d x at ``x``, where ``y == value(x, ...)`` is given too so
        that functions like the logistic can reuse it.
    hyperparameters : mapping of str to float, default={}
        Names and default values of the hyperparameters, in the order the
        scalar functions receive them.
    init_gain : {"glorot", "he", "lecun"}, default="glorot"
        Which family of initial-weight scale suits this activation. It
        documents the activation (``skdeep.list_plugins`` and the plugin
        listing show the record); the ``initializer`` parameter picks the
        scale that is used.
    learnable : str, optional
        Name of a hyperparameter that is learned, one value per unit (like
        PReLU's slope), starting from its default or the value the user
        sets. Requires ``parameter_derivative``.
    parameter_derivative : callable, optional
        ``parameter_derivative(x, y, *hyperparameters) -> float``: d value /
        d (the learnable hyperparameter) at ``x``.
    bounds : mapping of str to tuple, default={}
        Accepted range of hyperparameters: ``(low, high)`` (closed) or
        ``(low, high, closed)`` with ``closed`` one of "both", "left",
        "right", "neither"; ``None`` for an open end. Values outside are
        refused at ``fit``, naming the hyperparameter and the range.
    description : str, default=""
        One line shown by ``python -m skdeep plugins``.
    onnx : callable, optional
        ``onnx(graph, x, *hyperparameters) -> str``: builds the activation
        for ONNX export (:mod:`skdeep.onnx`) instead of the automatic
        translation of ``value``. ``x`` is the name of the pre-activation
        tensor, a hyperparameter is its float value (the learnable one the
        name of its per-unit tensor); ``graph.op(op_type, *inputs,
        **attributes)`` adds a node and returns its output's name (numbers
        among the inputs become constants) and ``graph.constant(value)``
        adds a constant of the network's dtype. Returns the name of the
        activation tensor.
    """

    name: str
    value: Callable
    derivative: Callable
    hyperparameters: Mapping[str, float] = field(default_factory=dict)
    init_gain: str = "glorot"
    learnable: str | None = None
    parameter_derivative: Callable | None = None
    description: str = ""
    onnx: Callable | None = None
    bounds: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        _check_name("Activation", self.name)
        _check_hyperparameters("Activation", self.name, self.hyperparameters)
        _check_bounds("Activation", self.name, self.hyperparameters, self.bounds)
        hp = tuple(self.hyperparameters)
        _check_function("Activation", self.name, "value", self.value, ("x", *hp))
        _check_function("Activation", self.name, "derivative", self.derivative,
                        ("x", "y", *hp))
        if self.parameter_derivative is not None:
            _check_function("Activation", self.name, "parameter_derivative",
                            self.parameter_derivative, ("x", "y", *hp))
        if self.onnx is not None:
            _check_function("Activation", self.name, "onnx", self.onnx,
                            ("graph", "x", *hp))
        if self.init_gain not in ("glorot", "he", "lecun"):
            raise ValueError(
                f"Activation {self.name!r}: init_gain must be 'glorot', 'he' "
                f"or 'lecun', got {self.init_gain!r}."
            )
        if self.learnable is not None and (
            self.learnable not in self.hyperparameters
            or self.parameter_derivative is None
        ):
            raise ValueError(
                f"Activation {self.name!r}: learnable={self.learnable!r} must "
                "name one of its hyperparameters and needs a "
                "parameter_derivative."
            )


@dataclass(frozen=True)
class OptimizerPlugin:
    """A first-order optimizer defined by its per-parameter update.

    Parameters
    ----------
    name : str
        Name users pass as ``solver=``.
    update : callable or None
        ``update(param, grad, s0, ..., lr, t, *hyperparameters) -> tuple``
        where ``s0, ...`` are the ``n_state`` per-parameter state values
        (zero at the start), ``lr`` the current learning rate and ``t`` the
        1-based step count (a float). Returns ``(new_param, new_s0, ...)``. ``None``
        only for full-batch optimizers that skdeep drives itself (L-BFGS).
    n_state : int, default=0
        Number of state values kept per parameter (momentum buffers...).
    hyperparameters : mapping of str to float, default={}
        Names and default values, in the order ``update`` receives them.
    estimator_params : tuple of str, default=()
        Hyperparameters that take the value of the estimator parameter of the
        same name (``momentum``, ``beta_1``, ``beta_2``, ``epsilon``...) when
        the optimizer is selected by name, as sklearn's solvers do.
    follows_schedule : bool, default=True
        Whether the estimator's ``learning_rate`` schedule applies. sklearn's
        Adam ignores it, so the built-in ``adam`` sets this to False.
    full_batch : bool, default=False
        True for optimizers that need the full-data loss and gradient
        (L-BFGS) rather than minibatch steps.
    bounds : mapping of str to tuple, default={}
        Accepted range of hyperparameters: ``(low, high)`` (closed) or
        ``(low, high, closed)`` with ``closed`` one of "both", "left",
        "right", "neither"; ``None`` for an open end. Values outside are
        refused at ``fit``, naming the hyperparameter and the range.
    description : str, default=""
        One line shown by ``python -m skdeep plugins``.
    """

    name: str
    update: Callable | None
    n_state: int = 0
    hyperparameters: Mapping[str, float] = field(default_factory=dict)
    estimator_params: tuple = ()
    follows_schedule: bool = True
    full_batch: bool = False
    description: str = ""
    bounds: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        _check_name("Optimizer", self.name)
        _check_hyperparameters("Optimizer", self.name, self.hyperparameters)
        _check_bounds("Optimizer", self.name, self.hyperparameters, self.bounds)
        if not 0 <= self.n_state <= 4:
            raise ValueError(
                f"Optimizer {self.name!r}: n_state must be between 0 and 4, "
                f"got {self.n_state}."
            )
        unknown = set(self.estimator_params) - set(self.hyperparameters)
        if unknown:
            raise ValueError(
                f"Optimizer {self.name!r}: estimator_params {sorted(unknown)} "
                "are not among its hyperparameters."
            )
        unsupported = set(self.estimator_params) - set(ESTIMATOR_PARAMS)
        if unsupported:
            raise ValueError(
                f"Optimizer {self.name!r}: estimator_params {sorted(unsupported)} "
                f"are not estimator parameters it can follow; accepted: "
                f"{', '.join(ESTIMATOR_PARAMS)}."
            )
        if self.update is None and not self.full_batch:
            raise ValueError(
                f"Optimizer {self.name!r}: an update function is required "
                "unless full_batch=True."
            )
        if self.update is not None:
            state = tuple(f"s{i}" for i in range(self.n_state))
            _check_function("Optimizer", self.name, "update", self.update,
                            ("param", "grad", *state, "lr", "t",
                             *self.hyperparameters))


@dataclass(frozen=True)
class RegularizerPlugin:
    """A weight penalty, scaled by the estimator's ``alpha``.

    The training loss gains ``alpha * sum(penalty(w)) / n`` over all
    connection weights (not the intercepts), with ``n`` the (weighted)
    number of samples in the batch, exactly as sklearn's L2 term.

    Parameters
    ----------
    name : str
        Name users pass as ``regularizer=``.
    penalty : callable
        ``penalty(w, *hyperparameters) -> float`` for one weight.
    gradient : callable
        ``gradient(w, *hyperparameters) -> float``: d penalty / d w.
    hyperparameters : mapping of str to float, default={}
        Names and default values, in the order the functions receive them.
    bounds : mapping of str to tuple, default={}
        Accepted range of hyperparameters: ``(low, high)`` (closed) or
        ``(low, high, closed)`` with ``closed`` one of "both", "left",
        "right", "neither"; ``None`` for an open end. Values outside are
        refused at ``fit``, naming the hyperparameter and the range.
    description : str, default=""
        One line shown by ``python -m skdeep plugins``.
    """

    name: str
    penalty: Callable
    gradient: Callable
    hyperparameters: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    bounds: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        _check_name("Regularizer", self.name)
        _check_hyperparameters("Regularizer", self.name, self.hyperparameters)
        _check_bounds("Regularizer", self.name, self.hyperparameters, self.bounds)
        for field_name in ("penalty", "gradient"):
            _check_function("Regularizer", self.name, field_name,
                            getattr(self, field_name), ("w", *self.hyperparameters))


@dataclass(frozen=True)
class InitializerPlugin:
    """A weight initialization scheme.

    Parameters
    ----------
    name : str
        Name users pass as ``initializer=``.
    init : callable
        ``init(rng, fan_in, fan_out, activation, **hyperparameters)`` returns
        ``(coef, intercept)`` float64 arrays of shapes ``(fan_in, fan_out)``
        and ``(fan_out,)``. ``rng`` is a :class:`numpy.random.RandomState`
        and ``activation`` the name of the hidden activation that follows
        the layer (for the output layer, the last hidden layer's, as in
        sklearn's initialization). Runs once per fit, in
        NumPy, so it is not compiled.
    hyperparameters : mapping of str to float, default={}
        Names and default values, passed as keyword arguments.
    bounds : mapping of str to tuple, default={}
        Accepted range of hyperparameters: ``(low, high)`` (closed) or
        ``(low, high, closed)`` with ``closed`` one of "both", "left",
        "right", "neither"; ``None`` for an open end. Values outside are
        refused at ``fit``, naming the hyperparameter and the range.
    description : str, default=""
        One line shown by ``python -m skdeep plugins``.
    """

    name: str
    init: Callable
    hyperparameters: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    bounds: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        _check_name("Initializer", self.name)
        _check_hyperparameters("Initializer", self.name, self.hyperparameters)
        _check_bounds("Initializer", self.name, self.hyperparameters, self.bounds)
        _check_function("Initializer", self.name, "init", self.init,
                        ("rng", "fan_in", "fan_out", "activation"),
                        keywords=tuple(self.hyperparameters))


@dataclass(frozen=True)
class LossPlugin:
    """A training loss, defined element by element.

    Regression losses compare a prediction ``p`` with a target ``y`` per
    output. Classification losses compare a predicted probability with a
    target probability: a softmax output sums the loss over classes, and a
    logistic output (binary, multilabel) is scored as the two-class
    distribution ``(p, 1 - p)`` against ``(y, 1 - y)``, so one definition
    serves both. Probabilities reach classification losses clipped to
    ``[eps, 1 - eps]``.

    Parameters
    ----------
    name : str
        Name users pass as ``loss=``.
    loss : callable
        ``loss(p, y, *hyperparameters) -> float``.
    gradient : callable
        ``gradient(p, y, *hyperparameters) -> float``: d loss / d p.
    task : {"regression", "classification"}
        Which estimator accepts the loss.
    output_activation : {"identity", "exp"}, default="identity"
        Output activation of a regression loss (``p = z`` or ``p =
        exp(z)``). Classification losses use softmax or logistic outputs by
        target type.
    link_gradient : callable, optional
        ``link_gradient(p, y, *hyperparameters) -> float``: d loss / d z,
        the gradient with respect to the output pre-activation, summed over
        a softmax row's classes or a logistic output's two classes. Give it
        when it has a simple form (``p - y`` for the canonical pairs); the
        chain rule through the output activation is used otherwise.
    average_outputs : bool, default=None
        Whether a row's loss is divided by its number of outputs. None:
        True for regression (sklearn's squared error averages over
        outputs), False for classification (a softmax row sums its
        classes' losses, as the log-loss does).
    hyperparameters : mapping of str to float, default={}
        Names and default values, in the order the functions receive them.
    bounds : mapping of str to tuple, default={}
        Accepted range of hyperparameters: ``(low, high)`` (closed) or
        ``(low, high, closed)`` with ``closed`` one of "both", "left",
        "right", "neither"; ``None`` for an open end. Values outside are
        refused at ``fit``, naming the hyperparameter and the range.
    description : str, default=""
        One line shown by ``python -m skdeep plugins``.
    """

    name: str
    loss: Callable
    gradient: Callable
    task: str
    output_activation: str = "identity"
    link_gradient: Callable | None = None
    average_outputs: bool | None = None
    hyperparameters: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    bounds: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self):
        _check_name("Loss", self.name)
        _check_hyperparameters("Loss", self.name, self.hyperparameters)
        _check_bounds("Loss", self.name, self.hyperparameters, self.bounds)
        if self.task not in ("regression", "classification"):
            raise ValueError(
                f"Loss {self.name!r}: task must be 'regression' or "
                f"'classification', got {self.task!r}."
            )
        if self.output_activation not in ("identity", "exp"):
            raise ValueError(
                f"Loss {self.name!r}: output_activation must be 'identity' or "
                f"'exp', got {self.output_activation!r}."
            )
        hp = tuple(self.hyperparameters)
        _check_function("Loss", self.name, "loss", self.loss, ("p", "y", *hp))
        _check_function("Loss", self.name, "gradient", self.gradient, ("p", "y", *hp))
        if self.link_gradient is not None:
            _check_function("Loss", self.name, "link_gradient", self.link_gradient,
                            ("p", "y", *hp))
        if self.average_outputs is None:
            object.__setattr__(self, "average_outputs", self.task == "regression")
