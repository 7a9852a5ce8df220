"""Layer normalization: gradients against finite differences, the forward
pass against NumPy, independence from the minibatch, and the estimator
features it must combine with (solvers, pickling, transfer, freezing,
warm starts)."""

import pickle

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn import datasets

from skdeep import MLPClassifier, MLPRegressor
from skdeep._device import make_network
from skdeep._kernels.cpu.network import Workspace
from skdeep._registry import get_registry
from skdeep._spec import resolve
from skdeep._training import regularizer


@pytest.fixture(scope="module")
def iris():
    X, y = datasets.load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def _acts(names):
    return [resolve("activation", name) for name in names]


def _loss_grad(net, theta, X, Y, sw, running=None, train=False, alpha=0.1):
    plugin = get_registry().get("regularizer", "l2")
    block, hp = regularizer(net, (plugin, {}))
    # chunks of 4 rows: the gradient accumulates over several passes
    ws = Workspace(net.layout, 4, net.dtype)
    value = net.loss_grad(theta, X, Y, sw, block, hp, alpha, ws, running, train)
    return value, ws.grad.copy()


def _layer_norm(z, scale, shift, eps):
    mean = z.mean(1, keepdims=True)
    var = ((z - mean) ** 2).mean(1, keepdims=True)
    return (z - mean) / np.sqrt(var + eps) * scale + shift


@pytest.mark.parametrize("out_activation", ["softmax", "identity"])
# Mixed layers: intercepts of layers without a normalization are added and
# differentiated inside the activation blocks, the others around it.
@pytest.mark.parametrize("layer_norm, batch_norm", [
    ([True, True], None), ([True, False], None), ([False, True], None),
    ([True, False], [False, True]), ([False, True], [True, False]),
])
def test_layer_norm_gradient_matches_finite_differences(out_activation,
                                                         layer_norm, batch_norm,
                                                         rng):
    units = (4, 5, 3, 3)
    X = rng.normal(size=(9, 4))
    Y = (np.eye(3)[rng.randint(3, size=9)] if out_activation == "softmax"
         else rng.normal(size=(9, 3)))
    sw = rng.uniform(0.5, 2.0, 9)
    net = make_network("cpu", units, _acts(["tanh", "prelu"]), out_activation,
                       np.float64, batch_norm=batch_norm, layer_norm=layer_norm,
                       layer_norm_epsilon=1e-3)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)
    running = net.new_running_stats()
    running[:] = rng.uniform(0.5, 1.5, running.size)

    def f(t):
        return _loss_grad(net, t.copy(), X, Y, sw, running.copy(), True)[0]

    _, grad = _loss_grad(net, theta.copy(), X, Y, sw, running.copy(), True)
    numeric = approx_fprime(theta, f, 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=2e-4, atol=2e-6)
    extras = net.layout.unpack_extras(grad)
    assert all(np.abs(g).sum() > 0 for g in extras["ln_scale"] + extras["ln_shift"]
               if g is not None)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_layer_norm_forward_matches_numpy(dtype, rtol, rng):
    units = (4, 6, 5, 2)
    eps = 0.01
    net = make_network("cpu", units, _acts(["relu", "tanh"]), "identity", dtype,
                       layer_norm=[True, True], layer_norm_epsilon=eps)
    theta = rng.uniform(-1, 1, net.layout.n_params).astype(dtype)
    X = rng.normal(size=(300, 4)).astype(dtype)  # more than one chunk
    coefs, intercepts = net.layout.unpack(theta.astype(np.float64))
    extras = net.layout.unpack_extras(theta.astype(np.float64))
    scales, shifts = extras["ln_scale"], extras["ln_shift"]
    h = X.astype(np.float64)
    for i, f in enumerate((lambda z: np.maximum(z, 0), np.tanh)):
        h = f(_layer_norm(h @ coefs[i] + intercepts[i], scales[i], shifts[i], eps))
    expected = h @ coefs[2] + intercepts[2]
    np.testing.assert_allclose(net.predict(theta, X), expected, rtol=rtol,
                               atol=rtol)


def test_layer_norm_is_the_same_in_training_and_prediction(rng):
    # The loss of the training pass (train=True) equals the prediction
    # pass's: nothing depends on the batch or on running statistics.
    net = make_network("cpu", (3, 4, 2), _acts(["relu"]), "softmax", np.float64,
                       layer_norm=[True])
    theta = rng.uniform(-1, 1, net.layout.n_params)
    X = rng.normal(size=(10, 3))
    Y = np.eye(2)[rng.randint(2, size=10)]
    sw = np.ones(10)
    trained, g_train = _loss_grad(net, theta, X, Y, sw, train=True)
    inferred, g_infer = _loss_grad(net, theta, X, Y, sw, train=False)
    assert trained == pytest.approx(inferred, rel=1e-14)
    np.testing.assert_allclose(g_train, g_infer, rtol=1e-12, atol=1e-15)


