"""Learning-rate schedules for the stochastic solvers.

A schedule is a scikit-learn parameter object (``learning_rate=StepDecay(
gamma=0.5)``): its constructor only stores its arguments, so ``clone``,
``get_params`` and ``set_params`` work and ``GridSearchCV`` can search
``learning_rate__gamma``. Everything that changes during ``fit`` lives in the
:class:`ScheduleState` returned by :meth:`LearningRateSchedule.start`, never
on the schedule itself, so one schedule object can be shared by clones and
grid-search candidates.

Python runs once per epoch. Before each epoch the trainer asks
:meth:`LearningRateSchedule.rates` for the float64 learning rate of every
minibatch step of that epoch; after it, :meth:`LearningRateSchedule.epoch_end`
receives the monitored loss (validation loss if there is validation data,
otherwise the training loss).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import (
    Interval,
    validate_parameter_constraints,
)

__all__ = [
    "SCHEDULE_NAMES",
    "LearningRateController",
    "ConstantSchedule",
    "CosineWarmRestarts",
    "CyclicLR",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "ReduceLROnPlateau",
    "ScheduleState",
    "StepDecay",
    "make_schedule",
]

# Names the estimator implements itself, with sklearn's semantics; they are
# accepted by ``learning_rate=`` but have no schedule object.
SKLEARN_SCHEDULE_NAMES = ("constant", "invscaling", "adaptive")


class ScheduleState:
    """Mutable fit-time state of a learning-rate schedule.

    Created by :meth:`LearningRateSchedule.start`; schedules may add their
    own attributes (e.g. the current rate and the best loss so far of
    :class:`ReduceLROnPlateau`). It holds plain values only, so
    ``copy.deepcopy`` and pickling work.

    Parameters
    ----------
    learning_rate_init : float
        The estimator's initial learning rate (``lr0`` in the formulas).
    steps_per_epoch : int
        Number of minibatch steps in one epoch.
    **extra
        Further attributes a schedule needs.
    """

    def __init__(self, learning_rate_init, steps_per_epoch, **extra):
        self.learning_rate_init = learning_rate_init
        self.steps_per_epoch = steps_per_epoch
        self.__dict__.update(extra)

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.__dict__ == other.__dict__

    # Mutable, so unhashable (as __eq__ compares contents).
    __hash__ = None

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({items})"


class LearningRateSchedule(BaseEstimator):
    """Base class of learning-rate schedules.

    A schedule maps a "clock" to a learning rate. The trainer calls
    :meth:`start` once per ``fit``, :meth:`rates` before every epoch and
    :meth:`epoch_end` after every epoch.

    To write a schedule, subclass this class and

    - list every hyperparameter as an explicit keyword argument of
      ``__init__`` and store it unchanged under the same name, with no other
      logic (scikit-learn's rule for estimators, which makes ``clone`` and
      ``set_params`` work);
    - optionally declare ``_parameter_constraints`` (a dict in the format of
      scikit-learn's parameter validation), which :meth:`start` checks;
    - implement :meth:`rates`, returning a float64 array with one rate per
      step; :meth:`_clock` builds the step or epoch clock (subclasses
      state their formula in the class docstring; ``rates`` inherits this
      class's documentation);
    - to keep fit-time values, override :meth:`start`, call
      ``super().start(...)`` and set attributes on the returned state;
      never store them on ``self``;
    - for schedules driven by the loss, override :meth:`epoch_end`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeep._schedules import LearningRateSchedule
    >>> class Halving(LearningRateSchedule):
    ...     def __init__(self, every=5):
    ...         self.every = every
    ...
    ...     def rates(self, state, epoch, first_step, n_steps):
    ...         rate = state.learning_rate_init * 0.5 ** (epoch // self.every)
    ...         return np.full(n_steps, rate)
    >>> schedule = Halving(every=2)
    >>> state = schedule.start(0.1, steps_per_epoch=3)
    >>> schedule.rates(state, epoch=2, first_step=6, n_steps=3)
    array([0.05, 0.05, 0.05])
    """

    _parameter_constraints: dict = {}

    _start_constraints = {
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "steps_per_epoch": [Interval(Integral, 1, None, closed="left")],
    }

    def start(self, learning_rate_init, steps_per_epoch):
        """Validate the parameters and return a fresh state for one fit.

        Parameters
        ----------
        learning_rate_init : float
            Initial learning rate ``lr0``; must be positive and finite.
        steps_per_epoch : int
            Number of minibatch steps per epoch, at least 1.

        Returns
        -------
        state : ScheduleState
            Holds ``learning_rate_init``, ``steps_per_epoch`` and whatever
            the schedule adds.

        Raises
        ------
        ValueError
            If a parameter of the schedule, or an argument, is invalid; the
            message names it, its value and what is accepted.
        """
        self._validate_params()
        validate_parameter_constraints(
            self._start_constraints,
            {
                "learning_rate_init": learning_rate_init,
                "steps_per_epoch": steps_per_epoch,
            },
            caller_name=f"{type(self).__name__}.start",
        )
        if not math.isfinite(learning_rate_init):
            raise ValueError(
                f"The 'learning_rate_init' parameter of {type(self).__name__}"
                f".start must be finite. Got {learning_rate_init!r} instead."
            )
        return ScheduleState(
            learning_rate_init=float(learning_rate_init),
            steps_per_epoch=int(steps_per_epoch),
        )

    def rates(self, state, epoch, first_step, n_steps):
        """Learning rate of every step of one epoch.

        Parameters
        ----------
        state : ScheduleState
            The state returned by :meth:`start`.
        epoch : int
            0-based index of the epoch.
        first_step : int
            0-based global index of the epoch's first step.
        n_steps : int
            Number of steps in the epoch.

        Returns
        -------
        rates : ndarray of shape (n_steps,), dtype float64
            ``rates[i]`` is the rate of global step ``first_step + i``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement rates(state, epoch, "
            "first_step, n_steps)"
        )

    def epoch_end(self, state, monitor):
        """Receive the monitored loss after an epoch.

        The base implementation ignores it.

        Parameters
        ----------
        state : ScheduleState
            The state returned by :meth:`start`; may be changed.
        monitor : float
            Validation loss if there is validation data, otherwise the
            training loss; lower is better.

        Returns
        -------
        message : str or None
            A short message when the learning rate was changed, else None.
        """
        return None

    @staticmethod
    def _clock(per_step, epoch, first_step, n_steps):
        """The clock ``t`` of each step of an epoch, as float64.

        Parameters
        ----------
        per_step : bool
            If True, ``t`` is the global step ``first_step + i``; otherwise
            it is ``epoch`` for every step.
        epoch, first_step, n_steps : int
            As in :meth:`rates`.

        Returns
        -------
        t : ndarray of shape (n_steps,), dtype float64
        """
        if per_step:
            return np.arange(n_steps, dtype=np.float64) + float(first_step)
        return np.full(n_steps, float(epoch))


# Public as skdeep.LearningRateSchedule: error messages name it so.
LearningRateSchedule.__module__ = "skdeep"


class ConstantSchedule(LearningRateSchedule):
    """Constant learning rate: ``lr = lr0``.

    Useful as a starting point for user schedules and for feeding a constant
    rate through the schedule machinery.
    """

    def __init__(self):
        pass

    def rates(self, state, epoch, first_step, n_steps):
        return np.full(n_steps, state.learning_rate_init)


class ExponentialDecay(LearningRateSchedule):
    """Exponential decay: ``lr = lr0 * decay_rate ** (t / decay_steps)``.

    With ``staircase=True`` the exponent is ``floor(t / decay_steps)``.

    Parameters
    ----------
    decay_rate : float, default=0.96
        Factor applied every ``decay_steps`` units of the clock, in (0, 1].
    decay_steps : float, default=1
        Length of one decay period in clock units, > 0.
    staircase : bool, default=False
        Decay in discrete jumps instead of continuously.
    per_step : bool, default=False
        Clock ``t`` is the global minibatch step if True, else the epoch.
    """

    _parameter_constraints = {
        "decay_rate": [Interval(Real, 0, 1, closed="right")],
        "decay_steps": [Interval(Real, 0, None, closed="neither")],
        "staircase": ["boolean"],
        "per_step": ["boolean"],
    }

    def __init__(self, decay_rate=0.96, decay_steps=1, staircase=False,
                 per_step=False):
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.staircase = staircase
        self.per_step = per_step

    def rates(self, state, epoch, first_step, n_steps):
        t = self._clock(self.per_step, epoch, first_step, n_steps)
        p = t / float(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return state.learning_rate_init * np.power(float(self.decay_rate), p)


class InverseTimeDecay(LearningRateSchedule):
    """Inverse-time decay: ``lr = lr0 / (1 + decay_rate * t / decay_steps)``.

    With ``staircase=True``, ``t / decay_steps`` is replaced by
    ``floor(t / decay_steps)``.

    Parameters
    ----------
    decay_rate : float, default=1.0
        Slope of the denominator, >= 0 (0 gives a constant rate).
    decay_steps : float, default=1
        Clock units per unit of decay, > 0.
    staircase : bool, default=False
        Decay in discrete jumps instead of continuously.
    per_step : bool, default=False
        Clock ``t`` is the global minibatch step if True, else the epoch.
    """

    _parameter_constraints = {
        "decay_rate": [Interval(Real, 0, None, closed="left")],
        "decay_steps": [Interval(Real, 0, None, closed="neither")],
        "staircase": ["boolean"],
        "per_step": ["boolean"],
    }

    def __init__(self, decay_rate=1.0, decay_steps=1, staircase=False,
                 per_step=False):
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.staircase = staircase
        self.per_step = per_step

    def rates(self, state, epoch, first_step, n_steps):
        t = self._clock(self.per_step, epoch, first_step, n_steps)
        p = t / float(self.decay_steps)
        if self.staircase:
            p = np.floor(p)
        return state.learning_rate_init / (1.0 + float(self.decay_rate) * p)


class StepDecay(LearningRateSchedule):
    """Step decay: ``lr = lr0 * gamma ** floor(t / step_size)``.

    Parameters
    ----------
    step_size : int, default=10
        Clock units between two reductions, >= 1.
    gamma : float, default=0.1
        Multiplicative factor of each reduction, in (0, 1].
    per_step : bool, default=False
        Clock ``t`` is the global minibatch step if True, else the epoch.
    """

    _parameter_constraints = {
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="right")],
        "per_step": ["boolean"],
    }

    def __init__(self, step_size=10, gamma=0.1, per_step=False):
        self.step_size = step_size
        self.gamma = gamma
        self.per_step = per_step

    def rates(self, state, epoch, first_step, n_steps):
        t = self._clock(self.per_step, epoch, first_step, n_steps)
        k = np.floor(t / float(self.step_size))
        return state.learning_rate_init * np.power(float(self.gamma), k)


class CyclicLR(LearningRateSchedule):
    """Cyclical learning rate, triangular policy (Smith, 2017).

    ``cycle = floor(1 + t / (2 * step_size))``,
    ``x = |t / step_size - 2 * cycle + 1|``,
    ``lr = base_lr + (max_lr - base_lr) * max(0, 1 - x)``: the rate climbs
    linearly from ``base_lr`` at ``t = 0`` to ``max_lr`` at
    ``t = step_size`` and back to ``base_lr`` at ``t = 2 * step_size``.

    Parameters
    ----------
    base_lr : float or None, default=None
        Lower bound of the cycle, >= 0; None means ``lr0``.
    max_lr : float or None, default=None
        Upper bound of the cycle, > 0 and >= ``base_lr``; None means
        ``10 * lr0``.
    step_size : int, default=2000
        Clock units in half a cycle, >= 1.
    per_step : bool, default=True
        Clock ``t`` is the global minibatch step if True, else the epoch.

    References
    ----------
    L. N. Smith, "Cyclical Learning Rates for Training Neural Networks",
    WACV 2017.
    """

    _parameter_constraints = {
        "base_lr": [None, Interval(Real, 0, None, closed="left")],
        "max_lr": [None, Interval(Real, 0, None, closed="neither")],
        "step_size": [Interval(Integral, 1, None, closed="left")],
        "per_step": ["boolean"],
    }

    def __init__(self, base_lr=None, max_lr=None, step_size=2000,
                 per_step=True):
        self.base_lr = base_lr
        self.max_lr = max_lr
        self.step_size = step_size
        self.per_step = per_step

    def start(self, learning_rate_init, steps_per_epoch):
        """Validate, resolve ``base_lr``/``max_lr`` and return the state.

        Parameters
        ----------
        learning_rate_init : float
            Initial learning rate ``lr0``.
        steps_per_epoch : int
            Number of minibatch steps per epoch.

        Returns
        -------
        state : ScheduleState
            With ``base_lr`` and ``max_lr`` resolved to floats.

        Raises
        ------
        ValueError
            If a parameter is invalid or ``max_lr < base_lr``.
        """
        state = super().start(learning_rate_init, steps_per_epoch)
        lr0 = state.learning_rate_init
        # None defaults are relative to lr0, only known at fit time.
        base = lr0 if self.base_lr is None else float(self.base_lr)
        top = 10.0 * lr0 if self.max_lr is None else float(self.max_lr)
        if top < base:
            raise ValueError(
                f"The 'max_lr' parameter of {type(self).__name__} must be >= "
                f"base_lr. Got max_lr={self.max_lr!r} (resolved to {top!r}) "
                f"and base_lr={self.base_lr!r} (resolved to {base!r}) with "
                f"learning_rate_init={lr0!r}."
            )
        state.base_lr = base
        state.max_lr = top
        return state

    def rates(self, state, epoch, first_step, n_steps):
        t = self._clock(self.per_step, epoch, first_step, n_steps)
        s = float(self.step_size)
        cycle = np.floor(1.0 + t / (2.0 * s))
        x = np.abs(t / s - 2.0 * cycle + 1.0)
        return state.base_lr + (state.max_lr - state.base_lr) * np.maximum(
            0.0, 1.0 - x
        )


class CosineWarmRestarts(LearningRateSchedule):
    """Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter, 2017).

    Within a period of length ``T_i`` that starts at ``t_start``,
    ``lr = min_lr + (lr0 - min_lr) * (1 + cos(pi * (t - t_start) / T_i)) / 2``.
    The periods have lengths ``T_0, T_0 * T_mult, T_0 * T_mult**2, ...``, so
    the rate restarts at ``lr0`` at ``t = T_0``, ``T_0 + T_0 * T_mult``, ...

    Parameters
    ----------
    T_0 : int, default=10
        Length of the first period in clock units, >= 1.
    T_mult : int, default=1
        Growth factor of the period after each restart, >= 1.
    min_lr : float, default=0.0
        Rate approached at the end of each period, >= 0 and at most ``lr0``.
    per_step : bool, default=False
        Clock ``t`` is the global minibatch step if True, else the epoch.

    References
    ----------
    I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent with
    Warm Restarts", ICLR 2017.
    """

    _parameter_constraints = {
        "T_0": [Interval(Integral, 1, None, closed="left")],
        "T_mult": [Interval(Integral, 1, None, closed="left")],
        "min_lr": [Interval(Real, 0, None, closed="left")],
        "per_step": ["boolean"],
    }

    def __init__(self, T_0=10, T_mult=1, min_lr=0.0, per_step=False):
        self.T_0 = T_0
        self.T_mult = T_mult
        self.min_lr = min_lr
        self.per_step = per_step

    def start(self, learning_rate_init, steps_per_epoch):
        """Validate and return the state.

        Parameters
        ----------
        learning_rate_init : float
            Initial learning rate ``lr0``, the rate at each restart.
        steps_per_epoch : int
            Number of minibatch steps per epoch.

        Returns
        -------
        state : ScheduleState

        Raises
        ------
        ValueError
            If a parameter is invalid or ``min_lr > learning_rate_init``.
        """
        state = super().start(learning_rate_init, steps_per_epoch)
        if self.min_lr > state.learning_rate_init:
            raise ValueError(
                f"The 'min_lr' parameter of {type(self).__name__} must be <= "
                f"learning_rate_init ({state.learning_rate_init!r}). Got "
                f"{self.min_lr!r} instead."
            )
        return state

    def _period(self, t):
        """Start and length of the period containing each ``t``."""
        T_0 = int(self.T_0)
        T_mult = int(self.T_mult)
        if T_mult == 1:
            t_start = np.floor(t / T_0) * T_0
            return t_start, np.full_like(t, float(T_0))
        # Period starts grow geometrically, so listing them up to max(t)
        # takes O(log t) exact integer steps (no log() rounding at the
        # boundaries).
        t_max = float(t.max()) if t.size else 0.0
        starts, lengths = [0], [T_0]
        while starts[-1] + lengths[-1] <= t_max:
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * T_mult)
        idx = np.searchsorted(np.asarray(starts, dtype=np.float64), t,
                              side="right") - 1
        return (np.asarray(starts, dtype=np.float64)[idx],
                np.asarray(lengths, dtype=np.float64)[idx])

    def rates(self, state, epoch, first_step, n_steps):
        t = self._clock(self.per_step, epoch, first_step, n_steps)
        t_start, T_i = self._period(t)
        lo = float(self.min_lr)
        cos = np.cos(np.pi * (t - t_start) / T_i)
        return lo + (state.learning_rate_init - lo) * (1.0 + cos) / 2.0


class ReduceLROnPlateau(LearningRateSchedule):
    """Reduce the learning rate when the monitored loss stops improving.

    The rate starts at ``lr0`` and is constant within an epoch. After each
    epoch the loss improves if ``loss < best - min_delta``, where ``best`` is
    the loss of the last improvement. Epochs without improvement are
    counted; when the count exceeds ``patience`` (the convention of
    scikit-learn's ``n_iter_no_change``), ``rate = max(rate * factor,
    min_lr)``, the count is reset, and the next ``cooldown`` epochs are not
    counted.

    Parameters
    ----------
    factor : float, default=0.1
        Multiplicative factor of each reduction, in (0, 1).
    patience : int, default=10
        Non-improving epochs tolerated before a reduction, >= 0; the rate
        is reduced after ``patience + 1`` of them.
    min_delta : float, default=1e-4
        Minimum decrease of the loss that counts as an improvement, >= 0.
    cooldown : int, default=0
        Epochs after a reduction during which non-improving epochs are not
        counted, >= 0.
    min_lr : float, default=0.0
        Lower bound of the rate, >= 0.
    """

    _parameter_constraints = {
        "factor": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 0, None, closed="left")],
        "min_delta": [Interval(Real, 0, None, closed="left")],
        "cooldown": [Interval(Integral, 0, None, closed="left")],
        "min_lr": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, factor=0.1, patience=10, min_delta=1e-4, cooldown=0,
                 min_lr=0.0):
        self.factor = factor
        self.patience = patience
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr

    def start(self, learning_rate_init, steps_per_epoch):
        """Validate and return a state with the current rate set to ``lr0``.

        Parameters
        ----------
        learning_rate_init : float
            Initial learning rate ``lr0``.
        steps_per_epoch : int
            Number of minibatch steps per epoch.

        Returns
        -------
        state : ScheduleState
            Adds ``rate`` (current rate), ``best`` (loss of the last
            improvement), ``num_bad_epochs`` and ``cooldown_counter``.
        """
        state = super().start(learning_rate_init, steps_per_epoch)
        state.rate = state.learning_rate_init
        state.best = math.inf
        state.num_bad_epochs = 0
        state.cooldown_counter = 0
        return state

    def rates(self, state, epoch, first_step, n_steps):
        """The current rate for every step of the epoch.

        Parameters
        ----------
        state : ScheduleState
            The state returned by :meth:`start`.
        epoch, first_step, n_steps : int
            See :meth:`LearningRateSchedule.rates`.

        Returns
        -------
        rates : ndarray of shape (n_steps,), dtype float64
        """
        return np.full(n_steps, state.rate)

    def epoch_end(self, state, monitor):
        """Update the plateau counters and reduce the rate when due.

        Parameters
        ----------
        state : ScheduleState
            The state returned by :meth:`start`; updated in place.
        monitor : float
            The monitored loss of the epoch (lower is better). NaN never
            counts as an improvement.

        Returns
        -------
        message : str or None
            Says the rate was reduced, or None.
        """
        monitor = float(monitor)
        if monitor < state.best - float(self.min_delta):
            state.best = monitor
            state.num_bad_epochs = 0
        else:
            state.num_bad_epochs += 1
        if state.cooldown_counter > 0:
            state.cooldown_counter -= 1
            state.num_bad_epochs = 0
        if state.num_bad_epochs <= self.patience:
            return None
        n_bad = state.num_bad_epochs
        state.num_bad_epochs = 0
        new_rate = max(state.rate * float(self.factor), float(self.min_lr))
        if new_rate >= state.rate:
            # Already at min_lr: nothing to reduce, so no cooldown either.
            return None
        old_rate, state.rate = state.rate, new_rate
        state.cooldown_counter = int(self.cooldown)
        return (
            f"loss did not improve by more than {self.min_delta:g} for "
            f"{n_bad} consecutive epochs; learning rate reduced from "
            f"{old_rate:.6g} to {new_rate:.6g}"
        )


