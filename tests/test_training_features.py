"""Training features beyond sklearn: each test fails if the feature is inert."""

import numpy as np
import pytest
from sklearn import datasets

from skdeep import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _one_sgd_step(**params):
    X, y = datasets.make_regression(40, 3, random_state=0)
    base = dict(hidden_layer_sizes=(), solver="sgd", momentum=0.0, batch_size=40,
                shuffle=False, max_iter=1, learning_rate_init=1.0, alpha=0.0,
                random_state=0)
    reg = MLPRegressor(**base, **params).fit(X, y)
    start = MLPRegressor(**base).fit(X, y)  # the same step without clipping
    init = MLPRegressor(**{**base, "learning_rate_init": 1e-300}).fit(X, y)
    return (init.coefs_[0].ravel(), reg.coefs_[0].ravel(), start.coefs_[0].ravel())


def test_clip_value_bounds_every_step():
    w0, clipped, free = _one_sgd_step(clip_value=0.05)
    assert np.abs(free - w0).max() > 0.05
    np.testing.assert_allclose(np.abs(clipped - w0), 0.05, rtol=1e-12)


def test_clip_norm_rescales_the_whole_gradient():
    w0, clipped, free = _one_sgd_step(clip_norm=0.1)
    # single-layer linear model: the update is -lr * grad
    full_step = free - w0
    assert np.linalg.norm(full_step) > 0.1
    step = clipped - w0
    # the intercept shares the norm budget, so the weight part is <= 0.1
    assert np.linalg.norm(step) <= 0.1 + 1e-12
    cos = step @ full_step / np.linalg.norm(step) / np.linalg.norm(full_step)
    assert cos > 0.999


def test_clipping_refused_for_lbfgs(iris):
    with pytest.raises(ValueError, match="stochastic"):
        MLPClassifier(solver="lbfgs", clip_norm=1.0).fit(*iris)