def test_layer_norm_trains_with_any_batch_size_and_solver(iris):
    X, y = iris
    X = X * 5 + 3  # badly scaled inputs
    params = dict(hidden_layer_sizes=(16, 8), random_state=0)
    # batch_size=149 leaves a last batch of one row (batch norm refuses it)
    for extra, least in (({"batch_size": 1, "max_iter": 10}, 0.8),
                         ({"solver": "lbfgs", "max_iter": 60}, 0.9),
                         ({"batch_size": 149, "max_iter": 20}, 0.3)):
        ln = MLPClassifier(layer_norm=True, **params, **extra).fit(X, y)
        plain = MLPClassifier(**params, **extra).fit(X, y)
        assert not np.allclose(ln.coefs_[0], plain.coefs_[0])
        assert not np.allclose(ln.ln_scales_[0], 1.0)
        assert not np.allclose(ln.ln_shifts_[1], 0.0)
        assert ln.bn_scales_ == [None, None]
        assert ln.score(X, y) > least
    # each row is normalized on its own: one row predicts as in a batch
    np.testing.assert_allclose(ln.predict_proba(X[:1]), ln.predict_proba(X)[:1],
                               rtol=1e-12)


def test_layer_norm_partial_fit_on_single_rows(iris):
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(6,), layer_norm=True, random_state=0)
    clf.partial_fit(X[:1], y[:1], classes=np.unique(y))
    before = clf.ln_scales_[0].copy()
    for i in range(1, 5):
        clf.partial_fit(X[i:i + 1], y[i:i + 1])
    assert not np.array_equal(clf.ln_scales_[0], before)
    assert np.isfinite(clf.predict_proba(X)).all()


def test_layer_norm_regressor_float32_and_pickle():
    X, y = datasets.make_regression(120, 5, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(12,), layer_norm=True,
                       layer_norm_epsilon=1e-3, batch_size=16, max_iter=100,
                       random_state=0)
    reg.fit(X.astype(np.float32), y.astype(np.float32))
    assert reg.ln_scales_[0].dtype == np.float32
    assert reg.score(X, y) > 0.5
    restored = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))
    # the epsilon is part of the function
    other = pickle.loads(pickle.dumps(reg)).set_params(layer_norm_epsilon=10.0)
    assert not np.allclose(other.predict(X), reg.predict(X))


def test_layer_norm_transfer_and_frozen_layers(iris):
    X, y = iris
    donor = MLPClassifier(hidden_layer_sizes=(10, 6), layer_norm=True,
                          max_iter=20, random_state=0).fit(X, y)
    for solver in ("adamw", "sgd"):
        student = MLPClassifier(hidden_layer_sizes=(10, 6), layer_norm=True,
                                solver=solver, transfer_from=donor,
                                frozen_layers=[0], max_iter=20, random_state=1)
        student.fit(X, y)
        np.testing.assert_array_equal(student.coefs_[0], donor.coefs_[0])
        np.testing.assert_array_equal(student.ln_scales_[0], donor.ln_scales_[0])
        np.testing.assert_array_equal(student.ln_shifts_[0], donor.ln_shifts_[0])
        assert not np.allclose(student.ln_scales_[1], donor.ln_scales_[1])
    # transfer without freezing starts from the donor's scale and shift
    student = MLPClassifier(hidden_layer_sizes=(10, 3), layer_norm=True,
                            transfer_from=donor, transfer_layers=1,
                            learning_rate_init=1e-300, max_iter=1,
                            random_state=0).fit(X, y)
    np.testing.assert_array_equal(student.ln_scales_[0], donor.ln_scales_[0])
    np.testing.assert_array_equal(student.ln_scales_[1], np.ones(3))


def test_layer_norm_errors(iris):
    X, y = iris
    with pytest.raises(ValueError, match="both batch_norm and layer_norm"):
        MLPClassifier(hidden_layer_sizes=(4,), batch_norm=True,
                      layer_norm=True).fit(X, y)
    with pytest.raises(ValueError, match="layer_norm has 1 entries"):
        MLPClassifier(hidden_layer_sizes=(4, 3), layer_norm=[True]).fit(X, y)
    with pytest.raises(ValueError, match="layer_norm_epsilon"):
        MLPClassifier(layer_norm_epsilon=0.0).fit(X, y)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True,
                        random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="layer_norm"):
        clf.set_params(layer_norm=True).fit(X, y)


def test_models_without_layer_norm_attributes_still_predict(iris):
    # a model pickled before layer normalization existed has no ln_*_
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    expected = clf.predict_proba(X)
    del clf.ln_scales_, clf.ln_shifts_
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
