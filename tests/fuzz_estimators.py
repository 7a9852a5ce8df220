"""Property-based fuzzing of the estimators (run by ``test_fuzz.py``).

Run as a script in its own process, with ``NUMBA_BOUNDSCHECK=1`` and its own
compile cache, so the kernels check every array index::

    NUMBA_BOUNDSCHECK=1 SKDEEP_FUZZ_EXAMPLES=200 python tests/fuzz_estimators.py

Hypothesis draws estimator configurations (layers, activations per layer,
every solver, batch sizes around the data size, dropout, batch norm, noise,
mixup, clipping, label smoothing, class and sample weights, every target
type, float32/float64, ``partial_fit`` sequences, warm starts, early
stopping) on tiny data and checks: no crash and no out-of-bounds access;
errors only of the documented types (``ValueError``, ``TypeError``) with a
message; finite predictions of the right shape. Exits non-zero with the
falsifying example on failure.
"""

import os
import sys
import time
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from skdeep import MLPClassifier, MLPRegressor
from skdeep._registry import get_registry

EXAMPLES = int(os.environ.get("SKDEEP_FUZZ_EXAMPLES", "30"))
SEED = int(os.environ.get("SKDEEP_FUZZ_SEED", "0"))

REGISTRY = get_registry()
# A few activations and every solver keep the number of distinct compiled
# blocks (each a compilation with bounds checks) within the CI budget; the
# larger run draws from all of them.
ACTIVATIONS = (REGISTRY.names("activation") if EXAMPLES > 60
               else ["relu", "tanh", "prelu", "logistic"])
SOLVERS = REGISTRY.names("optimizer")
TARGETS = ["binary", "multiclass", "multilabel", "regression", "multioutput"]
CLASSIFIER_LOSSES = [None, "log_loss"]
REGRESSOR_LOSSES = [None, "squared_error", "absolute_error", "huber", "poisson"]


@st.composite
def cases(draw):
    target = draw(st.sampled_from(TARGETS))
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n_layers, max_size=n_layers))
    activation = draw(st.one_of(
        st.sampled_from(ACTIVATIONS),
        st.lists(st.sampled_from(ACTIVATIONS), min_size=n_layers, max_size=n_layers)))
    n = draw(st.integers(2, 24))
    classifier = target in ("binary", "multiclass", "multilabel")
    params = dict(
        hidden_layer_sizes=tuple(sizes),
        activation=activation,
        solver=draw(st.sampled_from(SOLVERS)),
        batch_size=draw(st.sampled_from(
            ["auto", 1, max(1, n - 1), n, n + 1])),
        max_iter=draw(st.integers(1, 4)),
        learning_rate_init=draw(st.sampled_from([1e-3, 0.1, 1.0])),
        alpha=draw(st.sampled_from([0.0, 1e-4, 1.0])),
        dropout=draw(st.sampled_from([0.0, 0.5])),
        batch_norm=draw(st.booleans()),
        input_noise=draw(st.sampled_from([0.0, 0.1])),
        mixup_alpha=draw(st.sampled_from([0.0, 0.4])),
        clip_value=draw(st.sampled_from([None, 0.5])),
        clip_norm=draw(st.sampled_from([None, 1.0])),
        early_stopping=draw(st.booleans()),
        warm_start=draw(st.booleans()),
        random_state=draw(st.integers(0, 3)),
    )
    if classifier:
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.2]))
        params["class_weight"] = draw(st.sampled_from([None, "balanced", "dict"]))
        loss = draw(st.sampled_from(CLASSIFIER_LOSSES))
    else:
        loss = draw(st.sampled_from(REGRESSOR_LOSSES))
    if loss is not None:
        params["loss"] = loss
    return dict(
        target=target, n=n, n_features=draw(st.integers(1, 4)), params=params,
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        sample_weight=draw(st.sampled_from([None, "random", "with zeros"])),
        calls=draw(st.lists(st.sampled_from(["fit", "partial_fit"]),
                            min_size=1, max_size=3)),
        data_seed=draw(st.integers(0, 2**16)),
    )


