"""Kernels against the NumPy reference and against finite differences."""

import math

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from skdeep._device import make_network
from skdeep._kernels.cpu.network import Workspace
from skdeep._kernels.layout import hyperparameter_vector
from skdeep._registry import get_registry
from skdeep._training import regularizer
from tests import reference

ACTIVATIONS = get_registry().names("activation")
OUTPUTS = ["identity", "exp", "logistic", "softmax"]


def _problem(out_activation, dtype, rng, n=13, units=(5, 6, 4, 3)):
    return reference.problem(out_activation, dtype, rng, n, units)


def _resolved(name, n_hidden):
    plugin = get_registry().get("activation", name)
    return [(plugin, dict(plugin.hyperparameters))] * n_hidden


def _loss_grad(net, theta, X, Y, sw, alpha, reg_name="l2", chunk=None):
    plugin = get_registry().get("regularizer", reg_name)
    block, hp = regularizer(net, (plugin, dict(plugin.hyperparameters)))
    ws = Workspace(net.layout, chunk or X.shape[0], net.dtype)
    loss = net.loss_grad(theta, X, Y, sw, block, hp, alpha, ws)
    return loss, ws.grad.copy()


@pytest.mark.parametrize("out_activation", OUTPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_and_gradient_match_numpy_reference(out_activation, dtype, rng):
    units = (5, 6, 4, 3)
    X, Y, sw = _problem(out_activation, dtype, rng)
    acts = _resolved("tanh", len(units) - 2)
    net = make_network("cpu", units, acts, out_activation, dtype)
    theta = rng.uniform(-0.5, 0.5, net.layout.n_params).astype(dtype)
    # chunk=4 makes the kernel accumulate over several chunks
    loss, grad = _loss_grad(net, theta, X, Y, sw, alpha=0.3, chunk=4)
    args = (net.layout, X.astype(float), Y.astype(float), sw.astype(float),
            acts, out_activation)
    tol = 1e-5 if dtype == np.float32 else 1e-10
    ref_loss = reference.loss(theta.astype(float), *args, alpha=0.3)
    ref_grad = reference.gradient(theta.astype(float), *args, alpha=0.3)
    np.testing.assert_allclose(loss, ref_loss, rtol=tol)
    np.testing.assert_allclose(grad, ref_grad, rtol=tol * 10, atol=tol)
    assert grad.dtype == dtype


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("out_activation", OUTPUTS)
def test_gradient_matches_finite_differences(activation, out_activation, rng):
    units = (4, 5, 3, 3)
    X, Y, sw = _problem(out_activation, np.float64, rng, n=7, units=units)
    net = make_network("cpu", units, _resolved(activation, 2), out_activation, np.float64)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)

    def f(t):
        return _loss_grad(net, t.copy(), X, Y, sw, alpha=0.1)[0]

    _, grad = _loss_grad(net, theta.copy(), X, Y, sw, alpha=0.1)
    numeric = approx_fprime(theta, f, 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=2e-4, atol=2e-6)


@pytest.mark.parametrize("reg_name", ["l1", "l1_l2"])
def test_regularizer_gradient_in_kernel(reg_name, rng):
    units = (3, 4, 2)
    X, Y, sw = _problem("identity", np.float64, rng, n=6, units=units)
    net = make_network("cpu", units, _resolved("relu", 1), "identity", np.float64)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)

    def f(t):
        return _loss_grad(net, t.copy(), X, Y, sw, 0.5, reg_name)[0]

    _, grad = _loss_grad(net, theta.copy(), X, Y, sw, 0.5, reg_name)
    np.testing.assert_allclose(grad, approx_fprime(theta, f, 1e-7), rtol=1e-4, atol=1e-6)


def test_kernels_refuse_rows_of_another_width(rng):
    # The kernels copy whole rows into buffers sized by the layout.
    units = (4, 3, 1)
    X, Y, sw = _problem("identity", np.float64, rng, n=6, units=units)
    net = make_network("cpu", units, _resolved("relu", 1), "identity", np.float64)
    theta = np.zeros(net.layout.n_params)
    for X_bad, Y_bad in ((X[:, :3], Y), (X, np.hstack([Y, Y]))):
        with pytest.raises(ValueError, match="maps 4 features to 1 outputs"):
            _loss_grad(net, theta, X_bad, Y_bad, sw, 0.0)

