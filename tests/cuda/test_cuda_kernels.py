"""The CUDA kernels against the CPU kernels, on tiny shapes.

Under the simulator every CUDA thread is a Python thread, so the networks
here are tiny (5 samples, layers (3, 4, 3, 2), batches of 2); the simulator
launch configuration (2x2 tiles, blocks of 4 threads, 2 blocks) still makes
every product span several partial tiles and every reduction several
blocks.

Tolerances: float64 results agree with the CPU's to ~1e-12 (the products
sum in another order than BLAS); the tests use rtol 1e-9. float32 results
use rtol 1e-4 (a few float32 ulps, amplified by an epoch of updates).
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

# The simulator's random generators run numba-cuda's uint64 arithmetic on
# NumPy scalars (overflow warnings) and set up in object mode.
pytestmark = [
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaDeprecationWarning"),
]

from skdeep._device import cuda_status, make_network  # noqa: E402
from skdeep._kernels.cpu import blocks as cpu_blocks  # noqa: E402
from skdeep._kernels.cpu.network import Workspace  # noqa: E402
from skdeep._kernels.cuda.kernels import MODE_NN, MODE_NT, MODE_TN, core_kernels  # noqa: E402
from skdeep._kernels.cuda.network import CudaWorkspace  # noqa: E402
from skdeep._kernels.layout import hyperparameter_vector  # noqa: E402
from skdeep._registry import get_registry  # noqa: E402
from skdeep.plugin_types import LossPlugin  # noqa: E402
from tests import reference  # noqa: E402

UNITS = (3, 4, 3, 2)
N = 5
OUTPUTS = ["identity", "exp", "logistic", "softmax"]
DTYPES = [np.float64, np.float32]


def _tol(dtype):
    return ({"rtol": 1e-9, "atol": 1e-12} if dtype == np.float64
            else {"rtol": 1e-4, "atol": 1e-5})


def _problem(out_activation, dtype, rng, n=N, units=UNITS):
    return reference.problem(out_activation, dtype, rng, n, units)


def _plugin(kind, name):
    return get_registry().get(kind, name)


def _acts(*names):
    return [(_plugin("activation", name), dict(_plugin("activation", name)
                                               .hyperparameters))
            for name in names]


def _pair(out_activation, dtype, acts=("tanh", "prelu"), batch_norm=(True, False),
          units=UNITS, loss=None, layer_norm=None):
    args = (units, _acts(*acts), out_activation, dtype)
    kwargs = {"loss": loss, "batch_norm": list(batch_norm),
              "layer_norm": None if layer_norm is None else list(layer_norm),
              "layer_norm_epsilon": 1e-3}
    return make_network("cpu", *args, **kwargs), make_network("cuda", *args, **kwargs)


def _theta(net, rng, dtype, scale=0.6):
    theta = rng.uniform(-scale, scale, net.layout.n_params).astype(dtype)
    # batch- and layer-norm scales around 1
    for offsets in (net.layout.gamma_off, net.layout.ln_gamma_off):
        for i, start in enumerate(offsets):
            if start >= 0:
                theta[start:start + net.layout.shapes[i][1]] += 1.0
    return theta


def _running(net, rng):
    running = net.new_running_stats()
    running += rng.uniform(0.0, 0.5, running.shape).astype(running.dtype)
    return running


def test_cuda_is_available():
    assert cuda_status()[0]


def test_importing_skdeep_does_not_import_numba_cuda():
    code = ("import sys, skdeep, skdeep._mlp, skdeep._kernels.cuda.kernels, skdeep._kernels.cuda.network, "
            "skdeep._kernels.cuda.blocks, skdeep._kernels.cuda.ptx\n"
            "assert not [m for m in sys.modules if m.startswith('numba.cuda')]")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Core kernels
# ---------------------------------------------------------------------------


def _flat_with_offset(array, pad, dtype):
    """Device copy of ``array`` raveled after ``pad`` junk values."""
    from numba import cuda

    host = np.concatenate([np.full(pad, 7.0), np.ravel(array)]).astype(dtype)
    return cuda.to_device(host)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_modes_and_fused_epilogue(dtype, rng):
    k = core_kernels(dtype)
    tile = k.config.tile
    M, N_, K = 5, 3, 4
    A = rng.normal(size=(M, K))
    B = rng.normal(size=(K, N_))
    bias = rng.normal(size=N_)
    mask = rng.uniform(size=(M, N_))
    C0 = rng.normal(size=(M, N_))
    tol = {"rtol": 1e-12 if dtype == np.float64 else 1e-5, "atol": 1e-6}
    grid = (math.ceil(N_ / tile), math.ceil(M / tile))

    def run(mode, a, b, accumulate, bias_off, mask_off, cs_off):
        Ad = _flat_with_offset(a, 2, dtype)
        Bd = _flat_with_offset(b, 3, dtype)
        Cd = _flat_with_offset(C0, 1, dtype)
        biasd = _flat_with_offset(bias, 4, dtype)
        maskd = _flat_with_offset(mask, 5, dtype)
        csd = _flat_with_offset(np.ones(N_), 1, dtype)
        k.matmul[grid, (tile, tile)](Ad, 2, Bd, 3, Cd, 1, M, N_, K, mode,
                                     accumulate, biasd, bias_off, maskd,
                                     mask_off, csd, cs_off)
        C = Cd.copy_to_host()
        assert C[0] == 7.0  # nothing written before the offset
        return C[1:].reshape(M, N_), csd.copy_to_host()[1:]

    C, cs = run(MODE_NN, A, B, False, 4, -1, -1)
    np.testing.assert_allclose(C, A @ B + bias, **tol)
    np.testing.assert_array_equal(cs, 1.0)
    C, cs = run(MODE_TN, A.T, B, False, -1, -1, 1)  # A stored transposed
    np.testing.assert_allclose(C, A @ B, **tol)
    np.testing.assert_allclose(cs, B.sum(axis=0), **tol)
    C, cs = run(MODE_TN, A.T, B, True, -1, -1, 1)
    np.testing.assert_allclose(C, C0 + A @ B, **tol)
    np.testing.assert_allclose(cs, 1.0 + B.sum(axis=0), **tol)
    C, _ = run(MODE_NT, A, B.T, False, -1, 5, -1)  # B stored transposed
    np.testing.assert_allclose(C, (A @ B) * mask, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_noise_kernels(dtype):
    from numba import cuda

    k = core_kernels(dtype)
    cfg = k.config
    layout = make_network("cuda", UNITS, _acts("tanh", "tanh"), "identity", dtype).layout
    ws = CudaWorkspace(layout, 2, dtype)
    n, rate = 3000, 0.3
    A = cuda.to_device(np.full(n + 1, 2.0, dtype=dtype))
    masks = []
    for seed in (5, 5, 6):
        M = cuda.to_device(np.zeros(n + 1, dtype=dtype))
        out = cuda.to_device(np.zeros(n + 1, dtype=dtype))
        k.dropout[cfg.rng_blocks, cfg.block](A, M, out, 1, n, rate,
                                             ws.random_states(seed))
        mask = M.copy_to_host()
        assert mask[0] == 0.0 and out.copy_to_host()[0] == 0.0
        mask = mask[1:]
        np.testing.assert_allclose(out.copy_to_host()[1:], 2.0 * mask)
        kept = mask != 0
        np.testing.assert_allclose(mask[kept], 1.0 / (1.0 - rate), rtol=1e-6)
        assert abs((~kept).mean() - rate) < 0.04
        masks.append(mask)
    np.testing.assert_array_equal(masks[0], masks[1])  # seeded
    assert not np.array_equal(masks[0], masks[2])

    x = cuda.to_device(np.zeros(n, dtype=dtype))
    k.add_noise[cfg.rng_blocks, cfg.block](x, n, 0.5, ws.random_states(1))
    noise = x.copy_to_host()
    assert abs(noise.mean()) < 0.05 and abs(noise.std() - 0.5) < 0.05


# ---------------------------------------------------------------------------
# predict and loss_grad against the CPU network
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("out_activation", OUTPUTS)
def test_predict_matches_cpu(out_activation, rng):
    dtype = np.float64
    cpu, gpu = _pair(out_activation, dtype, acts=("relu", "prelu"))
    X, _, _ = _problem(out_activation, dtype, rng)
    theta = _theta(cpu, rng, dtype)
    running = _running(cpu, rng)
    expected = cpu.predict(theta, X, running)
    # chunks of 2 rows exercise the chunk offsets into X and the output
    out = gpu.predict(theta, X, running, chunk=2)
    assert isinstance(out, np.ndarray) and out.dtype == dtype
    np.testing.assert_allclose(out, expected, **_tol(dtype))


def test_predict_float32_and_device_arrays(rng):
    from numba import cuda

    dtype = np.float32
    cpu, gpu = _pair("softmax", dtype, acts=("gelu", "elu"))
    X, _, _ = _problem("softmax", dtype, rng)
    theta = _theta(cpu, rng, dtype)
    running = _running(cpu, rng)
    out = gpu.predict(cuda.to_device(theta), cuda.to_device(X),
                      cuda.to_device(running))
    assert not isinstance(out, np.ndarray)  # a device array in, one out
    np.testing.assert_allclose(out.copy_to_host(), cpu.predict(theta, X, running),
                               **_tol(dtype))


def _loss_grads(cpu, gpu, theta, X, Y, sw, alpha, running, train, chunk=3,
                reg_name="l2"):
    plugin = _plugin("regularizer", reg_name)
    hp = hyperparameter_vector(dict(plugin.hyperparameters))
    ws = Workspace(cpu.layout, chunk, cpu.dtype)
    r_cpu = running.copy()
    loss = cpu.loss_grad(theta, X, Y, sw, cpu_blocks.regularizer_block(plugin, cpu.dtype),
                         hp, alpha, ws, r_cpu, train)
    gws = gpu.workspace(chunk)
    r_gpu = running.copy()
    gpu_loss = gpu.loss_grad(theta, X, Y, sw, gpu.regularizer_block(plugin), hp,
                             alpha, gws, r_gpu, train)
    return (loss, ws.grad.copy(), r_cpu), (gpu_loss, gws.grad.copy(), r_gpu)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("out_activation", OUTPUTS)
def test_loss_grad_matches_cpu(out_activation, dtype, rng):
    """Chunks of 3 rows: the second chunk accumulates into the gradient."""
    cpu, gpu = _pair(out_activation, dtype)
    X, Y, sw = _problem(out_activation, dtype, rng)
    theta = _theta(cpu, rng, dtype)
    running = _running(cpu, rng)
    train = out_activation in ("logistic", "identity")  # batch statistics too
    (loss, grad, r_cpu), (gpu_loss, gpu_grad, r_gpu) = _loss_grads(
        cpu, gpu, theta, X, Y, sw, 0.3, running, train)
    tol = _tol(dtype)
    np.testing.assert_allclose(gpu_loss, loss, **tol)
    np.testing.assert_allclose(gpu_grad, grad, **tol)
    np.testing.assert_allclose(r_gpu, r_cpu, **tol)
    assert gpu_grad.dtype == dtype
    # the batch-norm parameters and learnable prelu slopes get gradients
    for offsets in (cpu.layout.gamma_off, cpu.layout.beta_off,
                    cpu.layout.param_off):
        start = offsets[offsets >= 0][0]
        assert np.any(gpu_grad[start:start + 3] != 0)


@pytest.mark.parametrize("reg_name", ["l1", "l1_l2"])
def test_loss_grad_regularizers_and_mixed_activations(reg_name, rng):
    dtype = np.float64
    cpu, gpu = _pair("identity", dtype, acts=("swish", "leaky_relu"),
                     batch_norm=(False, True))
    X, Y, sw = _problem("identity", dtype, rng)
    theta = _theta(cpu, rng, dtype)
    (loss, grad, _), (gpu_loss, gpu_grad, _) = _loss_grads(
        cpu, gpu, theta, X, Y, sw, 0.5, _running(cpu, rng), False, chunk=5,
        reg_name=reg_name)
    np.testing.assert_allclose(gpu_loss, loss, **_tol(dtype))
    np.testing.assert_allclose(gpu_grad, grad, **_tol(dtype))


@pytest.mark.parametrize("out_activation", ["softmax", "logistic"])
def test_chain_rule_loss_without_link_gradient(out_activation, rng):
    """A cross-entropy without ``link_gradient`` goes through the chain rule
    through softmax/logistic outputs, and equals the CPU's (and log_loss)."""
    dtype = np.float64
    log_loss = _plugin("loss", "log_loss")
    chain = LossPlugin("xent_chain", log_loss.loss, log_loss.gradient,
                       "classification", average_outputs=False)
    huber = _plugin("loss", "huber")
    for loss in ((chain, {}), (huber, {"delta": 0.3})):
        cpu, gpu = _pair(out_activation, dtype, acts=("tanh", "tanh"),
                         batch_norm=(False, False), loss=loss)
        X, Y, sw = _problem(out_activation, dtype, rng)
        theta = _theta(cpu, rng, dtype)
        (value, grad, _), (gpu_value, gpu_grad, _) = _loss_grads(
            cpu, gpu, theta, X, Y, sw, 0.0, cpu.new_running_stats(), False)
        np.testing.assert_allclose(gpu_value, value, **_tol(dtype))
        np.testing.assert_allclose(gpu_grad, grad, **_tol(dtype))


