"""Drop-in details, each checked against sklearn's MLP on the same data."""

import numpy as np
import pytest
from sklearn import datasets
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skdeep import Activation, MLPClassifier, MLPRegressor, Optimizer

SMALL = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)


@pytest.fixture(scope="module")
def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _outputs(clf, reg, X):
    return {
        "predict_proba": clf.predict_proba(X).dtype,
        "predict_log_proba": clf.predict_log_proba(X).dtype,
        "predict": clf.predict(X).dtype,
        "regressor predict": reg.predict(X).dtype,
    }


@pytest.mark.parametrize("fit_dtype", [np.float32, np.float64])
def test_output_dtypes_follow_sklearns_promotion(iris, fit_dtype):
    X, y = iris
    ours = (MLPClassifier(**SMALL).fit(X.astype(fit_dtype), y),
            MLPRegressor(**SMALL).fit(X.astype(fit_dtype), y))
    theirs = (SkClassifier(**SMALL).fit(X.astype(fit_dtype), y),
              SkRegressor(**SMALL).fit(X.astype(fit_dtype), y))
    for X_dtype in (np.float32, np.float64, np.int64):
        X_in = (X * 10).astype(X_dtype)
        assert _outputs(*ours, X_in) == _outputs(*theirs, X_in), X_dtype
    # a float32 model asked with float64 input answers in float64, with
    # the float32 network's values
    if fit_dtype == np.float32:
        proba = ours[0].predict_proba(X)
        assert proba.dtype == np.float64
        np.testing.assert_array_equal(
            proba, ours[0].predict_proba(X.astype(np.float32)))


@pytest.mark.parametrize("first, then", [(np.float32, np.float64),
                                         (np.float64, np.float32)])
def test_warm_start_and_partial_fit_keep_the_fitted_dtype(iris, first, then):
    X, y = iris
    for Est in (MLPClassifier, SkClassifier):
        est = Est(warm_start=True, **SMALL).fit(X.astype(first), y)
        est.fit(X.astype(then), y)
        assert {c.dtype for c in est.coefs_ + est.intercepts_} == {np.dtype(first)}, Est
        est.partial_fit(X.astype(then), y)
        assert {c.dtype for c in est.coefs_ + est.intercepts_} == {np.dtype(first)}, Est
    # the continued fit trains: its optimizer state is the model's dtype
    assert est.n_iter_ == 1


@pytest.mark.parametrize("param, value, message", [
    ("solver", "adma", r"Unknown optimizer 'adma'.*Did you mean .*'adam'"),
    ("activation", "rleu", r"Unknown activation 'rleu'.*Did you mean .*'relu'"),
    ("activation", ["nope"], r"Unknown activation 'nope'"),
    ("initializer", "he_norml", r"Did you mean .*'he_normal'"),
    ("regularizer", "l3", r"Unknown regularizer 'l3'.*Available regularizers"),
    ("loss", "log_los", r"Did you mean .*'log_loss'"),
    ("loss", "huber", r"loss 'huber' is a regression loss"),
    ("solver", Optimizer("rmsprop", rhoo=0.9), r"no hyperparameter rhoo"),
    ("activation", Activation("leaky_relu", alpha="x"), r"must be a number"),
])
def test_invalid_plugin_values_raise_sklearns_error(iris, param, value, message):
    X, y = iris
    with pytest.raises(InvalidParameterError, match=message):
        MLPClassifier(**{param: value, **SMALL}).fit(X, y)
    # sklearn raises the same type for an invalid value of its parameters
    if isinstance(value, str) and param in ("solver", "activation"):
        with pytest.raises(InvalidParameterError):
            SkClassifier(**{param: value, **SMALL}).fit(X, y)


def test_frozen_layers_accepts_a_numpy_array(iris):
    X, y = iris
    params = dict(hidden_layer_sizes=(8, 6), max_iter=5, random_state=0)
    as_list = MLPClassifier(frozen_layers=[0, -1], **params).fit(X, y)
    as_array = MLPClassifier(frozen_layers=np.array([0, -1]), **params).fit(X, y)
    start = MLPClassifier(**{**params, "max_iter": 1})
    start.set_params(learning_rate_init=1e-300).fit(X, y)
    for a, b in zip(as_list.coefs_, as_array.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    # the frozen layers kept their initial weights, the middle one trained
    np.testing.assert_array_equal(as_array.coefs_[0], start.coefs_[0])
    np.testing.assert_array_equal(as_array.coefs_[2], start.coefs_[2])
    assert not np.array_equal(as_array.coefs_[1], start.coefs_[1])
    with pytest.raises(ValueError, match="frozen_layers must hold weight-layer"):
        MLPClassifier(frozen_layers=np.array([[0]]), **params).fit(X, y)


def test_transfer_dict_with_too_few_intercepts_says_so(iris):
    X, y = iris
    donor = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    weights = {"coefs_": donor.coefs_, "intercepts_": donor.intercepts_[:1]}
    with pytest.raises(ValueError, match=r"2 weight matrices.*but 1 intercept"):
        MLPClassifier(hidden_layer_sizes=(8,), transfer_from=weights).fit(X, y)
    # one layer is enough for a one-layer transfer
    MLPClassifier(hidden_layer_sizes=(8,), transfer_from=weights, transfer_layers=1,
                  max_iter=1).fit(X, y)
    wrong = {"coefs_": donor.coefs_, "intercepts_": [donor.intercepts_[1]] * 2}
    with pytest.raises(ValueError, match=r"intercepts of shape \(3,\); expected \(8,\)"):
        MLPClassifier(hidden_layer_sizes=(8,), transfer_from=wrong).fit(X, y)


def _warm_early_stopping(Est, X, y):
    """A first fit whose best validation accuracy is 1.0 (it cannot be
    beaten), then a warm-start fit; the weights after each."""
    est = Est(hidden_layer_sizes=(20,), learning_rate_init=0.01, early_stopping=True,
              validation_fraction=0.2, random_state=0, warm_start=True, max_iter=200)
    est.fit(X, y)
    assert est.best_validation_score_ == 1.0
    first = [c.copy() for c in est.coefs_]
    est.set_params(max_iter=15, learning_rate_init=0.05).fit(X, y)
    assert max(est.validation_scores_[-est.n_iter_:]) < 1.0  # never the best
    return first, est


def test_warm_start_never_beating_the_best_restores_it(iris):
    X, y = iris
    first, ours = _warm_early_stopping(MLPClassifier, X, y)
    for a, b in zip(first, ours.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ours.score(X, y) == MLPClassifier(
        hidden_layer_sizes=(20,), learning_rate_init=0.01, early_stopping=True,
        validation_fraction=0.2, random_state=0, max_iter=200).fit(X, y).score(X, y)
    # sklearn means to do the same (it keeps _best_coefs across fits) but
    # ends with the last epoch's weights: its restored best coefs_ are the
    # very arrays the next fit updates in place (docs/sklearn.md).
    first, theirs = _warm_early_stopping(SkClassifier, X, y)
    assert theirs._best_coefs[0] is theirs.coefs_[0]
    assert not np.array_equal(first[0], theirs.coefs_[0])


def test_early_stopping_split_reports_sklearns_labels():
    X = [[1, 2], [2, 3], [3, 4], [4, 5]]
    y = [0, 0, 0, 1]
    for Est in (MLPClassifier, SkClassifier):
        with pytest.raises(ValueError, match=r"too few members are: \['True'\]"):
            Est(early_stopping=True).fit(X, y)