def test_mixed_activations_per_layer(rng):
    units = (4, 5, 3, 2)
    X, Y, sw = _problem("identity", np.float64, rng, n=9, units=units)
    reg = get_registry()
    acts = [(reg.get("activation", "gelu"), {}),
            (reg.get("activation", "leaky_relu"), {"alpha": 0.3})]
    net = make_network("cpu", units, acts, "identity", np.float64)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)
    loss, grad = _loss_grad(net, theta.copy(), X, Y, sw, 0.0)
    args = (net.layout, X, Y, sw, acts, "identity")
    np.testing.assert_allclose(loss, reference.loss(theta, *args))
    np.testing.assert_allclose(grad, reference.gradient(theta, *args), atol=1e-12)


def test_predict_kernel_matches_reference(rng):
    units = (4, 7, 3)
    X, _, _ = _problem("softmax", np.float64, rng, n=2050, units=units)
    acts = _resolved("swish", 1)
    net = make_network("cpu", units, acts, "softmax", np.float64)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)
    out = net.predict(theta, X, chunk=1000)
    _, A = reference.forward(theta, net.layout, X, acts, "softmax")
    np.testing.assert_allclose(out, A[-1], rtol=1e-12)


def test_large_networks_predict_in_large_chunks(rng, monkeypatch):
    # Wide layers go through in 2048-row chunks (multi-threaded BLAS near its
    # peak), small ones in 256-row chunks; the outputs do not depend on it.
    from skdeep._kernels.cpu import network

    units = (400, 300, 3)
    X = rng.normal(size=(2100, units[0]))
    acts = _resolved("relu", 1)
    theta = rng.uniform(-0.1, 0.1, make_network("cpu", units, acts, "softmax",
                                                 np.float64).layout.n_params)
    chunks = []
    kernel = network.compiled_kernel
    monkeypatch.setattr(
        network, "compiled_kernel",
        lambda name, dtype: (lambda *args: chunks.append(args[2]) or kernel(name, dtype)(*args)),
    )
    for width, expected in ((units, 2048), ((400, 20, 3), 256)):
        net = make_network("cpu", width, acts, "softmax", np.float64)
        th = theta[:net.layout.n_params]
        out = net.predict(th, X)
        assert chunks[-1] == expected
        np.testing.assert_allclose(out, net.predict(th, X, chunk=100), rtol=1e-12)


def test_small_network_predict_splits_rows_over_blas_threads(rng, monkeypatch):
    # One share of whole chunks per thread BLAS may use; the outputs are
    # those of a single thread, bit for bit (the same chunks).
    from skdeep._kernels.cpu import network as _network

    units = (6, 9, 3)
    net = make_network("cpu", units, _resolved("tanh", 1), "softmax", np.float64)
    theta = rng.uniform(-0.7, 0.7, net.layout.n_params)
    X = rng.normal(size=(1000, units[0]))
    shares = []
    run_parallel = _network.run_parallel
    monkeypatch.setattr(_network, "run_parallel",
                        lambda task, args: shares.append(args) or run_parallel(task, args))
    monkeypatch.setattr(_network, "blas_thread_count", lambda: 3)
    split = net.predict(theta, X, chunk=100)
    assert shares[-1] == [(0, 300), (300, 700), (700, 1000)]
    assert net.predict(theta, X[:150], chunk=100).shape == (150, 3)
    assert shares[-1] == [(0, 150)]  # fewer rows than two chunks: one share
    monkeypatch.setattr(_network, "blas_thread_count", lambda: 1)
    whole = net.predict(theta, X, chunk=100)
    assert shares[-1] == [(0, 1000)]
    np.testing.assert_array_equal(split, whole)


