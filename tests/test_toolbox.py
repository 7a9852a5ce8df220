"""Batch norm, learnable activations, loss plugins, freezing and transfer,
validation data and early stopping on the loss, schedules in training,
progress and interruption: each test fails if its feature is inert or wrong.
"""

import math
import pickle
import warnings

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score

from skdeep import (
    CosineWarmRestarts,
    ExponentialDecay,
    Loss,
    MLPClassifier,
    MLPRegressor,
    ReduceLROnPlateau,
    register_plugin,
)
from skdeep._device import make_network
from skdeep._kernels.cpu.network import Workspace
from skdeep._registry import get_registry
from skdeep._spec import resolve
from skdeep._training import regularizer
from skdeep.hookspecs import hookimpl
from skdeep.plugin_types import LossPlugin


@pytest.fixture(scope="module")
def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


@pytest.fixture(scope="module")
def regression():
    X, y = datasets.make_regression(200, 5, noise=5.0, random_state=0)
    return X, (y - y.mean()) / y.std()


def _acts(names):
    return [resolve("activation", name) for name in names]


def _loss_grad(net, theta, X, Y, sw, running=None, train=False, alpha=0.1):
    plugin = get_registry().get("regularizer", "l2")
    block, hp = regularizer(net, (plugin, {}))
    ws = Workspace(net.layout, X.shape[0], net.dtype)
    value = net.loss_grad(theta, X, Y, sw, block, hp, alpha, ws, running, train)
    return value, ws.grad.copy()


# -- batch normalization --------------------------------------------------
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("out_activation", ["softmax", "identity"])
# Mixed layers: intercepts of layers without batch norm are added and
# differentiated inside the activation blocks, the others around the norm.
@pytest.mark.parametrize("batch_norm", [[True, True], [True, False], [False, True]])
def test_batch_norm_gradient_matches_finite_differences(train, out_activation,
                                                         batch_norm, rng):
    units = (4, 5, 3, 3)
    X = rng.normal(size=(9, 4))
    Y = (np.eye(3)[rng.randint(3, size=9)] if out_activation == "softmax"
         else rng.normal(size=(9, 3)))
    sw = rng.uniform(0.5, 2.0, 9)
    net = make_network("cpu", units, _acts(["tanh", "prelu"]), out_activation,
                          np.float64, batch_norm=batch_norm)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)
    running = net.new_running_stats()
    running[:] = rng.uniform(0.5, 1.5, running.size)  # positive variances

    def f(t):
        return _loss_grad(net, t.copy(), X, Y, sw, running.copy(), train)[0]

    _, grad = _loss_grad(net, theta.copy(), X, Y, sw, running.copy(), train)
    numeric = approx_fprime(theta, f, 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=2e-4, atol=2e-6)
    # the scale and shift of both layers get gradient
    extras = net.layout.unpack_extras(grad)
    assert all(np.abs(g).sum() > 0 for g in extras["bn_scale"] + extras["bn_shift"]
               if g is not None)


def test_batch_norm_inference_matches_numpy(rng):
    units = (4, 6, 2)
    net = make_network("cpu", units, _acts(["relu"]), "identity", np.float64,
                          batch_norm=[True])
    theta = rng.uniform(-1, 1, net.layout.n_params)
    running = rng.uniform(0.2, 2.0, net.layout.n_unit_values)
    X = rng.normal(size=(7, 4))
    coefs, intercepts = net.layout.unpack(theta)
    extras = net.layout.unpack_extras(theta)
    mean, var = running[:6], running[6:12]
    z = X @ coefs[0] + intercepts[0]
    z = (z - mean) / np.sqrt(var + 1e-5) * extras["bn_scale"][0] + extras["bn_shift"][0]
    expected = np.maximum(z, 0) @ coefs[1] + intercepts[1]
    np.testing.assert_allclose(net.predict(theta, X, running), expected, rtol=1e-12)


