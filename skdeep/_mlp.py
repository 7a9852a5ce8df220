"""Drop-in ``MLPClassifier`` and ``MLPRegressor``.

Same parameters, defaults, attributes and methods as
``sklearn.neural_network``; the math runs in compiled kernels and the
activation, solver, initializer and regularizer come from plugins.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections import defaultdict
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    is_classifier,
)
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    check_random_state,
    column_or_1d,
    validate_data,
)

from . import _training
from ._compile_check import plugin_compile_errors
from ._device import cuda_status, make_network, resolve_device
from ._kernels.layout import Layout
from ._parameters import (
    frozen_segments,
    initial_parameters,
    pack,
    parameters_of,
    transfer,
    unpack,
)
from ._plan import (
    activation_names,
    linked_params,
    overridden_estimator_params,
    resolve_activations,
    resolve_plan,
    resolve_solver,
)
from ._public import public
from ._registry import did_you_mean, get_registry
from ._schedules import SCHEDULE_NAMES, LearningRateSchedule
from ._spec import (
    Activation,
    Initializer,
    Loss,
    Optimizer,
    Regularizer,
    with_hyperparameters,
)
from ._training import TrainingState

# Estimator parameters holding a plugin name or spec object: their kind.
_PLUGIN_PARAMS = {"activation": "activation", "solver": "optimizer",
                  "initializer": "initializer", "regularizer": "regularizer",
                  "loss": "loss"}


def _checked_weights(weights, X, dtype, name):
    """Sample weights as a ``dtype`` vector, refusing what cannot train."""
    checked = _check_sample_weight(weights, X, dtype=dtype)
    if weights is None:
        return checked
    if (checked < 0).any():
        raise ValueError(
            f"{name} must be non-negative (a weight scales a sample's loss; "
            f"0 leaves it out); got {int((checked < 0).sum())} negative "
            f"value(s), the smallest {float(checked.min())!r}."
        )
    if not checked.any():
        raise ValueError(f"{name} is all zeros: no sample would be trained "
                         "on. Give some samples a positive weight.")
    return checked


def _store_parameters(estimator, parameters):
    """Store ``__init__``'s arguments unchanged under their own names.

    scikit-learn's rule for estimators; the signatures stay explicit, since
    ``get_params`` reads them.
    """
    for name, value in parameters.items():
        if name != "self":
            setattr(estimator, name, value)


# Prediction inputs up to this many rows are validated by the lean path of
# _validate_prediction_input (its finiteness check allocates a mask as
# large as X; validate_data's sums without one).
_LEAN_ROWS = 256
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# Compiled prediction networks by (activations, layer sizes, output, dtype,
# batch norm): see BaseMultilayerPerceptron._prediction_network.
_prediction_networks = {}


class BaseMultilayerPerceptron(BaseEstimator):
    """Shared implementation; use :class:`MLPClassifier` or
    :class:`MLPRegressor`."""

    # The HTML repr links the estimator's page of the API reference.
    _doc_link_module = "skdeep"
    _doc_link_template = (
        "https://skdeep.readthedocs.io/en/stable/api/generated/"
        "skdeep.{estimator_name}.html")

    def set_params(self, **params):
        """Set the parameters of this estimator.

        Besides scikit-learn's ``<parameter>__<name>`` keys for parameters
        holding objects, a plugin's hyperparameters can be set when the
        parameter holds a name: ``solver__rho`` with ``solver="rmsprop"``
        makes it ``Optimizer("rmsprop", rho=...)`` (keeping the estimator
        parameters a solver given by name follows), ``activation__alpha``
        sets ``alpha`` of every hidden layer whose activation has it, and
        ``learning_rate__gamma`` with ``learning_rate="step"`` makes it
        ``StepDecay(gamma=...)``. Names are set before hyperparameters, so a
        grid may vary both (``{"solver": ["rmsprop"], "solver__rho": [...]}``).

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        nested, plain = defaultdict(dict), {}
        for key, value in params.items():
            outer, sep, inner = key.partition("__")
            if sep and (outer in _PLUGIN_PARAMS or outer == "learning_rate"):
                nested[outer][inner] = value
            else:
                plain[key] = value
        super().set_params(**plain)
        for outer, inner in nested.items():
            setattr(self, outer, self._with_nested(outer, inner))
        return self

    def _validate_params(self):
        try:
            super()._validate_params()
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{exc}{self._near_miss()}") from None

    def _near_miss(self):
        """`` Did you mean ...?`` for a string parameter outside its options."""
        for name, constraints in self._parameter_constraints.items():
            value = getattr(self, name, None)
            options = [o for c in constraints if isinstance(c, StrOptions)
                       for o in c.options]
            if isinstance(value, str) and options and value not in options:
                return did_you_mean(value, sorted(options))
        return ""

    def _with_nested(self, param, params):
        """The value of ``param`` with its nested ``params`` set."""
        value = getattr(self, param)
        if param != "learning_rate":
            linked = linked_params(self) if param == "solver" else None
            return with_hyperparameters(_PLUGIN_PARAMS[param], value, params,
                                        linked=linked, param_name=param)
        if isinstance(value, str):
            if value not in SCHEDULE_NAMES:
                raise ValueError(
                    f"Invalid parameter learning_rate__{next(iter(params))}: "
                    f"learning_rate={value!r} has no hyperparameters (the "
                    "invscaling exponent is power_t). Schedules with "
                    f"hyperparameters: {', '.join(SCHEDULE_NAMES)}, e.g. "
                    "learning_rate='step', learning_rate__gamma=0.5."
                )
            value = SCHEDULE_NAMES[value]()
        return value.set_params(**params)

    def __sklearn_clone__(self):
        # ``transfer_from`` is only read (its weights are copied at fit):
        # the clone keeps that very object, where cloning it would drop
        # the weights (clone, cross_val_score and GridSearchCV clone).
        source = self.transfer_from
        if source is None:
            return super().__sklearn_clone__()
        shallow = copy.copy(self)
        shallow.transfer_from = None
        clone = shallow.__sklearn_clone__()
        clone.transfer_from = source
        return clone

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [str, Activation, tuple, list],
        "solver": [str, Optimizer],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [
            StrOptions({"constant", "invscaling", "adaptive", *SCHEDULE_NAMES}),
            LearningRateSchedule,
        ],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "initializer": [str, Initializer],
        "regularizer": [str, Regularizer],
        "clip_value": [Interval(Real, 0, None, closed="neither"), None],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "callbacks": [list, tuple, None],
        "dropout": [Interval(Real, 0, 1, closed="left"), tuple, list],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "mixup_alpha": [Interval(Real, 0, None, closed="left")],
        "loss": [str, Loss],
        "batch_norm": ["boolean", tuple, list],
        "batch_norm_momentum": [Interval(Real, 0, 1, closed="left")],
        "layer_norm": ["boolean", tuple, list],
        "layer_norm_epsilon": [Interval(Real, 0, None, closed="neither")],
        "early_stopping_metric": [StrOptions({"score", "loss"})],
        "restore_best_weights": ["boolean"],
        "transfer_from": [None, BaseEstimator, dict],
        "transfer_layers": [None, Interval(Integral, 1, None, closed="left")],
        "frozen_layers": [None, "array-like"],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
    }

    # -- fitting -----------------------------------------------------------
    def _initialize(self, y, layout, plan, dtype):
        """Fitted attributes of a first fit, as sklearn sets them, and the
        initial (or transferred) parameters."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layout.sizes)
        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            self.out_activation_ = "logistic"
        params = initial_parameters(
            layout, plan.activations, plan.initializer,
            activation_names(self.activation, len(plan.hidden)),
            self._random_state, dtype)
        if self.transfer_from is not None:
            transfer(params, layout, self.transfer_from, self.transfer_layers)
        vars(self).update(params)
        self.training_state_ = None

    def _init_history(self, stochastic, validate):
        if stochastic:
            self.loss_curve_ = []
            self.history_ = []
            self.training_state_ = TrainingState()
            self._init_validation(validate)

    def _init_validation(self, validate):
        """Validation and early-stopping records, as sklearn sets them."""
        # A new object: a stored state is never changed in place, so a
        # failed fit can put the previous one back.
        self.training_state_ = dataclasses.replace(
            self.training_state_ or TrainingState(), no_improvement_count=0,
            best_monitored=np.inf, best_params=None, best_running=None)
        self.best_loss_ = None if self.early_stopping else np.inf
        if validate:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
        else:
            self.validation_scores_ = None
            self.validation_loss_curve_ = None
        if self.early_stopping:
            self.best_validation_score_ = -np.inf
            self.best_validation_loss_ = np.inf
        else:
            self.best_validation_score_ = None
            self.best_validation_loss_ = None

    def _fit(self, X, y, sample_weight=None, incremental=False,
             validation_data=None):
        # Everything below may fail; restore the previous state if it does
        # so a failed fit never leaves a half-updated model behind. Lists
        # (histories) grow in place and arrays may be views training
        # writes to; the training state is never changed in place.
        backup = {
            key: copy.copy(value) if isinstance(value, (list, np.ndarray))
            else value
            for key, value in self.__dict__.items()
        }
        try:
            return self._fit_unsafe(X, y, sample_weight, incremental,
                                    validation_data)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(backup)
            raise

    def _fit_unsafe(self, X, y, sample_weight, incremental, validation_data):
        plan = resolve_plan(self)
        optimizer = plan.optimizer
        for key, value in overridden_estimator_params(self, optimizer):
            warnings.warn(
                f"{key}={getattr(self, key)!r} has no effect: "
                f"solver={self.solver!r} sets {key}={value!r}. Set it on the "
                f"optimizer instead (solver__{key}={getattr(self, key)!r}), or "
                f"pass solver={optimizer[0].name!r} by name to take the "
                "estimator's value.",
                UserWarning, stacklevel=4)
        if incremental and not plan.stochastic:
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. "
                f"{optimizer[0].name} is not stochastic: use fit, or a "
                "minibatch solver such as solver='adam'."
            )

        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental
        )
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sp.issparse(X):
            X = X.toarray()
        # A first fit trains in X's dtype; warm_start and partial_fit keep
        # the fitted model's (as sklearn's in-place updates keep coefs_'s).
        dtype = X.dtype if first_pass else self.coefs_[0].dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        unweighted = sample_weight is None
        sample_weight = _checked_weights(sample_weight, X, dtype, "sample_weight")
        if y.ndim == 1:
            y_raw = y
            Y = y.reshape((-1, 1))
        else:
            y_raw = y
            Y = y
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if is_classifier(self):
            y_raw = self._label_binarizer.inverse_transform(y)
            if self.class_weight is not None:
                sample_weight = sample_weight * compute_sample_weight(
                    self.class_weight, y_raw
                ).astype(dtype)
                unweighted = False
        self._check_targets(Y)
        stochastic_only = {
            name: getattr(self, name)
            for name in ("clip_value", "clip_norm", "input_noise", "mixup_alpha",
                         "callbacks")
            if getattr(self, name)
        }
        if np.any(np.asarray(self.dropout, dtype=float) > 0):
            stochastic_only["dropout"] = self.dropout
        if any(plan.batch_norm):
            stochastic_only["batch_norm"] = self.batch_norm
        if any(plan.batch_norm) and self.batch_size == 1:
            raise ValueError(
                "batch_norm needs at least 2 rows per minibatch (one row "
                "normalizes to zero); got batch_size=1. Use batch_size >= 2."
            )
        if stochastic_only and not plan.stochastic:
            raise ValueError(
                f"{', '.join(stochastic_only)} "
                f"{'needs' if len(stochastic_only) == 1 else 'need'} a "
                f"stochastic solver, but solver={optimizer[0].name!r} "
                "optimizes the full-batch loss. Use solver='adam' (or "
                "another minibatch optimizer), or remove "
                f"{', '.join(stochastic_only)}."
            )
        self._dropout_rates(len(plan.hidden))  # validate before training

        n_features = X.shape[1]
        self.n_outputs_ = Y.shape[1]
        layer_units = [n_features] + plan.hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if not first_pass:
            expected = [c.shape[0] for c in self.coefs_] + [self.coefs_[-1].shape[1]]
            if expected != layer_units:
                raise ValueError(
                    f"warm_start/partial_fit needs the same layer sizes as the "
                    f"fitted model {expected}, got {layer_units}. To change "
                    "hidden_layer_sizes or the number of features, set "
                    "warm_start=False (a new fit)."
                )
        stochastic = plan.stochastic
        if validation_data is not None:
            if not stochastic:
                raise ValueError(
                    "validation_data needs a stochastic solver; solver "
                    f"{optimizer[0].name!r} has no epochs to validate. Use a "
                    "minibatch solver such as solver='adam', or drop "
                    "validation_data."
                )
            validation_data = self._validate_validation_data(validation_data, dtype)
        validate = stochastic and (self.early_stopping or validation_data is not None)
        layout = Layout(layer_units, plan.batch_norm, plan.learnable,
                        plan.layer_norm)
        if first_pass:
            self._initialize(Y, layout, plan, dtype)
            self._init_history(stochastic, validate)
        else:
            fitted = parameters_of(self)
            if ([s is not None for s in fitted["bn_scales_"]] != plan.batch_norm
                    or [s is not None for s in fitted["ln_scales_"]]
                    != plan.layer_norm
                    or [a is not None for a in self.activation_params_]
                    != layout.learnable):
                raise ValueError(
                    "warm_start/partial_fit needs the same batch_norm and "
                    "layer_norm layers and activations with learned "
                    "parameters as the fitted model; set warm_start=False to "
                    "change them (a new fit)."
                )
            if stochastic and getattr(self, "loss_curve_", None) is None:
                self._init_history(stochastic, validate)
            elif stochastic and (
                    validate != (self.validation_scores_ is not None)
                    or self.early_stopping != (self.best_validation_score_ is not None)):
                # Keep the loss history; start the validation records anew.
                self._init_validation(validate)
        if self.out_activation_ in ("identity", "exp"):
            self.out_activation_ = plan.loss[0].output_activation
        frozen = frozen_segments(self.frozen_layers, layout)

        Y = self._smooth_targets(Y)
        if validation_data is not None:
            validation_data = self._weight_validation_data(validation_data, y_raw,
                                                           dtype)
        device = resolve_device(self.device, report=print if self.verbose else None)
        with plugin_compile_errors(plan):
            net = make_network(device, layer_units, plan.activations,
                               self.out_activation_, dtype, loss=plan.loss,
                               batch_norm=plan.batch_norm,
                               layer_norm=plan.layer_norm,
                               layer_norm_epsilon=self.layer_norm_epsilon)
            self.device_ = device
            theta, running = pack(layout, parameters_of(self), dtype)
            reg = _training.regularizer(net, plan.regularizer)
            if stochastic:
                _training.fit_stochastic(self, net, theta, X, Y, sample_weight,
                                         y_raw, optimizer, reg, incremental,
                                         running, self.training_state_,
                                         not unweighted, validation_data, frozen)
            else:
                _training.fit_lbfgs(self, net, theta, X, Y, sample_weight, reg,
                                    frozen)
        if not np.isfinite(theta).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed (e.g. "
                "sklearn.preprocessing.StandardScaler), or the step is too "
                "large: lower learning_rate_init, or set clip_norm."
            )
        vars(self).update(unpack(layout, theta, running))
        return self

    def _validate_validation_data(self, validation_data, dtype):
        """``(X_val, y_val[, sample_weight_val])`` in the training encoding."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or (X_val, "
                f"y_val, sample_weight_val); got {type(validation_data).__name__}."
            )
        X_val, y_val = validation_data[0], validation_data[1]
        sw_val = validation_data[2] if len(validation_data) == 3 else None
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc"],
                              dtype=dtype, reset=False)
        if sp.issparse(X_val):
            X_val = X_val.toarray()
        X_val = np.ascontiguousarray(X_val, dtype=dtype)
        y_val = check_array(y_val, ensure_2d=False, dtype=None, input_name="y_val")
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = y_val.ravel()
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(
                f"validation_data has {X_val.shape[0]} rows in X_val but "
                f"{y_val.shape[0]} in y_val; give one target per row."
            )
        Y_val = self._encode_targets(y_val)
        Y_val = np.ascontiguousarray(Y_val.reshape(len(y_val), -1), dtype=dtype)
        if Y_val.shape[1] != self.n_outputs_:
            raise ValueError(
                f"validation_data's y_val has {y_val.shape[1] if y_val.ndim == 2 else 1} "
                f"target columns, but the model was fitted with {self.n_outputs_}."
            )
        if sw_val is not None:
            sw_val = _checked_weights(sw_val, X_val, dtype, "sample_weight_val")
        return X_val, y_val, sw_val, Y_val

    def _encode_targets(self, y):
        return np.asarray(y, dtype=float)

    def _weight_validation_data(self, validation_data, y_train, dtype):
        """Treat user validation data as the ``validation_fraction`` split is:
        smoothed targets, and class weights (from the training labels)
        multiplied into its sample weights."""
        X_val, y_val, sw_val, Y_val = validation_data
        Y_val = self._smooth_targets(Y_val)
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            if np.ndim(y_val) == 1:
                per_class = compute_class_weight(class_weight, classes=self.classes_,
                                                 y=y_train)
                weights = per_class[np.searchsorted(self.classes_, y_val)]
            else:
                weights = compute_sample_weight(class_weight, y_val)
            base = np.ones(len(y_val)) if sw_val is None else sw_val
            sw_val = np.ascontiguousarray(base * weights, dtype=dtype)
        return X_val, y_val, sw_val, Y_val

    def _check_targets(self, Y):
        pass

    def _dropout_rates(self, n_hidden):
        """Dropout rate of each hidden layer as a float64 array."""
        value = self.dropout
        if isinstance(value, (tuple, list)):
            if len(value) != n_hidden:
                raise ValueError(
                    f"dropout has {len(value)} rates but there are {n_hidden} "
                    "hidden layers; give one rate per hidden layer or a single "
                    "float."
                )
            rates = np.asarray(value, dtype=np.float64)
        else:
            rates = np.full(n_hidden, float(value))
        if ((rates < 0) | (rates >= 1)).any():
            raise ValueError(f"dropout rates must be in [0, 1), got {value!r}.")
        return rates

    def _smooth_targets(self, Y):
        return Y

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 input trains in float32; a
            ``warm_start`` fit keeps the fitted model's dtype.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers
            in regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        validation_data : tuple, default=None
            ``(X_val, y_val)`` or ``(X_val, y_val, sample_weight_val)``:
            a validation set scored after every epoch (stochastic solvers).
            With ``early_stopping`` it replaces the ``validation_fraction``
            split; without, it only records ``validation_loss_curve_`` and
            ``validation_scores_``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         validation_data=validation_data)

    def _check_solver(self):
        plugin, _ = resolve_solver(self)
        if plugin.full_batch:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic: use fit, or a minibatch"
                " solver such as solver='adam'." % plugin.name
            )
        return True

    # -- prediction --------------------------------------------------------
    def _check_fitted(self):
        # check_is_fitted scans every attribute (8 us of a 1-row predict);
        # a fitted model has coefs_.
        if "coefs_" not in self.__dict__:
            check_is_fitted(self)

    def _validate_prediction_input(self, X):
        """``validate_data(self, X, reset=False)``, lean for a few rows.

        A float ndarray of up to ``_LEAN_ROWS`` rows is checked here for
        what ``validate_data`` checks of it (2-D, at least one row, the
        fitted number of features, finite values); its generic machinery
        (dataframe detection, array-API dispatch, tags) took 100 us of a
        1-row predict, two thirds of sklearn's whole predict. Anything
        else, or anything these checks refuse, goes through
        ``validate_data``, which raises sklearn's errors.
        """
        if (type(X) is np.ndarray and X.ndim == 2
                and 0 < X.shape[0] <= _LEAN_ROWS and X.dtype in _FLOAT_DTYPES
                and X.shape[1] == self.__dict__.get("n_features_in_")
                and "feature_names_in_" not in self.__dict__
                and np.isfinite(X).all()):
            return X
        return validate_data(self, X, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), reset=False)

    def _prediction_network(self, layer_units, dtype, device, params):
        """The compiled network predicting with this model's layout.

        Networks for activations given by name are shared between calls and
        estimators (resolving the plugins and building the network took
        20 us of a 1-row predict); a re-registered plugin gets a new one.
        """
        value = self.activation
        named = isinstance(value, str) or (
            isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value))
        batch_norm = tuple(s is not None for s in params["bn_scales_"])
        layer_norm = tuple(s is not None for s in params["ln_scales_"])
        key = tables = None
        if device == "cpu" and named:
            tables = get_registry().tables()
            key = (value if isinstance(value, str) else tuple(value),
                   tuple(layer_units), self.out_activation_, np.dtype(dtype).str,
                   batch_norm, layer_norm, float(self.layer_norm_epsilon))
            hit = _prediction_networks.get(key)
            if hit is not None and hit[0] is tables:
                return hit[1]
        net = make_network(device, layer_units,
                           resolve_activations(self.activation, len(layer_units) - 2),
                           self.out_activation_, dtype, batch_norm=list(batch_norm),
                           layer_norm=list(layer_norm),
                           layer_norm_epsilon=self.layer_norm_epsilon)
        if key is not None:
            if len(_prediction_networks) >= 64:
                _prediction_networks.clear()
            _prediction_networks[key] = (tables, net)
        return net

    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = self._validate_prediction_input(X)
        if sp.issparse(X):
            X = X.toarray()
        dtype = self.coefs_[0].dtype
        # The network computes in its own dtype; the outputs take sklearn's
        # (NumPy's promotion of the input's and the weights' dtypes).
        out_dtype = np.result_type(getattr(X, "dtype", np.float64), dtype)
        X = np.ascontiguousarray(X, dtype=dtype)
        hidden = [c.shape[1] for c in self.coefs_[:-1]]
        layer_units = [self.coefs_[0].shape[0]] + hidden + [self.coefs_[-1].shape[1]]
        # A model trained on a GPU predicts on the CPU where none is usable.
        device = ("cuda" if self.device != "cpu" and cuda_status()[0] else "cpu")
        params = parameters_of(self)
        net = self._prediction_network(layer_units, dtype, device, params)
        theta, running = pack(net.layout, params, dtype, reuse=True)
        return net.predict(theta, X, running).astype(out_dtype, copy=False)

    def _score_outputs(self, outputs, y, sample_weight):
        """Score raw network outputs against ``y`` (the estimator's score)."""
        y_pred = self._outputs_to_predictions(outputs)
        if np.issubdtype(np.asarray(y_pred).dtype, np.floating) and not np.isfinite(
                y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_EXTRA_PARAMS_DOC = """
    initializer : str or skdeep.Initializer, default="sklearn"
        Weight initialization plugin. "sklearn" reproduces sklearn's scheme
        and random draws; also "glorot_uniform", "glorot_normal",
        "he_uniform", "he_normal", "lecun_uniform", "lecun_normal" or any
        installed plugin.

    regularizer : str or skdeep.Regularizer, default="l2"
        Weight penalty scaled by ``alpha``: "l2" (sklearn's), "l1",
        "l1_l2" or any installed plugin.

    dropout : float or sequence of float, default=0.0
        Inverted dropout rate of the hidden layers (one value, or one per
        hidden layer), applied during training only: predictions use every
        unit, unscaled and deterministic.

    input_noise : float, default=0.0
        Standard deviation of Gaussian noise added to the inputs of every
        training batch (never at prediction).

    mixup_alpha : float, default=0.0
        Mixup: each training batch is replaced by convex combinations of
        its samples (and targets and weights) with a random partner, the
        mixing weight drawn from Beta(mixup_alpha, mixup_alpha). 0 disables.

    clip_value : float, default=None
        Clip every gradient entry to ``[-clip_value, clip_value]`` before
        each update (stochastic solvers).

    clip_norm : float, default=None
        Rescale the whole gradient when its L2 norm exceeds ``clip_norm``,
        after ``clip_value`` (stochastic solvers).

    callbacks : list of callables, default=None
        Each is called as ``callback(estimator, record)`` after every epoch,
        with ``record`` the epoch's entry of ``history_`` and the
        estimator's ``coefs_``/``intercepts_`` holding the current weights.
        Returning ``True`` stops training. Needs a stochastic solver
        ("lbfgs" has no epochs: an error).

    batch_norm : bool or sequence of bool, default=False
        Batch normalization after each hidden dense layer (or one flag per
        hidden layer): batch statistics in training, running statistics at
        prediction, with a learned scale and shift per unit. Needs a
        stochastic solver, and at least 2 rows in every minibatch (a fit
        whose last batch would hold a single row raises ``ValueError``).

    batch_norm_momentum : float in [0, 1), default=0.9
        Weight of the old value in the running statistics' update
        ``running = momentum * running + (1 - momentum) * batch``; only
        used with ``batch_norm``.

    layer_norm : bool or sequence of bool, default=False
        Layer normalization after each hidden dense layer (or one flag per
        hidden layer): each row's pre-activations are normalized over the
        layer's units, ``(z - mean) / sqrt(var + layer_norm_epsilon)``, then
        scaled and shifted by a learned scale and shift per unit. It does
        not depend on the minibatch, so training and prediction compute the
        same function, any batch size works (``batch_size=1``,
        ``partial_fit`` on single rows) and every solver, L-BFGS included.
        A layer takes at most one of ``batch_norm`` and ``layer_norm``.

    layer_norm_epsilon : float > 0, default=1e-5
        Added to each row's variance in layer normalization. Part of the
        fitted function: ``predict`` and the ONNX export use the current
        value, as they use ``activation``.

    early_stopping_metric : {"score", "loss"}, default="score"
        What early stopping watches on the validation set: the score
        (sklearn's behaviour; R² for the regressor) or the loss. Only used
        with ``early_stopping``.

    restore_best_weights : bool, default=True
        With ``early_stopping``, end with the weights of the best validation
        epoch (sklearn's behaviour) rather than the last epoch's. Only used
        with ``early_stopping``. Like ``best_validation_score_``, the best
        carries over into ``warm_start`` fits: one that never beats it ends
        with the earlier best weights.

    transfer_from : fitted MLP estimator or dict, default=None
        Initialize the leading layers from another fitted estimator
        (skdeep's or sklearn's), or from a dict with its ``coefs_`` and
        ``intercepts_`` (and optionally the batch-norm and activation
        parameter lists). Used on the first fit only. The source is only
        read: ``clone`` (and so ``cross_val_score`` and ``GridSearchCV``)
        keeps the very same fitted object. As a value in a parameter grid
        ``GridSearchCV`` clones it, so pass the dict form there.

    transfer_layers : int, default=None
        Number of leading weight layers to copy from ``transfer_from``
        (default: all of its layers). Shapes must match. Only used with
        ``transfer_from``.

    frozen_layers : array-like of int, default=None
        Indices of weight layers (0 is the first, -1 the output layer) whose
        weights, intercepts, batch-norm scale and shift and activation
        parameters are not trained: they stay bit-identical. Batch-norm
        running statistics of frozen layers still update.

    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where to train. "cuda" trains on an NVIDIA GPU through numba-cuda
        (``pip install "skdeep-mlp[cuda]"``) and raises an error at ``fit`` when
        none is usable; "auto" uses a GPU when one is usable and the CPU
        otherwise (saying so when ``verbose``). Fitted models hold their
        parameters as NumPy arrays: they pickle, and predict on a GPU when
        one is usable and ``device`` is not "cpu", else on the CPU.
"""

_CLASSIFIER_PARAMS_DOC = """
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight``; "balanced"
        uses ``n_samples / (n_classes * np.bincount(y))`` (``fit`` only:
        ``partial_fit`` sees one batch of ``y`` at a time).

    label_smoothing : float in [0, 1), default=0.0
        Moves the training targets towards uniform: ``y * (1 - eps) + eps /
        K`` with K the number of classes (softmax) or 2 (logistic outputs).

    loss : str or skdeep.Loss, default="log_loss"
        Classification loss: "log_loss" (binary or categorical
        cross-entropy) or any installed classification loss plugin.
"""

_COMMON_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element represents the number of neurons in the ith hidden
        layer.

    activation : str, skdeep.Activation or sequence of them, default="relu"
        Activation of the hidden layers: a registered name ("identity",
        "logistic", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu",
        "swish", "silu", "mish", "softplus", or from a plugin), an
        :class:`skdeep.Activation` with hyperparameters, or one entry per
        hidden layer. ``activation__<hp>`` works on names too
        (``activation="leaky_relu"``, ``activation__alpha``); with one
        entry per layer it sets every layer whose activation has ``<hp>``.

    solver : str or skdeep.Optimizer, default="adam"
        "lbfgs", "sgd", "adam" as in sklearn, any other registered optimizer
        ("adamw", "adamax", "nadam", "adagrad", "rmsprop", ...), or an
        :class:`skdeep.Optimizer` with hyperparameters. ``solver__<hp>``
        works in ``set_params`` and ``GridSearchCV`` either way
        (``solver="rmsprop"`` with ``solver__rho``). By name, "sgd" takes
        ``momentum`` and ``nesterovs_momentum`` and the Adam family
        ``beta_1``, ``beta_2``, ``epsilon`` from this estimator, as
        sklearn's solvers do; an :class:`skdeep.Optimizer` uses its own
        values (and the plugin's defaults), and a fit warns when that
        overrides one of those estimator parameters set to a non-default
        value.

    alpha : float, default=0.0001
        Strength of the weight penalty (L2 by default).

    batch_size : int or "auto", default="auto"
        Minibatch size; "auto" is ``min(200, n_samples)``. Not used by
        "lbfgs" (full batch).

    learning_rate : str or skdeep.LearningRateSchedule, default="constant"
        Learning-rate schedule. "constant", "invscaling" and "adaptive" are
        sklearn's and apply to every stochastic optimizer except "adam",
        which ignores them as sklearn's does. "exponential",
        "inverse_time", "step", "cyclic", "cosine" (warm restarts) and
        "plateau" (reduce on the validation loss, or the training loss
        without validation data), or a schedule object such as
        ``skdeep.StepDecay(step_size=20, gamma=0.5)``, apply to every
        stochastic optimizer, per epoch or per step. A schedule's
        hyperparameters can be searched on its name
        (``learning_rate="step"``, ``learning_rate__gamma``). Not used by
        "lbfgs".

    learning_rate_init : float, default=0.001
        Initial learning rate of stochastic solvers (not used by "lbfgs").

    power_t : float, default=0.5
        Exponent of the "invscaling" schedule; only used with
        ``learning_rate="invscaling"``.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialization, shuffling and the validation split.

    tol : float, default=1e-4
        Tolerance for the optimization.

    verbose : bool or int, default=False
        ``True``/1: a progress bar with the loss and validation loss of each
        epoch (with ``tqdm`` installed; otherwise sklearn's lines). 2:
        sklearn's per-epoch lines. With "lbfgs", the loss of every
        iteration.

    warm_start : bool, default=False
        Reuse the previous solution as initialization.

    momentum : float, default=0.9
        Momentum of "sgd"; only used when ``solver="sgd"`` by name (an
        :class:`skdeep.Optimizer` carries its own, and a fit warns when it
        overrides a value set here).

    nesterovs_momentum : bool, default=True
        Whether "sgd" uses Nesterov's momentum; only used when
        ``solver="sgd"`` by name.

    early_stopping : bool, default=False
        Stop when the validation score (or loss, see
        ``early_stopping_metric``) stops improving by ``tol`` for
        ``n_iter_no_change`` epochs, on ``validation_fraction`` of the
        training data or on ``validation_data`` given to ``fit``.
        Stochastic solvers only: "lbfgs" ignores it, as sklearn's does.

    validation_fraction : float, default=0.1
        Fraction of training data held out for early stopping; only used
        with ``early_stopping`` and no ``validation_data``.

    beta_1, beta_2 : float, default=0.9, 0.999
        Moment decay rates of the Adam family ("adam", "adamw", "adamax",
        "nadam"); only used when the solver is given by name (an
        :class:`skdeep.Optimizer` carries its own, and a fit warns when it
        overrides a value set here).

    epsilon : float, default=1e-8
        Numerical stability term of the adaptive optimizers (the Adam
        family, "adagrad", "rmsprop"), given by name.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (stochastic
        solvers).

    max_fun : int, default=15000
        Maximum number of loss evaluations; only used by "lbfgs".
"""

_ATTRIBUTES_DOC = """
    Attributes
    ----------
    loss_ : float
        The current loss computed with the loss function.
    best_loss_ : float or None
        Minimum training loss reached (stochastic solvers).
    loss_curve_ : list of float
        Training loss at the end of each epoch (stochastic solvers).
    validation_scores_ : list of float or None
        Validation score of each epoch when ``early_stopping`` or
        ``validation_data`` is given.
    best_validation_score_ : float or None
        Best validation score when ``early_stopping``.
    t_ : int
        Number of training samples seen by the solver.
    coefs_ : list of ndarray
        Weight matrix of each layer, shape ``(fan_in, fan_out)``.
    intercepts_ : list of ndarray
        Bias vector of each layer.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Feature names seen during fit, when X had string column names.
    n_iter_ : int
        Number of epochs (or lbfgs iterations) run.
    n_layers_ : int
        Number of layers.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        Name of the output activation.
    validation_loss_curve_ : list of float or None
        Validation loss (with the penalty, like ``loss_curve_``) of each
        epoch, with ``early_stopping`` or ``validation_data``.
    best_validation_loss_ : float or None
        Lowest validation loss, with ``early_stopping``.
    bn_scales_, bn_shifts_ : list of ndarray or None
        Batch-norm scale and shift of each hidden layer (``None`` for a
        layer without batch normalization).
    bn_running_means_, bn_running_vars_ : list of ndarray or None
        Batch-norm running statistics used at prediction.
    ln_scales_, ln_shifts_ : list of ndarray or None
        Layer-norm scale and shift of each hidden layer (``None`` for a
        layer without layer normalization).
    device_ : {"cpu", "cuda"}
        Where the last fit trained.
    activation_params_ : list of ndarray or None
        Learned per-unit activation parameters (PReLU slopes) of each hidden
        layer, ``None`` for activations without them.
    history_ : list of dict
        One record per epoch (stochastic solvers): ``epoch``, ``loss``,
        ``validation_loss``, ``validation_score``, ``learning_rate``,
        ``time`` (seconds), ``update_ratio`` (per layer
        ``||W_after - W_before|| / ||W_before||``, the learning-rate health
        check) and ``score``, the training score accumulated over the
        epoch's batches as they are trained (accuracy; for the regressor
        R² pooled over outputs). ``learning_rate`` is the rate of the
        epoch's first step.
"""


@public
class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron classifier on compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`
    with the same parameters, defaults and attributes, plus pluggable
    activations, optimizers, initializers and regularizers. Binary and
    multilabel targets use logistic outputs, multiclass a softmax; the loss
    is the log-loss unless ``loss`` names another classification loss.

    Parameters
    ----------"""
        + _COMMON_PARAMS_DOC
        + _EXTRA_PARAMS_DOC
        + _CLASSIFIER_PARAMS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray or list of ndarray
        Class labels."""
        + _ATTRIBUTES_DOC.split("----------", 1)[1]
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skdeep import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver="lbfgs", random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        initializer="sklearn",
        regularizer="l2",
        clip_value=None,
        clip_norm=None,
        dropout=0.0,
        input_noise=0.0,
        mixup_alpha=0.0,
        callbacks=None,
        class_weight=None,
        label_smoothing=0.0,
        loss="log_loss",
        batch_norm=False,
        batch_norm_momentum=0.9,
        layer_norm=False,
        layer_norm_epsilon=1e-5,
        early_stopping_metric="score",
        restore_best_weights=True,
        transfer_from=None,
        transfer_layers=None,
        frozen_layers=None,
        device="cpu",
    ):
        _store_parameters(self, locals())

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        # Imported on use: sklearn.metrics is 40 ms of a fresh process's
        # import and a default fit never scores.
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, y_pred, sample_weight=sample_weight)

    def _encode_targets(self, y):
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"validation_data's y_val must be a label indicator matrix "
                    f"with {len(self.classes_)} columns, like the training "
                    f"targets; got shape {y.shape}."
                )
        elif y.ndim != 1:
            raise ValueError(
                f"validation_data's y_val must be one label per row, like the "
                f"training targets; got shape {y.shape}."
            )
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unknown):
            raise ValueError(
                f"validation_data has labels {unknown} not seen in training "
                f"(classes_ is {self.classes_})."
            )
        return self._label_binarizer.transform(y).astype(float)

    def _outputs_to_predictions(self, outputs):
        if self.n_outputs_ == 1:
            outputs = outputs.ravel()
        # LabelBinarizer.inverse_transform's own selection for the two
        # common cases, without its input checks (30 us of a 1-row predict).
        binarizer = self._label_binarizer
        kind = getattr(binarizer, "y_type_", None)
        classes = binarizer.classes_
        if kind == "multiclass" and outputs.ndim == 2:
            return classes.take(outputs.argmax(axis=1), mode="clip")
        if kind == "binary" and outputs.ndim == 1 and len(classes) == 2:
            return classes[(outputs > 0.5).astype(int)]
        return binarizer.inverse_transform(outputs)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _smooth_targets(self, Y):
        # Softmax targets move towards uniform over the K classes; each
        # logistic output (binary, multilabel) towards 1/2.
        eps = float(self.label_smoothing)
        if eps == 0.0:
            return Y
        n_classes = Y.shape[1] if self.out_activation_ == "softmax" else 2
        return (Y * (1.0 - eps) + eps / n_classes).astype(Y.dtype)

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._outputs_to_predictions(
            self._forward_pass_fast(X, check_input=check_input))

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first
            call. For multilabel targets the labels are the columns of
            ``y``.

        Returns
        -------
        self : object
            The updated estimator.
        """
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: one "
                "batch's class counts are not the data's. Compute the weights "
                "once with sklearn.utils.class_weight.compute_class_weight("
                "'balanced', classes=classes, y=y) on (a large sample of) the "
                "training targets and pass them as a dict."
            )
        first_call = _check_partial_fit_first_call(self, classes)
        try:
            if first_call:
                self._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    self._label_binarizer.fit(y)
                else:
                    self._label_binarizer.fit(classes)
            return self._fit(X, y, sample_weight=sample_weight, incremental=True)
        except BaseException:
            if first_call:  # leave the estimator clearly unfitted
                self.__dict__.pop("classes_", None)
                self.__dict__.pop("_label_binarizer", None)
            raise

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``.
        """
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        self._check_fitted()
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


@public
class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = (
        """Multi-layer perceptron regressor on compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`
    with the same parameters, defaults and attributes, plus pluggable
    activations, optimizers, initializers and regularizers.

    Parameters
    ----------
    loss : str or skdeep.Loss, default="squared_error"
        "squared_error" (half squared error, identity output), "poisson"
        (half Poisson deviance, exponential output; targets must be >= 0),
        "absolute_error", "huber" (``skdeep.Loss("huber", delta=0.5)``) or
        any installed regression loss plugin."""
        + _COMMON_PARAMS_DOC
        + _EXTRA_PARAMS_DOC
        + _ATTRIBUTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from skdeep import MLPRegressor
    >>> X, y = make_regression(n_samples=200, random_state=0)
    >>> reg = MLPRegressor(solver="lbfgs", random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """
    )


    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        initializer="sklearn",
        regularizer="l2",
        clip_value=None,
        clip_norm=None,
        dropout=0.0,
        input_noise=0.0,
        mixup_alpha=0.0,
        callbacks=None,
        batch_norm=False,
        batch_norm_momentum=0.9,
        layer_norm=False,
        layer_norm_epsilon=1e-5,
        early_stopping_metric="score",
        restore_best_weights=True,
        transfer_from=None,
        transfer_layers=None,
        frozen_layers=None,
        device="cpu",
    ):
        _store_parameters(self, locals())

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
            y_numeric=True, dtype=(np.float64, np.float32), reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _check_targets(self, Y):
        name = self.loss if isinstance(self.loss, str) else self.loss.name
        if name == "poisson" and (Y < 0).any():
            raise ValueError(
                "loss='poisson' requires non-negative target values; y has "
                f"a minimum of {Y.min()}. Use loss='squared_error' (or "
                "'huber'), or shift y."
            )

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        self._check_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._outputs_to_predictions(
            self._forward_pass_fast(X, check_input=check_input))

    @staticmethod
    def _score_function(y, y_pred, sample_weight=None):
        from sklearn.metrics import r2_score  # on use, as for the classifier

        return r2_score(y, y_pred, sample_weight=sample_weight)

    def _outputs_to_predictions(self, outputs):
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