def test_blas_thread_count_follows_threadpoolctl_limits():
    from threadpoolctl import threadpool_info, threadpool_limits

    from skdeep._kernels.cpu import threads as _network

    net = make_network("cpu", (4, 3, 2), _resolved("relu", 1), "softmax", np.float64)
    net.predict(np.zeros(net.layout.n_params), np.zeros((3, 4)))  # loads BLAS
    assert _network.blas_thread_count() == max(
        pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
    with threadpool_limits(1, user_api="blas"):
        assert _network.blas_thread_count() == 1


def test_run_parallel_finishes_every_task_and_raises_their_error():
    from skdeep._kernels.cpu import threads as _network

    done = []

    def task(i):
        done.append(i)
        if i == 2:
            raise ValueError("share 2 failed")

    with pytest.raises(ValueError, match="share 2 failed"):
        _network.run_parallel(task, [(0,), (1,), (2,)])
    assert sorted(done) == [0, 1, 2]


def test_train_epoch_matches_step_by_step_reference(rng):
    """One compiled epoch equals reference gradients + the update rule."""
    units = (5, 6, 3)
    X, Y, sw = _problem("logistic", np.float64, rng, n=23, units=units)
    acts = _resolved("tanh", 1)
    net = make_network("cpu", units, acts, "logistic", np.float64)
    theta0 = rng.uniform(-0.5, 0.5, net.layout.n_params)
    reg = get_registry()
    opt = reg.get("optimizer", "adam")
    hp = dict(opt.hyperparameters)
    block = net.optimizer_block(opt)
    l2 = reg.get("regularizer", "l2")
    rblock, rhp = regularizer(net, (l2, {}))
    batch = 5
    ws = Workspace(net.layout, batch, np.float64)
    theta = theta0.copy()
    state = np.zeros((2, theta.size))
    order = np.arange(23)
    lrs = np.full(5, 0.01)
    total = net.train_epoch(theta, X, Y, sw, order, batch, False, 0, block, state,
                            hyperparameter_vector(hp), lrs, 0, rblock, rhp, 0.2, ws)

    ref = theta0.copy()
    m = np.zeros_like(ref)
    v = np.zeros_like(ref)
    ref_total = 0.0
    for step, start in enumerate(range(0, 23, batch), start=1):
        sl = slice(start, start + batch)
        args = (net.layout, X[sl], Y[sl], sw[sl], acts, "logistic")
        ref_total += reference.loss(ref, *args, alpha=0.2) * len(X[sl])
        g = reference.gradient(ref, *args, alpha=0.2)
        lr_t = 0.01 * np.sqrt(1 - 0.999**step) / (1 - 0.9**step)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref = ref - lr_t * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(theta, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(total, ref_total, rtol=1e-10)


def test_shuffle_is_seeded_and_a_permutation(rng):
    units = (3, 4, 1)
    X, Y, sw = _problem("identity", np.float64, rng, n=17, units=units)
    net = make_network("cpu", units, _resolved("relu", 1), "identity", np.float64)
    sgd = get_registry().get("optimizer", "sgd")
    block = net.optimizer_block(sgd)
    rblock, rhp = regularizer(net, (get_registry().get("regularizer", "l2"), {}))
    results = []
    for seed in (1, 1, 2):
        theta = np.linspace(-0.5, 0.5, net.layout.n_params)
        order = np.arange(17)
        net.train_epoch(theta, X, Y, sw, order, 4, True, seed, block,
                        np.zeros((1, theta.size)), np.array([0.9, 1.0]),
                        np.full(5, 0.1), 0, rblock, rhp, 0.0,
                        Workspace(net.layout, 4, np.float64))
        assert sorted(order) == list(range(17))
        results.append((order.copy(), theta))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert not np.array_equal(results[0][0], results[2][0])


def _one_sgd_epoch(net, theta, X, Y, sw, ws, **kwargs):
    sgd = get_registry().get("optimizer", "sgd")
    rblock, rhp = regularizer(net, (get_registry().get("regularizer", "l2"), {}))
    return net.train_epoch(theta, X, Y, sw, np.arange(X.shape[0]), X.shape[0], False, 7,
                           net.optimizer_block(sgd),
                           np.zeros((1, theta.size)), np.array([0.0, 0.0]),
                           np.array([0.5]), 0, rblock, rhp, 0.0, ws, **kwargs)


def test_dropout_mask_and_gradient_match_reference(rng):
    units = (4, 50, 40, 2)
    X, Y, sw = _problem("softmax", np.float64, rng, n=30, units=units)
    acts = _resolved("logistic", 2)
    net = make_network("cpu", units, acts, "softmax", np.float64)
    theta0 = rng.uniform(-0.5, 0.5, net.layout.n_params)
    ws = Workspace(net.layout, 30, np.float64)
    ws.enable_dropout()
    rates = np.array([0.3, 0.6])
    theta = theta0.copy()
    _one_sgd_epoch(net, theta, X, Y, sw, ws, dropout=rates)

    masks = [ws.M[ws.a_off[i]:ws.a_off[i] + 30 * w].reshape(30, w).copy()
             for i, w in enumerate(units[1:-1])]
    for mask, rate in zip(masks, rates, strict=True):
        kept = mask != 0
        np.testing.assert_allclose(mask[kept], 1 / (1 - rate))
        assert abs((~kept).mean() - rate) < 0.1

    # reference: the same masks applied in a plain forward/backward pass
    coefs, intercepts = net.layout.unpack(theta0)
    A = [X]
    for i in range(2):
        z = A[-1] @ coefs[i] + intercepts[i]
        A.append(1 / (1 + np.exp(-z)))
    h1 = A[1] * masks[0]
    h2_pre = 1 / (1 + np.exp(-(h1 @ coefs[1] + intercepts[1])))
    h2 = h2_pre * masks[1]
    z3 = h2 @ coefs[2] + intercepts[2]
    p = np.exp(z3 - z3.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d3 = (p - Y) * sw[:, None]
    d2 = (d3 @ coefs[2].T) * h2_pre * (1 - h2_pre) * masks[1]
    d1 = (d2 @ coefs[1].T) * A[1] * (1 - A[1]) * masks[0]
    grads = [X.T @ d1, h1.T @ d2, h2.T @ d3, d1.sum(0), d2.sum(0), d3.sum(0)]
    ref_grad = np.concatenate([g.ravel() for g in grads]) / sw.sum()
    np.testing.assert_allclose(theta, theta0 - 0.5 * ref_grad, rtol=1e-10, atol=1e-12)


def test_mixup_and_noise_change_the_batch_the_kernel_trains_on(rng):
    units = (3, 4, 2)
    X, Y, sw = _problem("identity", np.float64, rng, n=8, units=units)
    net = make_network("cpu", units, _resolved("tanh", 1), "identity", np.float64)
    theta0 = rng.uniform(-0.5, 0.5, net.layout.n_params)
    results = {}
    for name, kwargs in {"plain": {}, "noise": {"noise_std": 0.5},
                         "mixup": {"mixup_alpha": 0.4}}.items():
        ws = Workspace(net.layout, 8, np.float64)
        ws.enable_mixup(3, 2)
        theta = theta0.copy()
        _one_sgd_epoch(net, theta, X, Y, sw, ws, **kwargs)
        results[name] = (theta, ws.Xb.reshape(8, 3).copy(), ws.Yb.reshape(8, 2).copy(),
                         ws.swb.copy())
    np.testing.assert_array_equal(results["plain"][1], X)
    noise = results["noise"][1] - X
    assert 0.2 < noise.std() < 0.9 and abs(noise.mean()) < 0.4
    np.testing.assert_array_equal(results["noise"][2], Y)
    # mixup: every mixed row is lam * row_i + (1 - lam) * row_perm(i), one lam per batch
    mx, my, msw = results["mixup"][1:]
    lam = None
    for i in range(8):
        for j in range(8):
            if j == i:
                continue
            denom = X[i] - X[j]
            cand = (mx[i] - X[j]) / denom
            if np.allclose(cand, cand[0], atol=1e-9) and np.allclose(
                    my[i], cand[0] * Y[i] + (1 - cand[0]) * Y[j]):
                lam = cand[0] if lam is None else lam
                np.testing.assert_allclose(cand[0], lam)
                np.testing.assert_allclose(msw[i], lam * sw[i] + (1 - lam) * sw[j])
                break
        else:
            np.testing.assert_allclose(mx[i], X[i])  # paired with itself
    assert lam is not None and 0 < lam < 1
    for name in ("noise", "mixup"):
        assert not np.allclose(results[name][0], results["plain"][0])


def test_optimizer_state_never_turns_subnormal():
    # Adam's moments of a parameter whose gradient stops decay towards 0;
    # subnormal values are flushed (they are 10-100x slower to compute).
    from skdeep._kernels.cpu.blocks import optimizer_block

    plugin = get_registry().get("optimizer", "adam")
    for dtype in (np.float32, np.float64):
        block = optimizer_block(plugin, dtype)
        tiny = np.finfo(dtype).tiny
        theta = np.ones(3, dtype=dtype)
        state = np.zeros((2, 3), dtype=dtype)
        state[0] = tiny * 4  # one decay step away from subnormal
        grad = np.zeros(3, dtype=dtype)
        block(theta, grad, state, np.array([0.1, 0.999, 1e-8]), 1e-3, 5)
        assert (state[0] == 0).all()
        state[0] = 1.0
        block(theta, grad, state, np.array([0.1, 0.999, 1e-8]), 1e-3, 6)
        np.testing.assert_allclose(state[0], 0.1)  # normal values untouched


def test_small_networks_run_blas_on_one_thread(monkeypatch, rng):
    from skdeep._kernels.cpu import threads as _network

    calls = []

    class FakeBlas:
        num_threads = 2

        def set_num_threads(self, threads):
            calls.append(threads)

    monkeypatch.setattr(_network, "_blas_libraries", [FakeBlas()])
    for units, expected in (((64, 64, 5), [1, 2]),
                            ((1024, 1024, 10), [])):
        calls.clear()
        net = make_network("cpu", units, _resolved("relu", 1), "softmax", np.float32)
        theta = np.zeros(net.layout.n_params, dtype=np.float32)
        net.predict(theta, np.zeros((300, units[0]), dtype=np.float32))
        assert calls == expected


def test_overlapping_blas_limits_restore_the_thread_count():
    from threadpoolctl import threadpool_info

    from skdeep._kernels.cpu import threads as _network

    net = make_network("cpu", (4, 3, 2), _resolved("relu", 1), "softmax", np.float64)
    net.predict(np.zeros(net.layout.n_params), np.zeros((3, 4)))  # loads BLAS
    before = [pool["num_threads"] for pool in threadpool_info()]
    first = _network.blas_threads(net.layout, 4)
    second = _network.blas_threads(net.layout, 4)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # a concurrent fit ends first
    assert all(pool["num_threads"] == 1 for pool in threadpool_info()
               if pool["user_api"] == "blas")
    second.__exit__(None, None, None)
    assert [pool["num_threads"] for pool in threadpool_info()] == before


def test_a_lost_restore_is_made_by_the_next_limit(monkeypatch):
    # OpenBLAS ignores a count set from a thread other than the first to set
    # one: a restore can be lost. The next limit must restore the count from
    # before, not the lowered count it now reads.
    from skdeep._kernels.cpu import threads as _network

    class OwnedBlas:
        num_threads = 2
        ignoring = False

        def set_num_threads(self, threads):
            if not self.ignoring:
                self.num_threads = threads

    blas = OwnedBlas()
    monkeypatch.setattr(_network, "_blas_libraries", [blas])
    monkeypatch.setattr(_network, "_unrestored", None)
    layout = make_network("cpu", (4, 3, 2), _resolved("relu", 1), "softmax",
                          np.float64).layout
    with _network.blas_threads(layout, 4):
        assert blas.num_threads == 1
        blas.ignoring = True  # the restore comes from another thread
    assert blas.num_threads == 1
    blas.ignoring = False  # that thread is gone
    with _network.blas_threads(layout, 4):
        assert blas.num_threads == 1
    assert blas.num_threads == 2


def test_limit_shared_by_threads_is_restored_by_the_main_thread(monkeypatch):
    # Fits side by side on threads keep the count lowered between their
    # fits (another thread could not lower it again); the main thread
    # restores it afterwards.
    import threading

    from skdeep._kernels.cpu import threads as _network

    class Blas:
        num_threads = 2

        def set_num_threads(self, threads):
            self.num_threads = threads

    blas = Blas()
    monkeypatch.setattr(_network, "_blas_libraries", [blas])
    monkeypatch.setattr(_network, "_unrestored", None)
    monkeypatch.setattr(_network, "_sharing_threads", set())
    layout = make_network("cpu", (4, 3, 2), _resolved("relu", 1), "softmax",
                          np.float64).layout
    both_in, first_out = threading.Barrier(2), threading.Barrier(2)
    seen = []

    def fit(leaves_first):
        with _network.blas_threads(layout, 4):
            both_in.wait()
            if not leaves_first:
                first_out.wait()
        if leaves_first:
            first_out.wait()
        seen.append(blas.num_threads)

    workers = [threading.Thread(target=fit, args=(first,)) for first in (True, False)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert blas.num_threads == 1  # still lowered after both fits
    with _network.blas_threads(layout, 4):  # e.g. the refit
        assert blas.num_threads == 1
    assert blas.num_threads == 2
    with _network.blas_threads(layout, 4):  # the main thread alone again
        pass
    assert blas.num_threads == 2 and not _network._sharing_threads


def test_missing_augmentation_buffers_are_refused(rng):
    units = (3, 4, 2)
    X, Y, sw = _problem("identity", np.float64, rng, n=8, units=units)
    net = make_network("cpu", units, _resolved("tanh", 1), "identity", np.float64)
    theta = np.zeros(net.layout.n_params)
    with pytest.raises(ValueError, match="enable_mixup"):
        _one_sgd_epoch(net, theta, X, Y, sw, net.workspace(8), mixup_alpha=0.4)
    with pytest.raises(ValueError, match="enable_dropout"):
        _one_sgd_epoch(net, theta, X, Y, sw, net.workspace(8),
                       dropout=np.array([0.5]))


def _elementwise(function):
    from numba import njit

    @njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = function(x[i])
        return out

    return lambda x: apply(x, np.empty_like(x))


def test_float32_exp_is_accurate_and_flushes_only_outside_the_normal_range():
    from skdeep._kernels.cpu.kernels import vector_exp

    exp = _elementwise(vector_exp)
    # up to the largest float32 exp (just below 88.7228)
    x = np.concatenate([np.linspace(-87.33, 88.72, 400_001, dtype=np.float32),
                        np.float32([-0.0, 1e-30, 88.7228])])
    got = exp(x)
    exact = np.exp(x.astype(np.float64))
    assert np.isfinite(got).all()
    assert np.max(np.abs(got - exact) / exact) < 1.5 * 2.0 ** -24
    edges = np.float32([-87.34, -100.0, -1e30, -np.inf, np.nan, 88.73, 1e30, np.inf])
    np.testing.assert_array_equal(exp(edges), [0.0, 0.0, 0.0, 0.0, np.nan] + [np.inf] * 3)


def test_float32_tanh_is_accurate_and_odd():
    from skdeep._kernels.cpu.kernels import vector_tanh

    tanh = _elementwise(vector_tanh)
    # both sides of the polynomial's range (0.625), tiny to saturated
    x = np.concatenate([np.linspace(-12.0, 12.0, 400_001, dtype=np.float32),
                        np.float32([0.625, np.nextafter(np.float32(0.625), np.float32(1)),
                                    1e-30, 1e-6, 20.0, 1e30])])
    got = tanh(x)
    exact = np.tanh(x.astype(np.float64))
    nonzero = exact != 0
    assert np.max(np.abs(got - exact)[nonzero] / np.abs(exact[nonzero])) < 3 * 2.0 ** -24
    np.testing.assert_array_equal(tanh(-x), -got)
    edges = np.float32([0.0, -0.0, np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(tanh(edges), [0.0, -0.0, 1.0, -1.0, np.nan])
    assert np.signbit(tanh(edges)[1])


def test_float32_expm1_and_erf_are_accurate():
    from skdeep._kernels.cpu.kernels import vector_erf, vector_expm1

    expm1, erf = _elementwise(vector_expm1), _elementwise(vector_erf)
    x = np.concatenate([np.linspace(-20.0, 20.0, 400_001, dtype=np.float32),
                        np.float32([1e-30, -1e-30, 1e-6, -0.999, 0.999, 1.0, -1.0])])
    for function, vector, bound, atol in ((math.expm1, expm1, 3 * 2.0 ** -24, 0.0),
                                          (math.erf, erf, 7.5 * 2.0 ** -24, 4.5e-7)):
        exact = np.array([function(v) for v in x.astype(np.float64)])
        got = vector(x)
        np.testing.assert_allclose(got, exact, rtol=bound, atol=atol)
        np.testing.assert_allclose(got[np.abs(x) < 1e-5], exact[np.abs(x) < 1e-5],
                                   rtol=2 * 2.0 ** -24)  # no cancellation near 0
        assert np.isnan(vector(np.float32([np.nan]))).all()
    np.testing.assert_array_equal(expm1(np.float32([-np.inf, 89.0, np.inf])),
                                  [-1.0, np.inf, np.inf])
    np.testing.assert_array_equal(erf(np.float32([-np.inf, np.inf])), [-1.0, 1.0])
    np.testing.assert_array_equal(erf(-x), -erf(x))


def test_float32_log_and_log1p_are_accurate_over_their_whole_domains():
    from skdeep._kernels.cpu.kernels import vector_log, vector_log1p

    log, log1p = _elementwise(vector_log), _elementwise(vector_log1p)
    # every 97th positive float32: subnormals, both sides of the mantissa
    # switch at sqrt(0.5), up to the largest
    every = np.arange(1, 2**31 - 2**23, 97, dtype=np.int64).astype(np.uint32).view(np.float32)
    np.testing.assert_allclose(log(every), np.log(every.astype(np.float64)),
                               rtol=1.5 * 2.0 ** -24, atol=0)
    # log1p: also tiny arguments (where 1 + x rounds to 1) and down to -1
    x = np.concatenate([every, -every[every < 1]])
    np.testing.assert_allclose(log1p(x), np.log1p(x.astype(np.float64)),
                               rtol=2.5 * 2.0 ** -24, atol=0)
    edges = np.float32([-1.0, -1.5, -np.inf, np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30])
    np.testing.assert_array_equal(log1p(edges), np.float32(
        [-np.inf, np.nan, np.nan, np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30]))
    assert np.signbit(log1p(np.float32([-0.0])))[0]
    np.testing.assert_array_equal(
        log(np.float32([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1.0])),
        np.float32([-np.inf, -np.inf, np.nan, np.nan, np.inf, np.nan, 0.0]))


def _log_softplus(x):
    # a plugin written with math.log rather than log1p
    return math.log(1.0 + math.exp(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["mish", "softplus"])
def test_mish_and_softplus_match_their_textbook_definitions(name, dtype):
    # mish is computed with one exp (tanh(softplus(x)) = n / (n + 2), n =
    # e**x (e**x + 2)) and, in float32, with the vector exp and log1p.
    from numba import njit

    from skdeep._kernels.cpu.compile import scalar_jit

    x = np.concatenate([np.linspace(-40.0, 40.0, 20_001),
                        [-1e-30, 0.0, 19.999, 20.0, 20.001, 1e4]]).astype(dtype)
    x64 = x.astype(np.float64)
    softplus = np.logaddexp(0.0, x64)
    sigmoid = np.exp(-np.logaddexp(0.0, -x64))
    if name == "mish":
        t = np.tanh(softplus)
        with np.errstate(over="ignore"):
            sech2 = 1.0 / np.cosh(softplus) ** 2
        value, slope = x64 * t, t + x64 * sech2 * sigmoid
    else:
        value, slope = softplus, sigmoid
    plugin = get_registry().get("activation", name)
    f, df = scalar_jit(plugin.value, dtype), scalar_jit(plugin.derivative, dtype)

    @njit
    def apply(x, out, out_slope):
        for i in range(x.shape[0]):
            out[i] = f(x[i])
            out_slope[i] = df(x[i], out[i])

    got, got_slope = np.empty_like(x), np.empty_like(x)
    apply(x, got, got_slope)
    ulp = np.finfo(dtype).eps / 2
    np.testing.assert_allclose(got, value, rtol=6 * ulp, atol=1e-30)
    np.testing.assert_allclose(got_slope, slope, rtol=6 * ulp, atol=4 * ulp)


@pytest.mark.parametrize("name", ["tanh", "logistic", "swish", "gelu", "elu", "mish",
                                  "softplus", "log_softplus"])
def test_plugin_math_vectorizes(name):
    # A plugin's math.exp/expm1/tanh/erf/log/log1p compile to skdeep's
    # polynomial versions, in float32 and float64: no C-library call is
    # left, and the loop over a layer runs on SIMD vectors.
    import re

    from numba import njit

    from skdeep._kernels.cpu.compile import scalar_jit

    if name == "log_softplus":
        value, hp = _log_softplus, ()
    else:
        plugin = get_registry().get("activation", name)
        value, hp = plugin.value, tuple(plugin.hyperparameters.values())

    def compiled_loop(dtype):
        f = scalar_jit(value, dtype)

        if hp:  # swish, elu: one hyperparameter
            @njit(error_model="numpy")
            def apply(x, out, beta):
                for i in range(x.shape[0]):
                    out[i] = f(x[i], beta)
        else:
            @njit(error_model="numpy")
            def apply(x, out, beta):
                for i in range(x.shape[0]):
                    out[i] = f(x[i])

        x = np.linspace(-3, 3, 8).astype(dtype)
        apply(x, np.empty_like(x), dtype(hp[0] if hp else 0))
        return next(iter(apply.inspect_llvm().values()))

    # C-library function or LLVM intrinsic (llvm.exp.f64, tanhf, ...)
    math_call = r"call [^(]*@[\w.]*(exp|tanh|erf|log)"
    for dtype, vector in ((np.float32, r"<\d+ x float>"), (np.float64, r"<\d+ x double>")):
        loop = compiled_loop(dtype)
        assert not re.search(math_call, loop)
        assert re.search(vector, loop)


@pytest.mark.parametrize("out_activation", ["softmax", "logistic"])
def test_float32_outputs_match_reference_over_a_wide_logit_range(out_activation,
                                                                   rng):
    # Logits of +-100 and more: saturated probabilities, exp below the
    # float32 normal range, both branches of the logistic.
    units = (4, 7, 3)
    X, _, _ = _problem(out_activation, np.float32, rng, n=300, units=units)
    acts = _resolved("relu", 1)
    net = make_network("cpu", units, acts, out_activation, np.float32)
    theta = rng.uniform(-12.0, 12.0, net.layout.n_params).astype(np.float32)
    probabilities = net.predict(theta, X)
    # The reference applies the output activation to the kernel's own
    # float32 logits (the identity network's outputs), in float64.
    logits = make_network("cpu", units, acts, "identity", np.float32).predict(theta, X)
    assert np.ptp(logits) > 200
    logits = logits.astype(np.float64)
    if out_activation == "softmax":
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
    else:
        expected = 1.0 / (1.0 + np.exp(-logits))
    assert probabilities.dtype == np.float32
    # Below float32's normal range (1.2e-38) probabilities flush to 0; the
    # float32 subtraction of the largest logit costs up to |logit| * 2**-24.
    np.testing.assert_allclose(probabilities, expected, rtol=2e-5, atol=1.2e-38)
    assert (probabilities == 0).any() and (probabilities == 1).any()


@pytest.mark.parametrize("out_activation", ["softmax", "logistic"])
def test_float64_outputs_match_reference_over_a_wide_logit_range(out_activation,
                                                                   rng):
    # The float64 outputs use the vector exp too: saturated probabilities
    # and ones far into the subnormal range keep double precision.
    units = (4, 7, 3)
    X, _, _ = _problem(out_activation, np.float64, rng, n=300, units=units)
    acts = _resolved("relu", 1)
    theta = rng.uniform(-40.0, 40.0,
                        make_network("cpu", units, acts, "identity", np.float64)
                        .layout.n_params)
    probabilities = make_network("cpu", units, acts, out_activation, np.float64).predict(theta, X)
    logits = make_network("cpu", units, acts, "identity", np.float64).predict(theta, X)
    assert np.ptp(logits) > 1000
    if out_activation == "softmax":
        expected = np.exp(logits - logits.max(axis=1, keepdims=True))
        expected /= expected.sum(axis=1, keepdims=True)
    else:  # 1 / (1 + exp(-z)) would be 0 below z = -709, not subnormal
        expected = np.exp(-np.logaddexp(0.0, -logits))
    # the subtraction of the largest logit costs up to |logit| * 2**-53
    tiny = (expected > 0) & (expected < 1e-300)
    assert tiny.any()
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12, atol=1e-320)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["l2", "l1_l2"])
def test_regularizer_block_sums_every_weight(name, dtype, rng):
    # The penalty is summed in eight interleaved running sums plus a tail:
    # lengths around multiples of eight reach every part.
    from skdeep._kernels.cpu.blocks import regularizer_block

    plugin = get_registry().get("regularizer", name)
    hp = tuple(plugin.hyperparameters.values())
    block = regularizer_block(plugin, dtype)
    for n in (0, 1, 7, 8, 9, 16, 23, 1000):
        w = rng.uniform(-2, 2, n).astype(dtype)
        gw = np.full(n, 0.5, dtype=dtype)
        total = block(w, gw, np.array(list(hp) or [0.0]), 0.3)
        w64 = w.astype(np.float64)
        penalty = sum(plugin.penalty(v, *hp) for v in w64)
        gradient = [plugin.gradient(v, *hp) for v in w64]
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(total, 0.3 * penalty, rtol=8 * eps, atol=1e-300)
        np.testing.assert_allclose(gw, 0.5 + 0.3 * np.array(gradient), rtol=0,
                                   atol=2 * eps)

_ALLOCATIONS = """
import numpy as np
from numba.core.runtime import rtsys
from skdeep import MLPClassifier

rng = np.random.default_rng(0)
X = rng.standard_normal((240, 5))
y = rng.integers(0, 3, 240)
# One layer of each normalization: both backward paths run per batch.
params = dict(hidden_layer_sizes=(8, 6), batch_norm=[True, False],
              layer_norm=[False, True], dropout=0.2,
              mixup_alpha=0.3, input_noise=0.1, clip_norm=1.0, max_iter=1,
              shuffle=True, random_state=0)
MLPClassifier(batch_size=240, **params).fit(X, y)  # compiles or loads
counts = []
for batch_size in (120, 8):  # 2 and 30 batches
    before = rtsys.get_allocation_stats().alloc
    MLPClassifier(batch_size=batch_size, **params).fit(X, y)
    counts.append(rtsys.get_allocation_stats().alloc - before)
print(*counts)
"""


def test_training_allocates_nothing_per_batch():
    # Work buffers come from the workspace, allocated once per fit: the
    # compiled code's allocations must not grow with the number of batches.
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_NRT_STATS="1")
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", _ALLOCATIONS],
                          capture_output=True, text=True, env=env, check=True)
    few, many = map(int, proc.stdout.split())
    assert few == many