def test_batch_norm_trains_with_running_statistics(iris):
    X, y = iris
    X = X * 5 + 3  # badly scaled inputs: batch norm should cope
    params = dict(hidden_layer_sizes=(16,), max_iter=40, batch_size=16,
                  random_state=0)
    bn = MLPClassifier(batch_norm=True, **params).fit(X, y)
    plain = MLPClassifier(**params).fit(X, y)
    assert not np.allclose(bn.coefs_[0], plain.coefs_[0])
    assert not np.allclose(bn.bn_scales_[0], 1.0)
    # running statistics track the hidden pre-activations of the data
    z = X @ bn.coefs_[0] + bn.intercepts_[0]
    np.testing.assert_allclose(bn.bn_running_means_[0], z.mean(0),
                               atol=0.3 * z.std(0).max())
    # inference uses the running statistics, so rows are independent
    np.testing.assert_allclose(bn.predict_proba(X[:1]), bn.predict_proba(X)[:1],
                               rtol=1e-12)
    restored = pickle.loads(pickle.dumps(bn))
    np.testing.assert_array_equal(restored.predict_proba(X), bn.predict_proba(X))
    assert bn.score(X, y) > plain.score(X, y)


def test_batch_norm_needs_a_stochastic_solver(iris):
    with pytest.raises(ValueError, match="batch_norm"):
        MLPClassifier(solver="lbfgs", batch_norm=True).fit(*iris)


def test_batch_norm_merges_a_last_single_row_batch(iris):
    # 150 rows in batches of 149 leave a batch of one row: it joins the one
    # before, so the epoch is one batch of 150, exactly as batch_size=150.
    X, y = iris
    params = dict(batch_norm=True, max_iter=3, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        merged = MLPClassifier(batch_size=149, **params).fit(X, y)
        whole = MLPClassifier(batch_size=150, **params).fit(X, y)
        split = MLPClassifier(batch_size=148, **params).fit(X, y)
    np.testing.assert_array_equal(merged.coefs_[0], whole.coefs_[0])
    assert merged.training_state_.steps == 3
    assert split.training_state_.steps == 6  # 148 + 2: nothing merged
    assert not np.array_equal(split.coefs_[0], whole.coefs_[0])
    # Without batch norm nothing is merged (sklearn's batches).
    plain = MLPClassifier(batch_size=149, max_iter=3, shuffle=False,
                          random_state=0).fit(X, y)
    assert plain.training_state_.steps == 6


def test_batch_norm_refuses_batches_of_one_row(iris):
    X, y = iris
    with pytest.raises(ValueError, match="batch_size >= 2"):
        MLPClassifier(batch_norm=True, batch_size=1, max_iter=2).fit(X, y)
    clf = MLPClassifier(batch_norm=True, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match="1 training row"):
        clf.partial_fit(X[:1], y[:1], classes=np.unique(y))
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.partial_fit(X[:3], y[:3], classes=np.unique(y))  # 2 + 1 rows: merged
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="1 training row"):
        clf.partial_fit(X[:1], y[:1])
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_batch_norm_in_float32(iris):
    X, y = iris
    clf = MLPClassifier(batch_norm=True, max_iter=5, random_state=0)
    clf.fit(X.astype(np.float32), y)
    assert clf.bn_scales_[0].dtype == np.float32
    assert clf.bn_running_vars_[0].dtype == np.float32


# -- learnable activations ------------------------------------------------
def test_prelu_learns_one_slope_per_unit(iris):
    clf = MLPClassifier(activation="prelu", hidden_layer_sizes=(8,),
                        learning_rate_init=0.01, max_iter=30, random_state=0)
    clf.fit(*iris)
    slopes = clf.activation_params_[0]
    assert slopes.shape == (8,)
    assert not np.allclose(slopes, 0.25)
    assert np.unique(slopes).size == 8
    # predictions use the learned slopes
    z = iris[0] @ clf.coefs_[0] + clf.intercepts_[0]
    hidden = np.where(z > 0, z, slopes * z)
    logits = hidden @ clf.coefs_[1] + clf.intercepts_[1]
    np.testing.assert_array_equal(clf.predict(iris[0]),
                                  clf.classes_[logits.argmax(1)])


# -- losses -----------------------------------------------------------------
def test_regression_losses_are_what_they_say(regression):
    X, y = regression
    y = y.copy()
    y[:10] += 20  # outliers
    for name, value in [
        ("absolute_error", lambda r: np.abs(r)),
        ("huber", lambda r: np.where(np.abs(r) <= 1, 0.5 * r * r, np.abs(r) - 0.5)),
        ("squared_error", lambda r: 0.5 * r * r),
    ]:
        reg = MLPRegressor(loss=name, solver="lbfgs", alpha=0.0, max_iter=50,
                           hidden_layer_sizes=(8,), random_state=0).fit(X, y)
        np.testing.assert_allclose(reg.loss_, value(reg.predict(X) - y).mean(),
                                   rtol=1e-6)