SCHEDULE_NAMES = {
    "exponential": ExponentialDecay,
    "inverse_time": InverseTimeDecay,
    "step": StepDecay,
    "cyclic": CyclicLR,
    "cosine": CosineWarmRestarts,
    "plateau": ReduceLROnPlateau,
}


def make_schedule(value):
    """Turn an estimator's ``learning_rate`` parameter into a schedule.

    Parameters
    ----------
    value : str or LearningRateSchedule
        A name in :data:`SCHEDULE_NAMES` (the schedule with its defaults),
        one of ``"constant"``, ``"invscaling"``, ``"adaptive"`` (handled by
        the estimator with scikit-learn's semantics), or a schedule object.

    Returns
    -------
    schedule : LearningRateSchedule or None
        ``value`` itself if it is a schedule, a new default schedule for a
        name in :data:`SCHEDULE_NAMES`, None for the three scikit-learn names.

    Raises
    ------
    ValueError
        For anything else; the message lists the accepted values.
    """
    if isinstance(value, LearningRateSchedule):
        return value
    if isinstance(value, str):
        if value in SKLEARN_SCHEDULE_NAMES:
            return None
        if value in SCHEDULE_NAMES:
            return SCHEDULE_NAMES[value]()
    accepted = ", ".join(repr(n) for n in (*SKLEARN_SCHEDULE_NAMES,
                                           *SCHEDULE_NAMES))
    hint = ""
    if isinstance(value, type) and issubclass(value, LearningRateSchedule):
        hint = f" (pass an instance, e.g. {value.__name__}(), not the class)"
    raise ValueError(
        f"The 'learning_rate' parameter must be one of {accepted}, or a "
        f"LearningRateSchedule instance. Got {value!r} instead{hint}."
    )