# ---------------------------------------------------------------------------
# Training epochs against the CPU network
# ---------------------------------------------------------------------------


def _epochs(cpu, gpu, theta0, X, Y, sw, optimizer, batch, *, shuffle=False,
            seed=3, alpha=0.1, lr=0.05, hp=None, running=None, **kwargs):
    """One epoch on each network from the same start; results per network."""
    plugin = _plugin("optimizer", optimizer)
    hp = hyperparameter_vector(dict(plugin.hyperparameters) if hp is None else hp)
    l2 = _plugin("regularizer", "l2")
    n = X.shape[0]
    lrs = np.full(-(-n // batch), lr)
    capacity = batch + bool(kwargs.get("merge_single"))
    results = []
    for net in (cpu, gpu):
        theta = theta0.copy()
        state = np.zeros((max(plugin.n_state, 1), theta.size), dtype=theta.dtype)
        run = cpu.new_running_stats() if running is None else running.copy()
        order = np.arange(n, dtype=np.int64)
        if net is cpu:
            ws = Workspace(cpu.layout, capacity, cpu.dtype)
            opt = cpu_blocks.optimizer_block(plugin, cpu.dtype)
            reg = cpu_blocks.regularizer_block(l2, cpu.dtype)
            if kwargs.get("dropout") is not None:
                ws.enable_dropout()
            if kwargs.get("mixup_alpha"):  # unchecked writes otherwise
                ws.enable_mixup(X.shape[1], Y.shape[1])
        else:
            ws = gpu.workspace(capacity)
            opt, reg = gpu.optimizer_block(plugin), gpu.regularizer_block(l2)
        total = net.train_epoch(theta, X, Y, sw, order, batch, shuffle, seed, opt,
                                state, hp, lrs, 4, reg, np.zeros(1), alpha, ws,
                                running=run, **kwargs)
        results.append({"theta": theta, "state": state, "running": run,
                        "total": total, "totals": ws.totals.copy(),
                        "order": order, "ws": ws})
    return results


def _assert_same(cpu_result, gpu_result, dtype, layout=None):
    """Equal results; ``layout`` marks the intercepts that feed batch norm.

    Those intercepts have a zero gradient up to rounding (the normalization
    removes them), and Adam-like steps ``m / sqrt(v)`` turn rounding noise
    into full-size steps of either sign: they are only checked to stay
    within the steps' reach.
    """
    tol = _tol(dtype)
    noisy = {"theta": np.zeros(cpu_result["theta"].shape, dtype=bool),
             "running": np.zeros(cpu_result["running"].shape, dtype=bool)}
    noisy["state"] = noisy["theta"]
    if layout is not None:
        for i, start in enumerate(layout.gamma_off):
            if start >= 0:
                width = layout.shapes[i][1]
                noisy["theta"][layout.b_off[i]:layout.b_off[i] + width] = True
                # the running mean follows the intercept
                noisy["running"][layout.v_off[i]:layout.v_off[i] + width] = True
    for key, mask in noisy.items():
        got, want = gpu_result[key], cpu_result[key]
        np.testing.assert_allclose(got[..., ~mask], want[..., ~mask], **tol,
                                   err_msg=key)
        assert np.all(np.abs(got[..., mask] - want[..., mask]) < 1.0)
    np.testing.assert_allclose(gpu_result["totals"], cpu_result["totals"], **tol)
    np.testing.assert_allclose(gpu_result["total"], cpu_result["total"], **tol)
    np.testing.assert_array_equal(gpu_result["order"], cpu_result["order"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_train_epoch_matches_cpu(optimizer, dtype, rng):
    """Batches of 2 of 5 rows, the last row merged into the batch before
    (batch norm: a one-row batch normalizes to zero, and its gradient is
    rounding noise that Adam's steps amplify)."""
    cpu, gpu = _pair("softmax", dtype)
    X, Y, sw = _problem("softmax", dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    cpu_result, gpu_result = _epochs(cpu, gpu, theta0, X, Y, sw, optimizer, 2,
                                     running=_running(cpu, rng), merge_single=True)
    _assert_same(cpu_result, gpu_result, dtype, cpu.layout)
    assert not np.allclose(gpu_result["theta"], theta0)


@pytest.mark.parametrize("out_activation", ["identity", "logistic"])
def test_train_epoch_shuffled_matches_cpu(out_activation, rng):
    """The host shuffle reproduces the CPU kernel's order for a seed."""
    dtype = np.float64
    cpu, gpu = _pair(out_activation, dtype, acts=("elu", "tanh"))
    X, Y, sw = _problem(out_activation, dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    cpu_result, gpu_result = _epochs(cpu, gpu, theta0, X, Y, sw, "rmsprop", 3,
                                     shuffle=True, seed=11)
    assert not np.array_equal(cpu_result["order"], np.arange(N))
    _assert_same(cpu_result, gpu_result, dtype, cpu.layout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipping_and_frozen_ranges_match_cpu(dtype, rng):
    cpu, gpu = _pair("softmax", dtype)
    X, Y, sw = _problem("softmax", dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    frozen = cpu.layout.layer_segments([0])  # weights, intercept and batch norm
    for clip in ({"clip_value": 0.05}, {"clip_norm": 0.1},
                 {"clip_value": 0.2, "clip_norm": 0.3}):
        # adamw's decoupled weight decay would move frozen parameters
        cpu_result, gpu_result = _epochs(cpu, gpu, theta0, X, Y, sw, "adamw", 2,
                                         lr=0.5, frozen=frozen, **clip)
        _assert_same(cpu_result, gpu_result, dtype, cpu.layout)
        theta = gpu_result["theta"]
        for start, stop in frozen:
            np.testing.assert_array_equal(theta[start:stop], theta0[start:stop])
        assert not np.allclose(theta, theta0)


def test_clipping_changes_the_step(rng):
    """Clipping really bites at these settings (the match test can fail)."""
    dtype = np.float64
    cpu, gpu = _pair("softmax", dtype)
    X, Y, sw = _problem("softmax", dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    hp = {"momentum": 0.0, "nesterovs_momentum": 0.0}
    plain = _epochs(cpu, gpu, theta0, X, Y, sw, "sgd", 5, hp=hp, alpha=0.0,
                    lr=1.0)[1]["theta"]
    clipped = _epochs(cpu, gpu, theta0, X, Y, sw, "sgd", 5, hp=hp, alpha=0.0,
                      lr=1.0, clip_norm=0.01)[1]["theta"]
    np.testing.assert_allclose(np.linalg.norm(clipped - theta0), 0.01, rtol=1e-9)
    assert np.linalg.norm(plain - theta0) > 0.05


def test_dropout_epoch_uses_the_same_masks_backward(rng):
    """One SGD step with dropout equals a NumPy step with the kernel's masks."""
    dtype = np.float64
    units = (3, 6, 5, 2)
    cpu, gpu = _pair("softmax", dtype, acts=("logistic", "logistic"),
                     batch_norm=(False, False), units=units)
    X, Y, sw = _problem("softmax", dtype, rng, units=units)
    theta0 = _theta(cpu, rng, dtype)
    rates = np.array([0.3, 0.6])
    hp = {"momentum": 0.0, "nesterovs_momentum": 0.0}
    result = _epochs(cpu, gpu, theta0, X, Y, sw, "sgd", N, hp=hp, alpha=0.0,
                     lr=0.5, dropout=rates)[1]
    ws = result["ws"]
    M = ws.M.copy_to_host()
    masks = [M[ws.a_off[i]:ws.a_off[i] + N * w].reshape(N, w)
             for i, w in enumerate(units[1:-1])]
    for mask, rate in zip(masks, rates, strict=True):
        values = np.unique(mask)
        assert set(values) <= {0.0, 1.0 / (1.0 - rate)}
        assert len(values) == 2  # some units dropped, some kept

    coefs, intercepts = cpu.layout.unpack(theta0)
    h = [X]
    pre = []
    for i in range(2):
        a = 1 / (1 + np.exp(-(h[-1] @ coefs[i] + intercepts[i])))
        pre.append(a)
        h.append(a * masks[i])
    z = h[2] @ coefs[2] + intercepts[2]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d3 = (p - Y) * sw[:, None]
    d2 = (d3 @ coefs[2].T) * pre[1] * (1 - pre[1]) * masks[1]
    d1 = (d2 @ coefs[1].T) * pre[0] * (1 - pre[0]) * masks[0]
    grads = [X.T @ d1, h[1].T @ d2, h[2].T @ d3, d1.sum(0), d2.sum(0), d3.sum(0)]
    ref = np.concatenate([g.ravel() for g in grads]) / sw.sum()
    np.testing.assert_allclose(result["theta"], theta0 - 0.5 * ref, rtol=1e-10,
                               atol=1e-12)


def test_noise_and_mixup_change_the_batch(rng):
    dtype = np.float64
    units = (3, 4, 2)
    n = 6
    cpu, gpu = _pair("identity", dtype, acts=("tanh",), batch_norm=(False,),
                     units=units)
    X, Y, sw = _problem("identity", dtype, rng, n=n, units=units)
    theta0 = _theta(cpu, rng, dtype)
    out = {}
    for name, kwargs in {"plain": {}, "noise": {"noise_std": 0.5},
                         "mixup": {"mixup_alpha": 0.4}}.items():
        result = _epochs(cpu, gpu, theta0, X, Y, sw, "sgd", n, alpha=0.0,
                         **kwargs)
        ws = result[1]["ws"]
        out[name] = (result[0]["theta"], result[1]["theta"],
                     ws.Xb.copy_to_host()[:n * 3].reshape(n, 3),
                     ws.Yb.copy_to_host()[:n * 2].reshape(n, 2),
                     ws.swb.copy_to_host()[:n])
    np.testing.assert_allclose(out["plain"][1], out["plain"][0], **_tol(dtype))
    np.testing.assert_array_equal(out["plain"][2], X)
    noise = out["noise"][2] - X
    assert 0.1 < noise.std() < 1.0
    np.testing.assert_array_equal(out["noise"][3], Y)
    mx, my, msw = out["mixup"][2:]
    lams = set()
    for i in range(n):
        if np.allclose(mx[i], X[i]):
            continue  # paired with itself
        for j in range(n):
            with np.errstate(divide="ignore", invalid="ignore"):
                lam = (mx[i] - X[j]) / (X[i] - X[j])
            if j != i and np.allclose(lam, lam[0]):
                np.testing.assert_allclose(my[i], lam[0] * Y[i] + (1 - lam[0]) * Y[j])
                np.testing.assert_allclose(msw[i], lam[0] * sw[i] + (1 - lam[0]) * sw[j])
                lams.add(round(float(lam[0]), 9))
                break
        else:
            raise AssertionError(f"row {i} is not a mix of two rows")
    assert len(lams) == 1 and 0 < lams.pop() < 1  # one lambda per batch
    for name in ("noise", "mixup"):
        assert not np.allclose(out[name][1], out["plain"][1])


def test_device_arrays_and_cpu_workspace(rng):
    """Device arrays are updated in place; a CPU Workspace gets the results."""
    from numba import cuda

    dtype = np.float64
    cpu, gpu = _pair("logistic", dtype)
    X, Y, sw = _problem("logistic", dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    cpu_result, _ = _epochs(cpu, gpu, theta0, X, Y, sw, "adam", 2)
    adam = _plugin("optimizer", "adam")
    theta = cuda.to_device(theta0)
    state = cuda.to_device(np.zeros((2, theta0.size)))
    running = cuda.to_device(cpu.new_running_stats())
    ws = Workspace(cpu.layout, 2, dtype)
    total = gpu.train_epoch(
        theta, gpu.to_device(X), gpu.to_device(Y), gpu.to_device(sw),
        np.arange(N), 2, False, 3, adam, state,
        hyperparameter_vector(dict(adam.hyperparameters)), np.full(3, 0.05), 4,
        _plugin("regularizer", "l2"), np.zeros(1), 0.1, ws, running=running)
    gpu_result = {"theta": theta.copy_to_host(), "state": state.copy_to_host(),
                  "running": running.copy_to_host(), "total": total,
                  "totals": ws.totals.copy(), "order": np.arange(N)}
    _assert_same(cpu_result, gpu_result, dtype, cpu.layout)


def test_network_without_hidden_layers(rng):
    dtype = np.float64
    units = (3, 2)
    args = (units, [], "logistic", dtype)
    cpu, gpu = make_network("cpu", *args), make_network("cuda", *args)
    X, Y, sw = _problem("logistic", dtype, rng, units=units)
    theta = _theta(cpu, rng, dtype)
    np.testing.assert_allclose(gpu.predict(theta, X), cpu.predict(theta, X),
                               **_tol(dtype))
    (loss, grad, _), (gpu_loss, gpu_grad, _) = _loss_grads(
        cpu, gpu, theta, X, Y, sw, 0.2, cpu.new_running_stats(), False)
    np.testing.assert_allclose(gpu_loss, loss, **_tol(dtype))
    np.testing.assert_allclose(gpu_grad, grad, **_tol(dtype))


# ---------------------------------------------------------------------------
# Layer normalization
# ---------------------------------------------------------------------------

# Layer norm on the first hidden layer, batch norm on the second; or layer
# norm on both.
LAYER_NORM_CASES = [((True, False), (False, True)), ((True, True), (False, False))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer_norm, batch_norm", LAYER_NORM_CASES)
def test_layer_norm_loss_grad_and_predict_match_cpu(layer_norm, batch_norm, dtype,
                                                    rng):
    """Chunks of 3 rows: the second chunk accumulates into the gradient."""
    cpu, gpu = _pair("softmax", dtype, batch_norm=batch_norm, layer_norm=layer_norm)
    X, Y, sw = _problem("softmax", dtype, rng)
    theta = _theta(cpu, rng, dtype)
    running = _running(cpu, rng)
    (loss, grad, _), (gpu_loss, gpu_grad, _) = _loss_grads(
        cpu, gpu, theta, X, Y, sw, 0.3, running, True)
    tol = _tol(dtype)
    np.testing.assert_allclose(gpu_loss, loss, **tol)
    np.testing.assert_allclose(gpu_grad, grad, **tol)
    # the layer-norm scale and shift get gradients
    for offsets in (cpu.layout.ln_gamma_off, cpu.layout.ln_beta_off):
        start = offsets[offsets >= 0][0]
        assert np.any(gpu_grad[start:start + 4] != 0)
    np.testing.assert_allclose(gpu.predict(theta, X, running, chunk=2),
                               cpu.predict(theta, X, running), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_train_epoch_matches_cpu(dtype, rng):
    """Batches of 2 of 5 rows: the last has one row, which layer norm takes."""
    cpu, gpu = _pair("softmax", dtype, batch_norm=(False, False),
                     layer_norm=(True, True))
    X, Y, sw = _problem("softmax", dtype, rng)
    theta0 = _theta(cpu, rng, dtype)
    frozen = cpu.layout.layer_segments([0])  # weights, intercept, ln scale/shift
    cpu_result, gpu_result = _epochs(cpu, gpu, theta0, X, Y, sw, "adam", 2,
                                     frozen=frozen)
    _assert_same(cpu_result, gpu_result, dtype, cpu.layout)
    theta = gpu_result["theta"]
    start = cpu.layout.ln_gamma_off[0]
    np.testing.assert_array_equal(theta[start:start + 8], theta0[start:start + 8])
    start = cpu.layout.ln_gamma_off[1]
    assert not np.allclose(theta[start:start + 6], theta0[start:start + 6])


def test_cpu_blocks_are_rejected_with_a_clear_error(rng):
    dtype = np.float64
    cpu, gpu = _pair("identity", dtype)
    X, Y, sw = _problem("identity", dtype, rng)
    l2 = _plugin("regularizer", "l2")
    with pytest.raises(TypeError, match="CPU blocks cannot run on the GPU"):
        gpu.loss_grad(_theta(cpu, rng, dtype), X, Y, sw,
                      cpu_blocks.regularizer_block(l2, dtype), np.zeros(1), 0.1,
                      gpu.workspace(N))


# ---------------------------------------------------------------------------
# Real-CUDA compilability
# ---------------------------------------------------------------------------

_PTX_SCRIPT = """
import re
import numpy as np
from skdeep._registry import get_registry
from skdeep._kernels.cpu.kernels import OUT_IDENTITY, OUT_SOFTMAX, OUT_LOGISTIC
from skdeep._kernels.cuda.ptx import compile_all
from skdeep.plugin_types import LossPlugin
reg = get_registry()
log_loss = reg.get("loss", "log_loss")
chain = LossPlugin("xent_chain", log_loss.loss, log_loss.gradient, "classification")
ptx = compile_all(
    np.float32,
    [reg.get("activation", "gelu"), reg.get("activation", "prelu")],
    [(log_loss, OUT_SOFTMAX, False), (chain, OUT_LOGISTIC, False),
     (reg.get("loss", "huber"), OUT_IDENTITY, True)],
    [reg.get("optimizer", "adam"), reg.get("optimizer", "sgd")],
    [reg.get("regularizer", "l1_l2")],
)
assert all(".entry" in text for text in ptx.values())
assert ".f64" not in ptx["matmul"]  # float32 products stay float32
# Plugin math keeps float32: its literals are typed like NumPy's scalars.
f64_math = re.compile(r"\\b(add|sub|mul|div|fma|sqrt|rcp|ex2|lg2)(\\.[a-z]+)*\\.f64\\b")
for name in ("act_fwd_gelu_prelu", "act_bwd_gelu_prelu", "layer_norm_forward",
             "layer_norm_params_grad", "layer_norm_backward"):
    assert not f64_math.search(ptx[name]), name
print(len(ptx))
"""


def test_kernels_compile_for_the_real_cuda_target():
    """The simulator accepts what CUDA rejects: compile to PTX for real."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 and any(
            word in proc.stderr for word in ("nvvm", "NVVM", "nvrtc", "NVRTC")):
        pytest.skip("NVVM is not installed (pip install 'numba-cuda[cu13]')")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) >= 15