def test_robust_losses_resist_outliers(regression):
    X, y = regression
    X_test, y_test = X[100:], y[100:]
    y_train = y[:100].copy()
    y_train[:10] += 15
    scores = {
        name: MLPRegressor(loss=name, solver="lbfgs", hidden_layer_sizes=(8,),
                           random_state=0, max_iter=300).fit(X[:100], y_train)
        .score(X_test, y_test)
        for name in ("squared_error", "huber")
    }
    assert scores["huber"] > scores["squared_error"] + 0.05, scores


def test_chain_rule_equals_link_gradient(rng):
    # log_loss through the generic chain rule (no link gradient) must give
    # the same deltas as its fused p - y form, for softmax and logistic.
    log_loss = get_registry().get("loss", "log_loss")
    chain = LossPlugin("log_loss_chain", log_loss.loss, log_loss.gradient,
                       "classification", average_outputs=False)
    X = rng.normal(size=(6, 3))
    theta = None
    for out, Y in (("softmax", np.eye(3)[rng.randint(3, size=6)]),
                   ("logistic", (rng.uniform(size=(6, 3)) > 0.5) * 1.0)):
        grads = []
        for plugin in (log_loss, chain):
            net = make_network("cpu", (3, 4, 3), _acts(["tanh"]), out, np.float64,
                                  loss=(plugin, {}))
            if theta is None:
                theta = rng.uniform(-1, 1, net.layout.n_params)
            grads.append(_loss_grad(net, theta.copy(), X, Y, np.ones(6)))
        np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-10)
        np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-7, atol=1e-12)


def test_a_plugin_loss_trains_a_classifier(iris):
    class FocalPlugin:
        @staticmethod
        @hookimpl
        def skdeep_losses():
            return [LossPlugin("focal_test", _focal, _focal_gradient,
                               "classification", average_outputs=False,
                               hyperparameters={"gamma": 2.0})]

    if "focal_test" not in get_registry().names("loss"):
        register_plugin(FocalPlugin, name="focal_test_plugin")
    from skdeep.testing import check_plugin

    check_plugin("loss", "focal_test")
    clf = MLPClassifier(loss=Loss("focal_test", gamma=1.0), max_iter=60,
                        learning_rate_init=0.01, random_state=0).fit(*iris)
    assert clf.score(*iris) > 0.9
    assert clone(clf).get_params()["loss__gamma"] == 1.0


def _focal(p, y, gamma):
    # focal loss (Lin et al.): cross-entropy down-weighted on easy examples
    return -y * (1.0 - p) ** gamma * math.log(p) if y != 0 else 0.0


def _focal_gradient(p, y, gamma):
    if y == 0:
        return 0.0
    return y * (gamma * (1.0 - p) ** (gamma - 1.0) * math.log(p)
                - (1.0 - p) ** gamma / p)


def test_loss_of_the_wrong_task_is_refused(iris):
    with pytest.raises(ValueError, match="regression loss.*accepts: .*log_loss"):
        MLPClassifier(loss="huber").fit(*iris)
    with pytest.raises(ValueError, match="Unknown loss"):
        MLPRegressor(loss="nope").fit(*iris)


# -- freezing and transfer --------------------------------------------------
def test_frozen_layers_stay_bit_identical(iris):
    X, y = iris
    donor = MLPClassifier(hidden_layer_sizes=(10, 6), batch_norm=True,
                          max_iter=20, random_state=0).fit(X, y)
    for solver in ("adamw", "sgd"):
        student = MLPClassifier(hidden_layer_sizes=(10, 6), batch_norm=True,
                                solver=solver, transfer_from=donor,
                                frozen_layers=[0], max_iter=20, random_state=1)
        student.fit(X, y)
        np.testing.assert_array_equal(student.coefs_[0], donor.coefs_[0])
        np.testing.assert_array_equal(student.intercepts_[0], donor.intercepts_[0])
        np.testing.assert_array_equal(student.bn_scales_[0], donor.bn_scales_[0])
        assert not np.allclose(student.coefs_[1], donor.coefs_[1])
        assert not np.allclose(student.coefs_[2], donor.coefs_[2])