class LearningRateController:
    """The learning rate of every step of a fit, and its reaction to epochs.

    sklearn's ``constant``, ``invscaling`` and ``adaptive`` behave exactly as
    in sklearn (and, like sklearn's, are ignored by optimizers that do not
    follow schedules, such as ``adam``); any other name or a
    :class:`LearningRateSchedule` applies to every stochastic optimizer.
    The controller holds the estimator's settings only and is rebuilt for
    every ``fit``/``partial_fit`` call; what changes during training lives
    in the :class:`~skdeep.TrainingState` its methods receive.

    Parameters
    ----------
    learning_rate : str or LearningRateSchedule
        The estimator's ``learning_rate``.
    learning_rate_init : float
    power_t : float
    follows : bool
        Whether the optimizer follows sklearn's schedules.
    """

    def __init__(self, learning_rate, learning_rate_init, power_t, follows):
        self.init = float(learning_rate_init)
        self.custom = make_schedule(learning_rate)
        if self.custom is not None:
            self.kind = "custom"
        else:
            self.kind = learning_rate if follows else "constant"
        self.power_t = float(power_t)

    def start(self, steps_per_epoch):
        """``(learning_rate, schedule_state)`` of a fresh training state."""
        state = (self.custom.start(self.init, steps_per_epoch)
                 if self.custom is not None else None)
        return self.init, state

    def rates(self, state, n_steps):
        """float64 rates of the ``n_steps`` steps of the next epoch."""
        if self.custom is not None:
            rates = np.asarray(
                self.custom.rates(state.schedule_state, state.epoch, state.steps,
                                  n_steps),
                dtype=np.float64,
            )
            if rates.shape != (n_steps,) or not np.isfinite(rates).all():
                raise ValueError(
                    f"learning_rate schedule {self.custom!r} returned "
                    f"{rates!r}; expected {n_steps} finite rates."
                )
            return rates
        return np.full(n_steps, state.learning_rate)

    def epoch_end(self, state, monitor, time_step):
        """Advance ``state`` past an epoch; return a custom schedule's message.

        ``monitor`` is the monitored loss, ``time_step`` the samples seen so
        far (sklearn's ``t_``, which ``invscaling`` decays with).
        """
        state.epoch += 1
        if self.kind == "invscaling":
            state.learning_rate = self.init / (time_step + 1) ** self.power_t
        if self.custom is not None:
            return self.custom.epoch_end(state.schedule_state, monitor)
        return None

    def trigger_stopping(self, state, msg, report):
        """sklearn's reaction to a plateau: stop, or divide the rate by 5."""
        if self.kind != "adaptive":
            report(msg + " Stopping.")
            return True
        if state.learning_rate <= 1e-6:
            report(msg + " Learning rate too small. Stopping.")
            return True
        state.learning_rate /= 5.0
        report(msg + " Setting learning rate to %f" % state.learning_rate)
        return False
