"""Learning-rate schedule objects: formulas, plateau logic, sklearn params."""

import copy
import math
import pickle

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV

from skdeep._schedules import (
    SCHEDULE_NAMES,
    ConstantSchedule,
    CosineWarmRestarts,
    CyclicLR,
    ExponentialDecay,
    InverseTimeDecay,
    LearningRateSchedule,
    ReduceLROnPlateau,
    ScheduleState,
    StepDecay,
    make_schedule,
)

LR0 = 0.05
STEPS = 7  # steps per epoch
EPOCHS = 30


# --- slow references: one Python loop iteration per step, ``math`` only -----

def _ref_exponential(s, lr0, t):
    p = t // s.decay_steps if s.staircase else t / s.decay_steps
    return lr0 * math.pow(s.decay_rate, p)


def _ref_inverse_time(s, lr0, t):
    p = t // s.decay_steps if s.staircase else t / s.decay_steps
    return lr0 / (1.0 + s.decay_rate * p)


def _ref_step(s, lr0, t):
    rate = lr0
    for _ in range(int(t) // s.step_size):
        rate *= s.gamma
    return rate


def _ref_cyclic(s, lr0, t):
    # Position inside the current cycle: up for step_size, then down.
    base = lr0 if s.base_lr is None else s.base_lr
    top = 10 * lr0 if s.max_lr is None else s.max_lr
    pos = t % (2 * s.step_size)
    frac = pos / s.step_size if pos <= s.step_size else 2 - pos / s.step_size
    return base + (top - base) * frac


def _ref_cosine(s, lr0, t):
    # Walk the periods one by one.
    t_start, length = 0, s.T_0
    while t >= t_start + length:
        t_start += length
        length *= s.T_mult
    progress = (t - t_start) / length
    return s.min_lr + (lr0 - s.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


REFERENCES = {
    ExponentialDecay: _ref_exponential,
    InverseTimeDecay: _ref_inverse_time,
    StepDecay: _ref_step,
    CyclicLR: _ref_cyclic,
    CosineWarmRestarts: _ref_cosine,
}


def _reference_rates(schedule, lr0, steps, epochs):
    ref = REFERENCES[type(schedule)]
    out = []
    for epoch in range(epochs):
        for i in range(steps):
            t = epoch * steps + i if schedule.per_step else epoch
            out.append(ref(schedule, lr0, t))
    return np.array(out)


def _epoch_by_epoch(schedule, state, steps, epochs):
    parts = [schedule.rates(state, e, e * steps, steps) for e in range(epochs)]
    for part in parts:
        assert part.dtype == np.float64
        assert part.shape == (steps,)
    return np.concatenate(parts)


CASES = []
for per_step in (False, True):
    for staircase in (False, True):
        CASES += [
            ExponentialDecay(decay_rate=0.9, decay_steps=3, staircase=staircase,
                             per_step=per_step),
            ExponentialDecay(decay_rate=0.5, decay_steps=2.5,
                             staircase=staircase, per_step=per_step),
            InverseTimeDecay(decay_rate=0.7, decay_steps=4, staircase=staircase,
                             per_step=per_step),
            InverseTimeDecay(decay_rate=2.0, decay_steps=1.5,
                             staircase=staircase, per_step=per_step),
        ]
    CASES += [
        StepDecay(step_size=4, gamma=0.5, per_step=per_step),
        StepDecay(step_size=1, gamma=0.9, per_step=per_step),
        CyclicLR(step_size=5, per_step=per_step),
        CyclicLR(base_lr=0.01, max_lr=0.2, step_size=3, per_step=per_step),
        CyclicLR(base_lr=0.0, max_lr=0.1, step_size=1, per_step=per_step),
        CosineWarmRestarts(T_0=5, T_mult=1, per_step=per_step),
        CosineWarmRestarts(T_0=3, T_mult=2, min_lr=0.001, per_step=per_step),
        CosineWarmRestarts(T_0=2, T_mult=3, min_lr=0.01, per_step=per_step),
    ]


@pytest.mark.parametrize("schedule", CASES, ids=repr)
def test_rates_match_slow_reference(schedule):
    state = schedule.start(LR0, STEPS)
    got = _epoch_by_epoch(schedule, state, STEPS, EPOCHS)
    expected = _reference_rates(schedule, LR0, STEPS, EPOCHS)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("schedule", CASES, ids=repr)
def test_epochs_stitch_into_one_long_computation(schedule):
    state = schedule.start(LR0, STEPS)
    stitched = _epoch_by_epoch(schedule, state, STEPS, EPOCHS)
    if schedule.per_step:
        # One call covering all steps must agree with the per-epoch calls.
        whole = schedule.rates(state, 0, 0, STEPS * EPOCHS)
    else:
        per_epoch = [schedule.rates(state, e, 0, 1)[0] for e in range(EPOCHS)]
        whole = np.repeat(per_epoch, STEPS)
    np.testing.assert_array_equal(stitched, whole)


@pytest.mark.parametrize("schedule", CASES, ids=repr)
def test_clock_is_constant_within_an_epoch_unless_per_step(schedule):
    state = schedule.start(LR0, STEPS)
    rates = schedule.rates(state, 6, 6 * STEPS, STEPS)
    if schedule.per_step:
        # first_step is what matters, not epoch.
        other = schedule.rates(state, 0, 6 * STEPS, STEPS)
        np.testing.assert_array_equal(rates, other)
    else:
        assert np.all(rates == rates[0])
        other = schedule.rates(state, 6, 0, STEPS)
        np.testing.assert_array_equal(rates, other)


@pytest.mark.parametrize("schedule", CASES, ids=repr)
def test_zero_steps_gives_empty_array(schedule):
    state = schedule.start(LR0, STEPS)
    out = schedule.rates(state, 3, 21, 0)
    assert out.shape == (0,) and out.dtype == np.float64


def test_decays_are_monotone_and_staircase_is_piecewise_constant():
    s = ExponentialDecay(decay_rate=0.5, decay_steps=4, staircase=True,
                         per_step=True)
    rates = s.rates(s.start(1.0, 1), 0, 0, 12)
    np.testing.assert_array_equal(rates, [1.0] * 4 + [0.5] * 4 + [0.25] * 4)
    s.set_params(staircase=False)
    rates = s.rates(s.start(1.0, 1), 0, 0, 12)
    assert np.all(np.diff(rates) < 0)
    assert rates[4] == pytest.approx(0.5)
    s = InverseTimeDecay(decay_rate=1.0, decay_steps=2, per_step=False)
    state = s.start(1.0, 3)
    assert s.rates(state, 2, 6, 3)[0] == pytest.approx(0.5)
    s = StepDecay(step_size=3, gamma=0.1)
    state = s.start(1.0, 5)
    got = [s.rates(state, e, 5 * e, 5)[0] for e in range(7)]
    np.testing.assert_allclose(got, [1, 1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cyclic_hits_base_max_base():
    s = CyclicLR(base_lr=0.01, max_lr=0.3, step_size=50)
    state = s.start(LR0, 10)
    rates = s.rates(state, 0, 0, 401)
    for t in (0, 100, 200, 300, 400):
        assert rates[t] == pytest.approx(0.01, abs=1e-15)
    for t in (50, 150, 250, 350):
        assert rates[t] == pytest.approx(0.3, abs=1e-15)
    assert rates.min() >= 0.01 - 1e-15 and rates.max() <= 0.3 + 1e-15
    # Defaults: base is lr0, max is 10 * lr0.
    s = CyclicLR(step_size=4, per_step=False)
    state = s.start(LR0, 3)
    assert s.rates(state, 0, 0, 3)[0] == pytest.approx(LR0)
    assert s.rates(state, 4, 12, 3)[0] == pytest.approx(10 * LR0)
    assert s.rates(state, 8, 24, 3)[0] == pytest.approx(LR0)
    assert s.rates(state, 2, 6, 3)[0] == pytest.approx(5.5 * LR0)


@pytest.mark.parametrize("per_step", [False, True])
def test_cosine_restarts_at_period_boundaries(per_step):
    T_0, T_mult, lo = 20, 2, 0.001
    s = CosineWarmRestarts(T_0=T_0, T_mult=T_mult, min_lr=lo, per_step=per_step)
    state = s.start(LR0, 3)
    n = T_0 + T_0 * T_mult + T_0 * T_mult**2 + 1
    if per_step:
        rates = s.rates(state, 0, 0, n)
    else:
        rates = np.array([s.rates(state, e, 3 * e, 3)[0] for e in range(n)])
    restarts = [0, T_0, T_0 + T_0 * T_mult, T_0 + T_0 * T_mult + T_0 * T_mult**2]
    for start, end in zip(restarts[:-1], restarts[1:], strict=True):
        assert rates[start] == pytest.approx(LR0, abs=1e-15)
        # Strictly decreasing inside a period, ending close to min_lr.
        assert np.all(np.diff(rates[start:end]) < 0)
        assert lo <= rates[end - 1] < lo + 0.01 * (LR0 - lo)
    assert rates[restarts[-1]] == pytest.approx(LR0, abs=1e-15)
    # Halfway through the second period the rate is the midpoint.
    mid = T_0 + T_0 * T_mult // 2
    assert rates[mid] == pytest.approx((LR0 + lo) / 2)


def test_cosine_large_clock_with_growing_periods():
    s = CosineWarmRestarts(T_0=1, T_mult=2, per_step=True)
    state = s.start(1.0, 1)
    # Periods start at 2**k - 1; exact there even for large k.
    for k in range(1, 40):
        t = 2**k - 1
        assert s.rates(state, 0, t, 1)[0] == 1.0
        # The step before is the last of a period of length 2**(k-1).
        length = 2 ** (k - 1)
        last = (1 + math.cos(math.pi * (length - 1) / length)) / 2
        assert s.rates(state, 0, t - 1, 1)[0] == pytest.approx(last, abs=1e-12)


def test_constant_schedule():
    s = ConstantSchedule()
    state = s.start(LR0, 4)
    np.testing.assert_array_equal(s.rates(state, 5, 20, 4), np.full(4, LR0))
    assert s.epoch_end(state, 1.0) is None
    assert s.get_params() == {}


def test_base_class_requires_rates_and_supports_subclassing():
    class Halving(LearningRateSchedule):
        def __init__(self, every=2):
            self.every = every

        def rates(self, state, epoch, first_step, n_steps):
            return np.full(n_steps, state.learning_rate_init
                           * 0.5 ** (epoch // self.every))

    s = Halving(every=2)
    state = s.start(0.1, 3)
    np.testing.assert_allclose(s.rates(state, 2, 6, 3), [0.05] * 3)
    assert clone(s).get_params() == {"every": 2}
    with pytest.raises(NotImplementedError):
        LearningRateSchedule().rates(state, 0, 0, 3)


# --- ReduceLROnPlateau -------------------------------------------------------

def _run_plateau(schedule, losses, lr0=1.0):
    state = schedule.start(lr0, 5)
    rates, messages = [], []
    for epoch, loss in enumerate(losses):
        r = schedule.rates(state, epoch, 5 * epoch, 5)
        assert np.all(r == r[0])
        rates.append(r[0])
        messages.append(schedule.epoch_end(state, loss))
    return np.array(rates), messages, state


@pytest.mark.parametrize("patience", [0, 1, 3, 10])
def test_plateau_reduces_after_patience_plus_one_bad_epochs(patience):
    s = ReduceLROnPlateau(factor=0.5, patience=patience, min_delta=0.0)
    losses = [1.0] + [1.0] * (patience + 1)
    rates, messages, state = _run_plateau(s, losses)
    assert all(m is None for m in messages[:-1])
    assert isinstance(messages[-1], str)
    assert str(patience + 1) in messages[-1]
    assert "0.5" in messages[-1]
    assert np.all(rates == 1.0)
    assert state.rate == 0.5
    # One epoch fewer: no reduction.
    _, messages, state = _run_plateau(s, losses[:-1])
    assert all(m is None for m in messages) and state.rate == 1.0


def test_plateau_never_reduces_while_improving():
    s = ReduceLROnPlateau(factor=0.1, patience=0, min_delta=1e-3)
    losses = 10.0 - 0.01 * np.arange(50)
    rates, messages, state = _run_plateau(s, losses)
    assert all(m is None for m in messages)
    assert np.all(rates == 1.0) and state.rate == 1.0


def test_plateau_min_delta():
    # Improvements smaller than min_delta count as bad epochs.
    s = ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.1)
    small = [1.0, 0.95, 0.92, 0.91]  # each within 0.1 of best=1.0
    _, messages, state = _run_plateau(s, small)
    assert messages[:3] == [None] * 3 and messages[3] is not None
    assert state.rate == 0.5
    # best is the last significant improvement: 1.0 -> 0.95 -> 0.89 is one.
    _, messages, state = _run_plateau(s, [1.0, 0.95, 0.89, 0.85, 0.8])
    assert all(m is None for m in messages) and state.rate == 1.0
    assert state.best == 0.89 and state.num_bad_epochs == 2


def test_plateau_cooldown_and_min_lr():
    patience, cooldown = 2, 3
    s = ReduceLROnPlateau(factor=0.5, patience=patience, cooldown=cooldown,
                          min_delta=0.0)
    _, messages, _ = _run_plateau(s, [1.0] * 21)
    reduced_at = [i for i, m in enumerate(messages) if m is not None]
    # First after patience+1 bad epochs, then cooldown skipped epochs more.
    gap = cooldown + patience + 1
    assert reduced_at == [patience + 1, patience + 1 + gap,
                          patience + 1 + 2 * gap]
    # Without cooldown, every patience + 1 epochs.
    s.set_params(cooldown=0)
    _, messages, _ = _run_plateau(s, [1.0] * 10)
    assert [i for i, m in enumerate(messages) if m is not None] == [3, 6, 9]

    s = ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.05, min_delta=0.0)
    rates, messages, state = _run_plateau(s, [1.0] * 8)
    np.testing.assert_allclose(rates[:4], [1.0, 1.0, 0.1, 0.05])
    assert np.all(rates[3:] == 0.05) and state.rate == 0.05
    assert sum(m is not None for m in messages) == 2


def test_plateau_improvement_resets_count_and_nan_is_bad():
    s = ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.0)
    _, messages, _ = _run_plateau(s, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5])
    assert all(m is None for m in messages)
    _, messages, _ = _run_plateau(s, [1.0, np.nan, np.nan, np.nan])
    assert messages[-1] is not None


def test_plateau_rates_follow_state():
    s = ReduceLROnPlateau()
    state = s.start(0.2, 4)
    state.rate = 0.003
    np.testing.assert_array_equal(s.rates(state, 0, 0, 4), np.full(4, 0.003))


# --- sklearn parameter-object behaviour --------------------------------------

NON_DEFAULT = [
    ConstantSchedule(),
    ExponentialDecay(decay_rate=0.5, decay_steps=3, staircase=True,
                     per_step=True),
    InverseTimeDecay(decay_rate=0.3, decay_steps=2, staircase=True,
                     per_step=True),
    StepDecay(step_size=3, gamma=0.2, per_step=True),
    CyclicLR(base_lr=0.01, max_lr=0.1, step_size=30, per_step=False),
    CosineWarmRestarts(T_0=4, T_mult=2, min_lr=0.001, per_step=True),
    ReduceLROnPlateau(factor=0.2, patience=3, min_delta=0.01, cooldown=2,
                      min_lr=1e-5),
]


@pytest.mark.parametrize("schedule", NON_DEFAULT, ids=repr)
def test_clone_and_params_round_trip(schedule):
    params = schedule.get_params()
    cloned = clone(schedule)
    assert cloned is not schedule and type(cloned) is type(schedule)
    assert cloned.get_params() == params
    fresh = type(schedule)().set_params(**params)
    assert fresh.get_params() == params
    for name, value in params.items():
        assert getattr(schedule, name) is value
    assert pickle.loads(pickle.dumps(schedule)).get_params() == params


@pytest.mark.parametrize("schedule", NON_DEFAULT, ids=repr)
def test_schedule_unchanged_by_fit_time_calls(schedule):
    schedule = clone(schedule)
    before = dict(vars(schedule))
    state = schedule.start(0.02, 3)
    for epoch, loss in enumerate([1.0] * 8):
        schedule.rates(state, epoch, 3 * epoch, 3)
        schedule.epoch_end(state, loss)
    # No fit-time attribute lands on the parameter object.
    assert vars(schedule) == before
    assert schedule.get_params() == clone(schedule).get_params()


@pytest.mark.parametrize("schedule", NON_DEFAULT, ids=repr)
def test_state_is_deep_copyable(schedule):
    state = schedule.start(0.02, 3)
    assert isinstance(state, ScheduleState)
    assert state.learning_rate_init == 0.02 and state.steps_per_epoch == 3
    for loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
        schedule.epoch_end(state, loss)
    twin = copy.deepcopy(state)
    assert twin == state and twin is not state
    # Both continue identically; the copy does not share mutable parts.
    for epoch, loss in enumerate([0.9] * 6, start=5):
        a = schedule.rates(state, epoch, 3 * epoch, 3)
        b = schedule.rates(twin, epoch, 3 * epoch, 3)
        np.testing.assert_array_equal(a, b)
        assert schedule.epoch_end(state, loss) == schedule.epoch_end(twin, loss)
    assert twin == state
    if isinstance(schedule, ReduceLROnPlateau):
        twin.rate = 123.0
        assert state.rate != 123.0


def test_two_fits_do_not_share_state():
    s = ReduceLROnPlateau(factor=0.5, patience=0, min_delta=0.0)
    first = s.start(1.0, 2)
    for loss in [1.0, 1.0, 1.0]:
        s.epoch_end(first, loss)
    second = s.start(1.0, 2)
    assert first.rate == 0.25 and second.rate == 1.0


def test_set_params_changes_rates():
    s = StepDecay(step_size=2, gamma=0.1)
    state = s.start(1.0, 1)
    before = s.rates(state, 2, 2, 1)[0]
    s.set_params(**{"gamma": 0.5})
    state = s.start(1.0, 1)
    after = s.rates(state, 2, 2, 1)[0]
    assert before == pytest.approx(0.1) and after == pytest.approx(0.5)


class _RateEstimator(BaseEstimator):
    """Scores higher when the schedule's total learning rate is higher."""

    def __init__(self, learning_rate="constant"):
        self.learning_rate = learning_rate

    def fit(self, X, y=None):
        schedule = make_schedule(self.learning_rate)
        state = schedule.start(1.0, 2)
        self.total_ = sum(schedule.rates(state, e, 2 * e, 2).sum()
                          for e in range(6))
        return self

    def score(self, X, y=None):
        return self.total_


def test_grid_search_over_nested_schedule_parameter():
    X = np.zeros((6, 1))
    search = GridSearchCV(
        _RateEstimator(learning_rate=StepDecay(step_size=2)),
        {"learning_rate__gamma": [0.1, 0.9, 0.5]},
        cv=2,
    )
    search.fit(X)
    assert search.best_params_ == {"learning_rate__gamma": 0.9}
    assert search.best_estimator_.learning_rate.gamma == 0.9
    # The estimator passed in keeps its own schedule untouched.
    assert search.estimator.learning_rate.gamma == 0.1


# --- validation --------------------------------------------------------------

BAD = [
    (ExponentialDecay(decay_rate=-0.5), "decay_rate"),
    (ExponentialDecay(decay_rate=0.0), "decay_rate"),
    (ExponentialDecay(decay_rate=1.5), "decay_rate"),
    (ExponentialDecay(decay_steps=0), "decay_steps"),
    (ExponentialDecay(staircase="yes"), "staircase"),
    (InverseTimeDecay(decay_rate=-1.0), "decay_rate"),
    (InverseTimeDecay(decay_steps=-2), "decay_steps"),
    (InverseTimeDecay(per_step=None), "per_step"),
    (StepDecay(step_size=0), "step_size"),
    (StepDecay(step_size=2.5), "step_size"),
    (StepDecay(gamma=0.0), "gamma"),
    (StepDecay(gamma=1.5), "gamma"),
    (CyclicLR(step_size=0), "step_size"),
    (CyclicLR(base_lr=0.2, max_lr=0.1), "max_lr"),
    (CyclicLR(base_lr=1.0), "max_lr"),  # max_lr=None -> 10 * lr0 < base_lr
    (CyclicLR(max_lr=0.001), "max_lr"),  # base_lr=None -> lr0 > max_lr
    (CyclicLR(base_lr=-0.1), "base_lr"),
    (CosineWarmRestarts(T_mult=0), "T_mult"),
    (CosineWarmRestarts(T_mult=1.5), "T_mult"),
    (CosineWarmRestarts(T_0=0), "T_0"),
    (CosineWarmRestarts(min_lr=-1.0), "min_lr"),
    (CosineWarmRestarts(min_lr=1.0), "min_lr"),  # above lr0
    (ReduceLROnPlateau(factor=1.0), "factor"),
    (ReduceLROnPlateau(factor=2.0), "factor"),
    (ReduceLROnPlateau(factor=0.0), "factor"),
    (ReduceLROnPlateau(patience=-1), "patience"),
    (ReduceLROnPlateau(min_delta=-0.1), "min_delta"),
    (ReduceLROnPlateau(cooldown=-1), "cooldown"),
    (ReduceLROnPlateau(min_lr=-1e-3), "min_lr"),
]


@pytest.mark.parametrize(("schedule", "param"), BAD, ids=lambda x: repr(x))
def test_bad_parameters_raise_naming_the_parameter(schedule, param):
    with pytest.raises(ValueError, match=f"'{param}'") as excinfo:
        schedule.start(0.01, 5)
    # The message also says which value was given.
    value = getattr(schedule, param)
    assert repr(value) in str(excinfo.value) or str(value) in str(excinfo.value)
    assert type(schedule).__name__ in str(excinfo.value)


def test_constructor_does_not_validate():
    # sklearn rule: no logic in __init__, errors come at fit time.
    s = StepDecay(step_size=-3, gamma="x")
    assert s.get_params() == {"step_size": -3, "gamma": "x", "per_step": False}


@pytest.mark.parametrize(
    ("lr0", "steps", "param"),
    [(0.0, 5, "learning_rate_init"), (-1.0, 5, "learning_rate_init"),
     (float("nan"), 5, "learning_rate_init"),
     (float("inf"), 5, "learning_rate_init"),
     (0.1, 0, "steps_per_epoch")],
)
def test_bad_start_arguments(lr0, steps, param):
    for schedule in (ExponentialDecay(), ReduceLROnPlateau(), ConstantSchedule()):
        with pytest.raises(ValueError, match=param):
            schedule.start(lr0, steps)


# --- make_schedule -----------------------------------------------------------

def test_schedule_names():
    assert SCHEDULE_NAMES == {
        "exponential": ExponentialDecay, "inverse_time": InverseTimeDecay,
        "step": StepDecay, "cyclic": CyclicLR, "cosine": CosineWarmRestarts,
        "plateau": ReduceLROnPlateau,
    }


@pytest.mark.parametrize("name", sorted(SCHEDULE_NAMES))
def test_make_schedule_from_name(name):
    s = make_schedule(name)
    cls = SCHEDULE_NAMES[name]
    assert type(s) is cls
    assert s.get_params() == cls().get_params()
    # A fresh object each time: no state shared between estimators.
    assert make_schedule(name) is not s
    s.rates(s.start(0.01, 3), 0, 0, 3)


def test_make_schedule_passes_objects_and_sklearn_names():
    s = CyclicLR(step_size=3)
    assert make_schedule(s) is s
    for name in ("constant", "invscaling", "adaptive"):
        assert make_schedule(name) is None


@pytest.mark.parametrize("value", ["nope", "Exponential", 3, None, StepDecay])
def test_make_schedule_rejects_unknown(value):
    with pytest.raises(ValueError) as excinfo:
        make_schedule(value)
    msg = str(excinfo.value)
    for name in ("constant", "invscaling", "adaptive", *SCHEDULE_NAMES):
        assert repr(name) in msg
    assert repr(value) in msg