def test_frozen_layers_with_lbfgs(iris):
    X, y = iris
    donor = MLPClassifier(solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    student = MLPClassifier(solver="lbfgs", transfer_from=donor, frozen_layers=[-1],
                            max_iter=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(student.coefs_[-1], donor.coefs_[-1])
    assert not np.allclose(student.coefs_[0], donor.coefs_[0])


def test_transfer_of_leading_layers(iris):
    X, y = iris
    donor = MLPClassifier(hidden_layer_sizes=(12,), max_iter=30, random_state=0)
    donor.fit(X, y)
    # a new head on the donor's hidden layer: only layer 0 is copied
    student = MLPClassifier(hidden_layer_sizes=(12, 5), transfer_from=donor,
                            transfer_layers=1, learning_rate_init=1e-300,
                            max_iter=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(student.coefs_[0], donor.coefs_[0])
    fresh = MLPClassifier(hidden_layer_sizes=(12, 5), learning_rate_init=1e-300,
                          max_iter=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(student.coefs_[1], fresh.coefs_[1])
    # weights as a plain dict survive clone, as GridSearchCV needs
    weights = {"coefs_": donor.coefs_, "intercepts_": donor.intercepts_}
    cloned = clone(MLPClassifier(hidden_layer_sizes=(12,), transfer_from=weights,
                                 transfer_layers=1, max_iter=1,
                                 learning_rate_init=1e-300))
    np.testing.assert_array_equal(cloned.fit(X, y).coefs_[0], donor.coefs_[0])


def test_transfer_and_freeze_errors(iris):
    X, y = iris
    donor = MLPClassifier(hidden_layer_sizes=(12,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        MLPClassifier(hidden_layer_sizes=(7,), transfer_from=donor).fit(X, y)
    with pytest.raises(ValueError, match="not fitted"):
        MLPClassifier(transfer_from=MLPClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="frozen_layers"):
        MLPClassifier(frozen_layers=[5], max_iter=2).fit(X, y)


# -- validation data, early stopping on the loss ----------------------------
def _recording_fit(est, X, y, **fit_params):
    weights = []
    est.set_params(callbacks=[lambda e, r: weights.append(
        [c.copy() for c in e.coefs_])])
    est.fit(X, y, **fit_params)
    return weights


@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_on_validation_loss(regression, restore):
    X, y = regression
    reg = MLPRegressor(hidden_layer_sizes=(64,), learning_rate_init=0.05,
                       early_stopping=True, early_stopping_metric="loss",
                       n_iter_no_change=3, max_iter=300, random_state=0,
                       restore_best_weights=restore)
    weights = _recording_fit(reg, X, y, validation_data=(X[:40], y[:40]))
    curve = np.array(reg.validation_loss_curve_)
    best = int(np.argmin(curve))
    assert reg.n_iter_ < 300
    assert reg.n_iter_ == best + 3 + 2  # patience n_iter_no_change, as sklearn
    expected = weights[best] if restore else weights[-1]
    np.testing.assert_array_equal(reg.coefs_[0], expected[0])
    assert reg.best_validation_loss_ == curve.min()
    # the curve is the user's validation set, not a split of the training data
    assert len(reg.validation_scores_) == reg.n_iter_
    assert reg.t_ == reg.n_iter_ * len(X)


def test_validation_data_without_early_stopping_records_curves(iris):
    X, y = iris
    scores = []
    clf = MLPClassifier(max_iter=6, random_state=0, callbacks=[
        lambda e, r: scores.append(e.score(X[::3], y[::3]))])
    clf.fit(X, y, validation_data=(X[::3], y[::3]))
    assert clf.n_iter_ == 6
    np.testing.assert_allclose(clf.validation_scores_, scores)
    assert len(clf.validation_loss_curve_) == 6
    assert clf.best_validation_score_ is None


def test_validation_data_is_checked(iris):
    X, y = iris
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        MLPClassifier(max_iter=2).fit(X, y, validation_data=X)
    with pytest.raises(ValueError, match="not seen in training"):
        MLPClassifier(max_iter=2).fit(X, y, validation_data=(X[:5], np.full(5, 7)))
    with pytest.raises(ValueError, match="features"):
        MLPClassifier(max_iter=2).fit(X, y, validation_data=(X[:5, :2], y[:5]))
    # Targets of another width once overran the kernel's row buffers.
    with pytest.raises(ValueError, match="2 target columns.*fitted with 1"):
        MLPRegressor(max_iter=2).fit(X, X[:, 0], validation_data=(X[:5], X[:5, :2]))
    with pytest.raises(ValueError, match="y_val contains NaN"):
        MLPRegressor(max_iter=2).fit(X, X[:, 0],
                                     validation_data=(X[:2], [0.0, np.nan]))
    labels = np.eye(3)[y]
    with pytest.raises(ValueError, match="indicator matrix with 3 columns"):
        MLPClassifier(max_iter=2).fit(X, labels, validation_data=(X[:5], labels[:5, :2]))
    with pytest.raises(ValueError, match="one label per row"):
        MLPClassifier(max_iter=2).fit(X, y, validation_data=(X[:5], labels[:5]))


# -- schedules in training --------------------------------------------------
def test_schedule_sets_the_rate_of_every_epoch(iris):
    X, y = iris
    clf = MLPClassifier(solver="sgd", learning_rate=ExponentialDecay(decay_rate=0.5),
                        learning_rate_init=0.1, max_iter=5, random_state=0).fit(X, y)
    rates = [r["learning_rate"] for r in clf.history_]
    np.testing.assert_allclose(rates, 0.1 * 0.5 ** np.arange(5))
    # the rates reach the kernel, for adam too (unlike sklearn's schedules)
    params = dict(max_iter=3, random_state=0, learning_rate_init=0.01)
    constant = MLPClassifier(**params).fit(X, y)
    decayed = MLPClassifier(learning_rate=ExponentialDecay(decay_rate=0.5),
                            **params).fit(X, y)
    ignored = MLPClassifier(learning_rate="invscaling", **params).fit(X, y)
    assert not np.allclose(decayed.coefs_[0], constant.coefs_[0])
    np.testing.assert_array_equal(ignored.coefs_[0], constant.coefs_[0])


def test_adam_follows_skdeep_schedules_but_not_sklearns(iris):
    X, y = iris
    sk = MLPClassifier(learning_rate="invscaling", max_iter=3, random_state=0).fit(X, y)
    assert {r["learning_rate"] for r in sk.history_} == {0.001}
    cos = MLPClassifier(learning_rate=CosineWarmRestarts(T_0=4), max_iter=3,
                        random_state=0).fit(X, y)
    assert cos.history_[1]["learning_rate"] < cos.history_[0]["learning_rate"]


def test_reduce_on_plateau_reacts_to_validation_loss(iris):
    X, y = iris
    clf = MLPClassifier(solver="sgd", learning_rate_init=0.5, batch_size=8,
                        learning_rate=ReduceLROnPlateau(factor=0.5, patience=0),
                        max_iter=25, n_iter_no_change=100, random_state=0)
    clf.fit(X, y, validation_data=(X[::2], y[::2]))
    rates = np.array([r["learning_rate"] for r in clf.history_])
    losses = np.array(clf.validation_loss_curve_)
    assert (np.diff(rates) <= 0).all()
    assert rates[-1] < rates[0]
    for epoch in np.flatnonzero(np.diff(rates) < 0) + 1:
        # a reduction follows an epoch that did not improve on the best
        assert losses[epoch - 1] > losses[:epoch - 1].min() - 1e-4


def test_grid_search_over_schedule_parameters(iris):
    clf = MLPClassifier(learning_rate=ExponentialDecay(), max_iter=2)
    clf.set_params(learning_rate__decay_rate=0.5)
    assert clone(clf).learning_rate.decay_rate == 0.5


# -- history, progress, interruption ----------------------------------------
def test_training_score_is_the_running_score(iris, regression):
    # with a vanishing learning rate the weights are constant during an
    # epoch, so the running score equals the model's score on the data
    X, y = iris
    clf = MLPClassifier(learning_rate_init=1e-300, max_iter=2,
                        random_state=0).fit(X, y)
    assert clf.history_[-1]["score"] == pytest.approx(
        accuracy_score(y, clf.predict(X)))
    X, y = regression
    reg = MLPRegressor(learning_rate_init=1e-300, max_iter=2, random_state=0)
    reg.fit(X, y)
    assert reg.history_[-1]["score"] == pytest.approx(r2_score(y, reg.predict(X)))


def test_progress_bar_and_sklearn_lines(iris, capsys):
    MLPClassifier(max_iter=3, verbose=True, random_state=0).fit(*iris)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err
    MLPClassifier(max_iter=2, verbose=2, random_state=0).fit(
        *iris, validation_data=iris)
    out = capsys.readouterr().out
    assert "Iteration 2, loss = " in out and "Validation score:" in out


def test_divergence_stops_at_the_first_non_finite_epoch():
    X, y = datasets.make_regression(60, 3, random_state=0)
    epochs = []
    reg = MLPRegressor(solver="sgd", learning_rate_init=1e3, max_iter=50,
                       random_state=0, callbacks=[lambda est, rec: epochs.append(1)])
    with pytest.raises(ValueError, match=r"diverged in epoch (\d+).*learning_rate_init"):
        reg.fit(X * 100, y * 100)
    assert len(epochs) < 5  # not all 50 epochs
    assert not hasattr(reg, "coefs_")  # a first fit leaves it unfitted


@pytest.mark.parametrize("weights, match", [
    (-1.0, "non-negative"), (0.0, "all zeros|non-zero"), (np.nan, "NaN")])
def test_bad_sample_weights_are_refused(iris, weights, match):
    X, y = iris
    sw = np.ones(len(y))
    sw[:1 if weights < 0 else len(y)] = weights
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=1).fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=1).fit(X, y, validation_data=(X, y, sw))


def test_ctrl_c_keeps_the_last_finished_epoch(iris):
    X, y = iris

    def interrupt(est, record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = MLPClassifier(max_iter=10, random_state=0, callbacks=[interrupt])
        clf.fit(X, y)
    assert any("interrupted" in str(w.message) for w in caught)
    assert clf.n_iter_ == 3
    three = MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], three.coefs_[0])


def test_validation_data_is_scored_like_the_training_data(iris):
    # Constant weights (vanishing rate), one full batch: the validation loss
    # on the training data equals the training loss, smoothing and class
    # weights included.
    X, y = iris
    clf = MLPClassifier(label_smoothing=0.2, class_weight={0: 1, 1: 5, 2: 2},
                        learning_rate_init=1e-300, batch_size=len(X), max_iter=2,
                        shuffle=False, random_state=0)
    clf.fit(X, y, validation_data=(X, y))
    np.testing.assert_allclose(clf.validation_loss_curve_, clf.loss_curve_,
                               rtol=1e-10)


def test_later_fits_keep_the_loss_history(iris):
    X, y = iris
    clf = MLPClassifier(max_iter=5, random_state=0)
    clf.fit(X, y, validation_data=(X, y))
    clf.partial_fit(X, y)
    assert len(clf.loss_curve_) == len(clf.history_) == 6
    clf.set_params(warm_start=True, early_stopping=True, max_iter=3)
    clf.fit(X, y, validation_data=(X, y))
    assert len(clf.loss_curve_) == 9 and len(clf.validation_scores_) == 3
    clf.set_params(early_stopping=False)
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 12 and clf.best_validation_score_ is None


def test_warm_start_restarts_the_schedule_with_the_optimizer(iris):
    X, y = iris
    clf = MLPClassifier(solver="sgd", learning_rate=ExponentialDecay(decay_rate=0.5),
                        learning_rate_init=0.1, max_iter=3, warm_start=True,
                        random_state=0)
    clf.fit(X, y).fit(X, y)
    rates = [r["learning_rate"] for r in clf.history_]
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.025] * 2)
    clf.partial_fit(X, y)  # partial_fit continues the schedule
    assert clf.history_[-1]["learning_rate"] == pytest.approx(0.0125)


def test_failed_fit_restores_the_schedule_state(iris):
    X, y = iris
    clf = MLPClassifier(learning_rate=ReduceLROnPlateau(patience=0), max_iter=1,
                        random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    before = clf.training_state_.schedule_state.best
    moments = clf.training_state_.optimizer_state.copy()
    steps = clf.training_state_.steps

    def fail(est, record):
        raise RuntimeError("callback failed")

    clf.set_params(callbacks=[fail])
    with pytest.raises(RuntimeError, match="callback failed"):
        clf.partial_fit(X, y)
    assert clf.training_state_.schedule_state.best == before
    np.testing.assert_array_equal(clf.training_state_.optimizer_state, moments)
    assert clf.training_state_.steps == steps
    assert len(clf.loss_curve_) == 1
    clf.set_params(callbacks=None).partial_fit(X, y)
    assert clf.training_state_.steps == 2 * steps