def make_data(case):
    rng = np.random.RandomState(case["data_seed"])
    n, d = case["n"], case["n_features"]
    X = rng.normal(size=(n, d)).astype(case["dtype"])
    target = case["target"]
    if target == "binary":
        y = rng.randint(0, 2, n)
    elif target == "multiclass":
        y = rng.randint(0, 3, n)
    elif target == "multilabel":
        y = rng.randint(0, 2, (n, 3))
    elif target == "regression":
        y = rng.poisson(2.0, n).astype(float)  # >= 0: valid for poisson too
    else:
        y = rng.poisson(2.0, (n, 2)).astype(float)
    weights = None
    if case["sample_weight"] == "random":
        weights = rng.uniform(0.1, 2.0, n)
    elif case["sample_weight"] == "with zeros":
        weights = rng.uniform(0.0, 2.0, n) * (rng.uniform(size=n) > 0.3)
    return X, y, weights


def expected_output_shape(case, n):
    return {"binary": (n,), "multiclass": (n,), "multilabel": (n, 3),
            "regression": (n,), "multioutput": (n, 2)}[case["target"]]


DOCUMENTED = (ValueError, TypeError)
# Messages of errors raised by NumPy or Numba internals, not by skdeep's
# validation: a documented type with one of these is still a crash.
INTERNAL = ("zero-size array", "out of bounds", "could not broadcast",
            "operands could not", "index", "division by zero", "NoneType")
REJECTIONS = {}


def run_case(case):
    X, y, weights = make_data(case)
    params = dict(case["params"])
    classifier = case["target"] in ("binary", "multiclass", "multilabel")
    if params.get("class_weight") == "dict":
        params["class_weight"] = {0: 2.0, 1: 0.5}
    est = (MLPClassifier if classifier else MLPRegressor)(**params)
    fitted = False
    for call in case["calls"]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if call == "fit":
                    est.fit(X, y, sample_weight=weights)
                elif params["solver"] == "lbfgs":
                    # As in sklearn: L-BFGS has no partial_fit.
                    assert not hasattr(est, "partial_fit")
                    continue
                else:
                    kwargs = {}
                    if classifier and case["target"] != "multilabel":
                        kwargs["classes"] = np.unique(y) if case["target"] == "binary" \
                            else np.arange(3)
                    est.partial_fit(X, y, sample_weight=weights, **kwargs)
            fitted = True
        except DOCUMENTED as exc:
            message = str(exc)
            assert len(message) > 15 and not any(
                bad in message for bad in INTERNAL), (
                f"unclear {type(exc).__name__}: {message!r}")
            REJECTIONS.setdefault(message.split(".")[0][:100], type(exc).__name__)
            continue
    if not fitted:
        return "rejected"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = est.predict(X)
        assert pred.shape == expected_output_shape(case, len(X)), pred.shape
        if classifier:
            proba = est.predict_proba(X)
            assert np.isfinite(proba).all(), "non-finite probabilities"
            assert proba.shape[0] == len(X)
        else:
            # Exploding training can overflow (documented: lower the
            # learning rate); anything else non-finite is a bug.
            finite_params = all(np.isfinite(c).all() for c in est.coefs_)
            assert np.isfinite(pred).all() or not finite_params, "non-finite output"
    return "fitted"


def main():
    outcomes = {"fitted": 0, "rejected": 0}
    start = time.perf_counter()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED == 0,
              suppress_health_check=list(HealthCheck), database=None,
              print_blob=True)
    @given(cases())
    def fuzz(case):
        outcomes[run_case(case)] += 1

    if SEED:
        fuzz = seed(SEED)(fuzz)

    try:
        fuzz()
    except Exception:
        traceback.print_exc()
        print("FUZZ FAILED", file=sys.stderr)
        return 1
    print(f"FUZZ OK examples={sum(outcomes.values())} fitted={outcomes['fitted']} "
          f"rejected={outcomes['rejected']} seconds={time.perf_counter() - start:.1f}")
    for message, kind in sorted(REJECTIONS.items()):
        print(f"  rejected with {kind}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
