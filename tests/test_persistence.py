"""Fitted estimators load with skops.io, trusting only documented classes."""

import ast
import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import skdeep
from skdeep import (
    Activation,
    MLPClassifier,
    MLPRegressor,
    Optimizer,
    Regularizer,
    StepDecay,
)

sio = pytest.importorskip("skops.io")

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _documented_public_classes():
    """Classes named in the API reference, as skops spells their types."""
    api = (DOCS / "api" / "index.rst").read_text()
    names = set()
    module = "skdeep"
    for line in api.splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
        entry = re.fullmatch(r"   ([A-Z]\w*)", line)
        if entry:
            obj = getattr(importlib.import_module(module), entry.group(1))
            names.add(f"{obj.__module__}.{obj.__qualname__}")
    return names


def _documented_trusted_list():
    text = (DOCS / "persistence.md").read_text()
    return ast.literal_eval(re.search(r"trusted=(\[[^\]]*\])", text).group(1))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


MODELS = {
    "names": lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                   random_state=0),
    "objects": lambda: MLPClassifier(
        hidden_layer_sizes=(8,), max_iter=3, random_state=0,
        activation=Activation("leaky_relu", alpha=0.1),
        solver=Optimizer("rmsprop", rho=0.9), regularizer=Regularizer("l1"),
        learning_rate=StepDecay(step_size=2)),
    "lbfgs": lambda: MLPClassifier(hidden_layer_sizes=(8,), max_iter=3,
                                   solver="lbfgs", random_state=0),
    "regressor": lambda: MLPRegressor(hidden_layer_sizes=(8,), max_iter=3,
                                      random_state=0),
}


@pytest.mark.parametrize("model", list(MODELS))
def test_skops_round_trip(model, digits):
    X, y = digits
    est = MODELS[model]()
    est.fit(X, y.astype(float) if model == "regressor" else y)
    data = sio.dumps(est)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert type(loaded) is type(est)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    for a, b in zip(loaded.coefs_, est.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    if model != "lbfgs":  # the loaded model keeps training as the original
        loaded.partial_fit(X, y.astype(float) if model == "regressor" else y)
        est.partial_fit(X, y.astype(float) if model == "regressor" else y)
        np.testing.assert_array_equal(loaded.coefs_[0], est.coefs_[0])


@pytest.mark.parametrize("model", list(MODELS))
def test_untrusted_types_are_documented_public_classes(model, digits):
    X, y = digits
    est = MODELS[model]()
    est.fit(X, y.astype(float) if model == "regressor" else y)
    untrusted = set(sio.get_untrusted_types(data=sio.dumps(est)))
    assert untrusted <= _documented_public_classes(), (
        untrusted - _documented_public_classes())
    if model == "names":
        # docs/persistence.md shows this exact list.
        assert untrusted == set(_documented_trusted_list())


def test_documented_trusted_list_names_the_estimator():
    estimator, state = _documented_trusted_list()
    for name, cls in ((estimator, MLPClassifier), (state, skdeep.TrainingState)):
        module, _, qualname = name.rpartition(".")
        assert getattr(importlib.import_module(module), qualname) is cls
        assert name in _documented_public_classes()
