"""The lean prediction path for a few rows agrees with the general one."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.utils.validation import validate_data

from skdeep import MLPClassifier, MLPRegressor


def _general_path(est, X):
    # What predict computes when every input goes through validate_data and
    # the parameters are packed afresh.
    X = validate_data(est, X, dtype=(np.float64, np.float32), reset=False)
    return pickle.loads(pickle.dumps(est))._forward_pass_fast(X, check_input=False)


def _forward_reference(est, X):
    A = X
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        Z = A @ W + b
        A = np.maximum(Z, 0) if i < len(est.coefs_) - 1 else Z
    return A


@pytest.fixture(scope="module")
def models():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 6))
    y3 = rng.randint(0, 3, size=120)
    y2 = np.where(X[:, 0] > 0, "yes", "no")
    return X, {
        "multiclass": MLPClassifier((7, 5), max_iter=5, random_state=0).fit(X, y3),
        "binary": MLPClassifier((7,), max_iter=5, random_state=0).fit(X, y2),
        "regression": MLPRegressor(hidden_layer_sizes=(7,), max_iter=5, random_state=0).fit(X, X[:, 1]),
    }


@pytest.mark.parametrize("kind", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("rows", [1, 10, 300])
def test_predictions_match_the_general_path(models, kind, rows):
    X, fitted = models
    est = fitted[kind]
    Xp = np.random.RandomState(rows).normal(size=(rows, X.shape[1]))
    np.testing.assert_array_equal(est._forward_pass_fast(Xp), _general_path(est, Xp))
    outputs = _general_path(est, Xp)
    if kind == "regression":
        np.testing.assert_array_equal(est.predict(Xp), outputs.ravel())
    else:
        expected = est._label_binarizer.inverse_transform(
            outputs.ravel() if kind == "binary" else outputs)
        np.testing.assert_array_equal(est.predict(Xp), expected)


def test_small_inputs_get_sklearns_errors(models):
    X, fitted = models
    est = fitted["multiclass"]
    bad = X[:1].copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(bad)
    with pytest.raises(ValueError, match="expecting 6 features"):
        est.predict(X[:1, :5])
    with pytest.raises(ValueError, match="Expected 2D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="0 sample"):
        est.predict(X[:0])


def test_replaced_parameters_are_read_not_the_fitted_buffer(models):
    X, fitted = models
    est = pickle.loads(pickle.dumps(fitted["regression"]))
    before = est.predict(X[:3])
    est.coefs_[0] = est.coefs_[0] * 2.0  # no longer a view into the buffer
    np.testing.assert_allclose(est.predict(X[:3]),
                               _forward_reference(est, X[:3]).ravel(), rtol=1e-10)
    assert not np.allclose(est.predict(X[:3]), before)
    est.coefs_[0][:] = 0.0  # edited in place
    np.testing.assert_allclose(est.predict(X[:3]),
                               _forward_reference(est, X[:3]).ravel(), rtol=1e-10)


def test_edits_after_fit_are_seen(models):
    X, _ = models
    est = MLPRegressor(hidden_layer_sizes=(4, 4), max_iter=3, random_state=0).fit(X, X[:, 1])
    est.coefs_[1][:] = est.coefs_[1][::-1].copy()  # in place
    np.testing.assert_allclose(est.predict(X[:3]),
                               _forward_reference(est, X[:3]).ravel(), rtol=1e-10)
    est.intercepts_[1] = est.intercepts_[1][::-1]  # a reversed view
    np.testing.assert_allclose(est.predict(X[:3]),
                               _forward_reference(est, X[:3]).ravel(), rtol=1e-10)


def test_swapped_layers_of_one_shape_are_not_read_in_place():
    # Two hidden layers of the same shape swapped: the attributes are still
    # views of the fitted vector, at each other's offsets.
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(5, 5, 5), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    reference = MLPClassifier(hidden_layer_sizes=(5, 5, 5), max_iter=5,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, y)
    clf.coefs_[1], clf.coefs_[2] = clf.coefs_[2], clf.coefs_[1]
    reference.coefs_[1], reference.coefs_[2] = (reference.coefs_[2].copy(),
                                                reference.coefs_[1].copy())
    np.testing.assert_array_equal(clf.predict_proba(X[:3]),
                                  reference.predict_proba(X[:3]))