def test_class_weight_balanced_equals_explicit_sample_weight(iris):
    X, y = iris
    keep = np.r_[0:50, 50:70, 100:150]  # class 1 under-represented
    X, y = X[keep], y[keep]
    params = dict(max_iter=20, random_state=0, shuffle=False)
    balanced = MLPClassifier(class_weight="balanced", **params).fit(X, y)
    weights = len(y) / (3 * np.bincount(y))
    explicit = MLPClassifier(**params).fit(X, y, sample_weight=weights[y])
    plain = MLPClassifier(**params).fit(X, y)
    np.testing.assert_allclose(balanced.coefs_[0], explicit.coefs_[0])
    assert not np.allclose(balanced.coefs_[0], plain.coefs_[0])
    dict_weighted = MLPClassifier(class_weight={0: 1, 1: 5, 2: 1}, **params).fit(
        X, y, sample_weight=np.full(len(y), 2.0))
    both = MLPClassifier(**params).fit(X, y, sample_weight=2.0 * np.array([1, 5, 1])[y])
    np.testing.assert_allclose(dict_weighted.coefs_[0], both.coefs_[0])
    # One batch's class counts are not the data's: partial_fit refuses.
    with pytest.raises(ValueError, match="not supported by partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("multiclass", [True, False])
def test_label_smoothing_trains_against_smoothed_targets(iris, multiclass):
    X, y = iris
    if not multiclass:
        y = (y == 2).astype(int)
    params = dict(solver="lbfgs", max_iter=300, random_state=0, alpha=0.0)
    sharp = MLPClassifier(**params).fit(X, y)
    smooth = MLPClassifier(label_smoothing=0.2, **params).fit(X, y)
    # smoothing caps confidence: the largest probability approaches 1 - eps + eps/K
    k = 3 if multiclass else 2
    assert sharp.predict_proba(X).max() > 0.99
    assert smooth.predict_proba(X).max() < 1 - 0.2 + 0.2 / k + 0.05
    assert smooth.score(X, y) > 0.9
    # the training loss is the cross-entropy against the smoothed targets
    onehot = np.eye(k)[y]
    target = onehot * 0.8 + 0.2 / k
    p = smooth.predict_proba(X)
    expected = -(target * np.log(p)).sum(axis=1).mean()
    assert smooth.loss_ == pytest.approx(expected, rel=1e-6)


def test_history_and_validation_loss_curve(iris):
    X, y = iris
    clf = MLPClassifier(early_stopping=True, max_iter=15, n_iter_no_change=100,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert len(clf.history_) == len(clf.loss_curve_) == len(clf.validation_loss_curve_) == 15
    record = clf.history_[-1]
    assert record["loss"] == clf.loss_curve_[-1]
    assert record["validation_score"] == clf.validation_scores_[-1]
    assert record["validation_loss"] == clf.validation_loss_curve_[-1]
    assert record["learning_rate"] == 0.01 and record["time"] > 0
    assert len(record["update_ratio"]) == 2 and all(r > 0 for r in record["update_ratio"])
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]

    plain = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    assert plain.validation_loss_curve_ is None and len(plain.history_) == 3


def test_update_ratio_tracks_learning_rate(iris):
    X, y = iris
    small = MLPClassifier(solver="sgd", learning_rate_init=1e-4, max_iter=1,
                          random_state=0).fit(*iris)
    large = MLPClassifier(solver="sgd", learning_rate_init=1e-2, max_iter=1,
                          random_state=0).fit(X, y)
    assert large.history_[0]["update_ratio"][0] > 20 * small.history_[0]["update_ratio"][0]


def test_callbacks_see_every_epoch_and_can_stop(iris):
    seen = []

    def record(est, rec):
        seen.append((rec["epoch"], est.coefs_[0].copy()))

    def stop_at_four(est, rec):
        return rec["epoch"] >= 4

    clf = MLPClassifier(max_iter=50, random_state=0,
                        callbacks=[record, stop_at_four]).fit(*iris)
    assert clf.n_iter_ == 4 and [e for e, _ in seen] == [1, 2, 3, 4]
    assert not np.allclose(seen[0][1], seen[-1][1])
    np.testing.assert_array_equal(seen[-1][1], clf.coefs_[0])


def test_dropout_is_training_only_and_deterministic_at_predict(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(32, 16), dropout=(0.5, 0.2), max_iter=30,
                        random_state=0).fit(X, y)
    plain = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=30, random_state=0).fit(X, y)
    assert not np.allclose(clf.coefs_[0], plain.coefs_[0])
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, clf.predict_proba(X))
    # unscaled inference: the same weights in a dropout-free model predict the same
    plain.coefs_, plain.intercepts_ = clf.coefs_, clf.intercepts_
    np.testing.assert_allclose(plain.predict_proba(X), proba, rtol=1e-12)
    # dropout noise shows in the training loss
    assert clf.loss_ > plain.loss_
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        MLPClassifier(hidden_layer_sizes=(4, 4), dropout=(0.1,)).fit(X, y)
    with pytest.raises(ValueError, match="stochastic"):
        MLPClassifier(solver="lbfgs", dropout=0.1).fit(X, y)


@pytest.mark.parametrize("param", [{"input_noise": 0.5}, {"mixup_alpha": 0.4}])
def test_augmentation_is_training_only(iris, param):
    X, y = iris
    aug = MLPClassifier(max_iter=40, random_state=0, learning_rate_init=0.01, **param)
    aug.fit(X, y)
    again = MLPClassifier(max_iter=40, random_state=0, learning_rate_init=0.01, **param)
    np.testing.assert_array_equal(again.fit(X, y).coefs_[0], aug.coefs_[0])
    plain = MLPClassifier(max_iter=40, random_state=0, learning_rate_init=0.01).fit(X, y)
    assert aug.loss_ > plain.loss_  # the training batches are harder
    assert aug.score(X, y) > 0.85
    np.testing.assert_array_equal(aug.predict_proba(X), aug.predict_proba(X))
