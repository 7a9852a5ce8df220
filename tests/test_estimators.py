"""Estimator behaviour, compared with sklearn on the same data."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import Activation, MLPClassifier, MLPRegressor, Optimizer


def _digits():
    X, y = datasets.load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, random_state=0)


# The accuracy comparison: same settings, same data, same random_state.
PARITY_CASES = {
    "digits-adam": (_digits, "clf", dict(hidden_layer_sizes=(64,), max_iter=60)),
    "breast_cancer-sgd": (
        lambda: train_test_split(
            StandardScaler().fit_transform(datasets.load_breast_cancer().data),
            datasets.load_breast_cancer().target, random_state=0),
        "clf", dict(solver="sgd", learning_rate_init=0.01, max_iter=100)),
    "moons-relu-lbfgs": (
        lambda: train_test_split(*datasets.make_moons(1000, noise=0.25, random_state=3),
                                 random_state=0),
        "clf", dict(solver="lbfgs", activation="relu", hidden_layer_sizes=(10, 10))),
    "moons-tanh-lbfgs": (
        lambda: train_test_split(*datasets.make_moons(1000, noise=0.25, random_state=3),
                                 random_state=0),
        "clf", dict(solver="lbfgs", activation="tanh", hidden_layer_sizes=(10, 10))),
    "diabetes-lbfgs": (
        lambda: train_test_split(
            StandardScaler().fit_transform(datasets.load_diabetes().data),
            StandardScaler().fit_transform(
                datasets.load_diabetes().target[:, None]).ravel(),
            random_state=0),
        "reg", dict(solver="lbfgs", hidden_layer_sizes=(10,), alpha=1.0)),
    "diabetes-adam": (
        lambda: train_test_split(
            StandardScaler().fit_transform(datasets.load_diabetes().data),
            StandardScaler().fit_transform(
                datasets.load_diabetes().target[:, None]).ravel(),
            random_state=0),
        "reg", dict(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                    alpha=1.0, max_iter=100)),
}


@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_accuracy_matches_sklearn(case):
    load, kind, params = PARITY_CASES[case]
    X_train, X_test, y_train, y_test = load()
    ours_cls, theirs_cls = ((MLPClassifier, SkClassifier) if kind == "clf"
                            else (MLPRegressor, SkRegressor))
    ours = ours_cls(random_state=0, **params).fit(X_train, y_train)
    theirs = theirs_cls(random_state=0, **params).fit(X_train, y_train)
    a, b = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    print(f"{case}: skdeep {a:.4f} sklearn {b:.4f}")
    assert abs(a - b) <= 0.01 + 1e-9
    assert ours.n_iter_ > 1


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_epoch_equals_sklearn_without_shuffle(solver, weighted, rng):
    """With sklearn's initializer and no shuffling, weights track sklearn's."""
    X, y = datasets.make_classification(200, 8, n_classes=3, n_informative=5,
                                        random_state=1)
    sw = rng.uniform(0.5, 2, len(y)) if weighted else None
    params = dict(hidden_layer_sizes=(16, 8), solver=solver, shuffle=False,
                  batch_size=32, learning_rate_init=0.01, max_iter=3,
                  random_state=0, alpha=0.01)
    ours = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    theirs = SkClassifier(**params).fit(X, y, sample_weight=sw)
    for a, b in zip(ours.coefs_ + ours.intercepts_,
                    theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_regressor_sgd_schedules_track_sklearn():
    X, y = datasets.make_regression(150, 5, noise=1.0, random_state=0)
    y = y / 100
    for schedule in ("invscaling", "adaptive", "constant"):
        params = dict(hidden_layer_sizes=(8,), solver="sgd", shuffle=False,
                      learning_rate=schedule, learning_rate_init=0.05,
                      max_iter=40, random_state=0, n_iter_no_change=2,
                      tol=1e-2)
        ours = MLPRegressor(**params).fit(X, y)
        theirs = SkRegressor(**params).fit(X, y)
        assert ours.n_iter_ == theirs.n_iter_, schedule
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-8)


def test_float32_trains_in_float32():
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(max_iter=20, random_state=0).fit(X.astype(np.float32), y)
    assert all(c.dtype == np.float32 for c in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.score(X, y) > 0.6


def test_targets_of_every_type():
    X, y = datasets.make_multilabel_classification(120, 6, n_classes=3, random_state=0)
    clf = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
    assert clf.predict(X).shape == y.shape and clf.out_activation_ == "logistic"
    proba = clf.predict_proba(X)
    assert proba.shape == y.shape and ((proba >= 0) & (proba <= 1)).all()

    Xb, yb = datasets.make_classification(100, 5, random_state=0)
    clf = MLPClassifier(max_iter=50, random_state=0).fit(Xb, np.where(yb, "yes", "no"))
    proba = clf.predict_proba(Xb)
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(Xb)), proba, rtol=1e-6)
    assert set(clf.predict(Xb)) <= {"yes", "no"}

    Xr, yr = datasets.make_regression(100, 4, n_targets=3, random_state=0)
    reg = MLPRegressor(solver="lbfgs", max_iter=200, random_state=0).fit(Xr, yr / 100)
    assert reg.predict(Xr).shape == (100, 3) and reg.score(Xr, yr / 100) > 0.9

    counts = np.random.RandomState(0).poisson(np.exp(Xr[:, 0] / 3))
    pois = MLPRegressor(loss="poisson", solver="lbfgs", random_state=0).fit(Xr, counts)
    assert pois.out_activation_ == "exp" and (pois.predict(Xr) > 0).all()
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(Xr, -counts - 1)


def test_partial_fit_and_warm_start():
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(random_state=0, learning_rate_init=0.01)
    for _ in range(30):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert clf.n_iter_ == 1 and clf.t_ == 30 * len(y)
    assert clf.score(X, y) > 0.9
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")

    warm = MLPClassifier(max_iter=5, warm_start=True, random_state=0).fit(X, y)
    before = [c.copy() for c in warm.coefs_]
    warm.fit(X, y)
    assert not np.allclose(before[0], warm.coefs_[0])
    assert len(warm.loss_curve_) == 10


def test_early_stopping_like_sklearn():
    X, y = _digits()[0::2]
    # Without shuffling the runs are identical, so the split, the scores and
    # the stopping epoch must be sklearn's.
    params = dict(early_stopping=True, random_state=0, max_iter=200, shuffle=False,
                  n_iter_no_change=3, hidden_layer_sizes=(32,))
    ours = MLPClassifier(**params).fit(X, y)
    theirs = SkClassifier(**params).fit(X, y)
    assert len(ours.validation_scores_) == ours.n_iter_ < 200
    assert ours.best_validation_score_ == max(ours.validation_scores_)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_)
    np.testing.assert_allclose(ours.coefs_[0], theirs.coefs_[0], rtol=1e-6, atol=1e-9)


def test_pickle_clone_pipeline_and_grid_search():
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(solver=Optimizer("rmsprop", rho=0.8), max_iter=30,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    for restored in (pickle.loads(pickle.dumps(clf)),):
        np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    path = "/tmp/skdeep-test-model.joblib"
    joblib.dump(clf, path)
    np.testing.assert_array_equal(joblib.load(path).predict(X), clf.predict(X))

    cloned = clone(clf)
    assert cloned.solver == clf.solver and cloned.solver is not clf.solver
    assert not hasattr(cloned, "coefs_")

    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=50, random_state=0))
    assert pipe.fit(X, y).score(X, y) > 0.8

    search = GridSearchCV(
        MLPClassifier(solver=Optimizer("rmsprop"), max_iter=20, random_state=0,
                      learning_rate_init=0.01),
        {"solver__rho": [0.5, 0.9], "activation": ["relu", Activation("leaky_relu", alpha=0.1)]},
        cv=2, n_jobs=2,
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_estimator_.solver.rho in (0.5, 0.9)


def test_every_builtin_solver_learns():
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    for solver in ["sgd", "adam", "adamw", "adamax", "nadam", "adagrad", "rmsprop", "lbfgs"]:
        clf = MLPClassifier(solver=solver, learning_rate_init=0.01, max_iter=100,
                            random_state=0).fit(X, y)
        assert clf.score(X, y) > 0.85, solver


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal", "lecun_normal"])
def test_initializers_and_regularizers_are_selectable(initializer):
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(initializer=initializer, regularizer="l1", alpha=0.01,
                        max_iter=60, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.8
    ref = MLPClassifier(max_iter=1, random_state=0).fit(X, y)
    assert not np.allclose(clf.intercepts_[0], ref.intercepts_[0])


def test_l1_gives_sparser_weights_than_l2():
    X, y = datasets.load_digits(return_X_y=True)
    kwargs = dict(alpha=1.0, max_iter=40, random_state=0, hidden_layer_sizes=(32,))
    l1 = MLPClassifier(regularizer="l1", **kwargs).fit(X / 16, y)
    l2 = MLPClassifier(regularizer="l2", **kwargs).fit(X / 16, y)
    small = lambda m: np.mean(np.abs(m.coefs_[0]) < 1e-3)  # noqa: E731
    assert small(l1) > small(l2) + 0.1


def test_hyperparameter_changes_do_not_recompile():
    from skdeep._kernels.cpu import compile as _compile
    from skdeep._kernels.cpu import compile as mlp

    X, y = datasets.load_iris(return_X_y=True)
    MLPClassifier(activation=Activation("leaky_relu", alpha=0.1), max_iter=2).fit(X, y)
    n_blocks = len(_compile._blocks)
    signatures = {k: len(v.signatures) for k, v in mlp._compiled["float64"].items()
                  if hasattr(v, "signatures")}
    first = MLPClassifier(activation=Activation("leaky_relu", alpha=0.5), beta_1=0.5,
                          alpha=0.3, max_iter=2, random_state=0).fit(X, y)
    second = MLPClassifier(activation=Activation("leaky_relu", alpha=0.01), max_iter=2,
                           random_state=0).fit(X, y)
    assert len(_compile._blocks) == n_blocks
    assert signatures == {k: len(v.signatures) for k, v in mlp._compiled["float64"].items()
                          if hasattr(v, "signatures")}
    assert not np.allclose(first.coefs_[0], second.coefs_[0])


def test_bad_input_gives_clear_errors_and_keeps_model():
    X, y = datasets.load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="Unknown activation 'nope'.*relu"):
        MLPClassifier(activation="nope").fit(X, y)
    with pytest.raises(ValueError, match="Unknown optimizer 'nope'.*rmsprop"):
        MLPClassifier(solver="nope").fit(X, y)
    with pytest.raises(ValueError, match="no hyperparameter rhoo. Accepted: rho"):
        MLPClassifier(solver=Optimizer("rmsprop", rhoo=1)).fit(X, y)
    with pytest.raises(ValueError, match="2 hidden layers"):
        MLPClassifier(hidden_layer_sizes=(3, 3), activation=("relu",)).fit(X, y)
    with pytest.raises(TypeError, match="whole numbers of units, got \\[3.5\\]"):
        MLPClassifier(hidden_layer_sizes=(3.5,)).fit(X, y)

    clf = MLPClassifier(max_iter=20, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(activation="unknown")
    with pytest.raises(ValueError):
        clf.fit(X, y)
    clf.set_params(activation="relu")
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    with pytest.raises(ValueError):
        clf.partial_fit(X[:, :2], y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_non_finite_weights_are_reported_and_model_kept():
    X, y = datasets.make_regression(50, 3, random_state=0)
    reg = MLPRegressor(max_iter=5, random_state=0).fit(X, y)
    before = reg.predict(X)
    reg.set_params(solver="sgd", learning_rate_init=1e6, warm_start=True)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X * 1e6, y * 1e6)
    np.testing.assert_array_equal(reg.predict(X), before)


def test_failed_warm_start_restores_history_and_optimizer_state():
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(max_iter=5, warm_start=True, random_state=0).fit(X, y)
    curve = list(clf.loss_curve_)
    state = clf.training_state_.optimizer_state.copy()
    clf.set_params(max_iter=3)
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError):
        clf.fit(bad, y)
    assert clf.loss_curve_ == curve
    np.testing.assert_array_equal(clf.training_state_.optimizer_state, state)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fit_keeps_no_private_training_attributes(solver):
    # What training evolves is one explicit object (training_state_); the
    # only private attributes are the two sklearn's MLP has too.
    X, y = datasets.load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=3,
                        early_stopping=solver == "adam", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert {k for k in vars(clf) if k.startswith("_")} == {
        "_label_binarizer", "_random_state"}
    assert (clf.training_state_ is None) == (solver == "lbfgs")
