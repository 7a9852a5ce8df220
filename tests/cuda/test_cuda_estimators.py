"""The estimators with ``device="cuda"`` against ``device="cpu"``.

Tiny shapes: under the simulator every CUDA thread runs as Python. With
``shuffle=False`` and no random features, a GPU fit follows the CPU fit to
rounding (float64: rtol 1e-7).
"""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier, MLPRegressor
from skdeep._registry import get_registry


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _data(rng, n=8, d=3, classes=3):
    X = rng.normal(size=(n, d))
    return X, np.arange(n) % classes


def _pair(cls, X, y, **params):
    base = dict(dict(max_iter=2, random_state=0, shuffle=False, batch_size=4),
                **params)
    gpu = cls(device="cuda", **base).fit(X, y)
    cpu = cls(device="cpu", **base).fit(X, y)
    assert gpu.device_ == "cuda" and cpu.device_ == "cpu"
    return gpu, cpu


def _assert_same(gpu, cpu, rtol=1e-7):
    for a, b in zip(gpu.coefs_ + gpu.intercepts_, cpu.coefs_ + cpu.intercepts_,
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(gpu.loss_, cpu.loss_, rtol=rtol)
    if hasattr(cpu, "loss_curve_"):
        np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=rtol)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_classifier_trains_like_the_cpu(solver, rng):
    X, y = _data(rng)
    gpu, cpu = _pair(MLPClassifier, X, y, hidden_layer_sizes=(3,), solver=solver)
    _assert_same(gpu, cpu)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X),
                               rtol=1e-7)


def test_regressor_with_batch_norm_prelu_and_huber(rng):
    X = rng.normal(size=(8, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    gpu, cpu = _pair(MLPRegressor, X, y, hidden_layer_sizes=(3,),
                     batch_norm=True, activation="prelu", loss="huber",
                     clip_norm=0.5)
    _assert_same(gpu, cpu)
    np.testing.assert_allclose(gpu.bn_running_vars_[0], cpu.bn_running_vars_[0],
                               rtol=1e-7)
    np.testing.assert_allclose(gpu.activation_params_[0],
                               cpu.activation_params_[0], rtol=1e-7)


def test_classifier_with_layer_norm_and_single_row_batches(rng):
    X, y = _data(rng, n=5)
    gpu, cpu = _pair(MLPClassifier, X, y, hidden_layer_sizes=(3, 2),
                     layer_norm=(True, True), batch_size=2)  # last batch: 1 row
    _assert_same(gpu, cpu)
    for a, b in zip(gpu.ln_scales_ + gpu.ln_shifts_,
                    cpu.ln_scales_ + cpu.ln_shifts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X),
                               rtol=1e-7)


def test_lbfgs_and_validation_data(rng):
    X, y = _data(rng)
    gpu, cpu = _pair(MLPClassifier, X, y, hidden_layer_sizes=(2,),
                     solver="lbfgs")
    _assert_same(gpu, cpu, rtol=1e-6)
    gpu, cpu = (MLPClassifier(device=d, hidden_layer_sizes=(2,), max_iter=2,
                              random_state=0, shuffle=False)
                .fit(X, y, validation_data=(X[:4], y[:4])) for d in ("cuda", "cpu"))
    np.testing.assert_allclose(gpu.validation_loss_curve_,
                               cpu.validation_loss_curve_, rtol=1e-7)


def test_third_party_plugin_trains_on_the_gpu(rng):
    registry = get_registry()
    if "softsign" not in registry.names("activation"):
        pytest.skip("skdeep-extra is not installed")
    X, y = _data(rng)
    gpu, cpu = _pair(MLPClassifier, X, y, hidden_layer_sizes=(2,),
                     activation="softsign", solver="lion")
    _assert_same(gpu, cpu)


def test_gpu_model_predicts_on_a_machine_without_gpu(rng, tmp_path):
    X, y = _data(rng)
    gpu = MLPClassifier(device="cuda", hidden_layer_sizes=(3,), max_iter=2,
                        random_state=0).fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(gpu))
    np.save(tmp_path / "X.npy", X)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = (
        "import pickle, sys, numpy as np\n"
        "model = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "proba = model.predict_proba(np.load(sys.argv[2]))\n"
        "from numba import cuda\n"
        "assert not cuda.is_available()\n"
        "np.save(sys.argv[3], proba)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.npy"),
                    str(tmp_path / "p.npy")], check=True, env=env)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), gpu.predict_proba(X),
                               rtol=1e-10)


def test_batch_norm_merges_a_single_row_batch_like_the_cpu(rng):
    # 9 rows in batches of 4: the last row joins the second batch (4 + 1).
    X, y = _data(rng, n=9)
    gpu, cpu = _pair(MLPClassifier, X, y, hidden_layer_sizes=(3,), batch_norm=True)
    _assert_same(gpu, cpu)
    assert gpu.training_state_.steps == cpu.training_state_.steps == 4
    for a, b in zip(gpu.bn_running_means_, cpu.bn_running_means_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
