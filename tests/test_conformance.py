"""The conformance kit over every registered plugin, installed ones included."""

import math

import numpy as np
import pytest

from skdeep import testing
from skdeep._registry import get_registry
from skdeep.plugin_types import ActivationPlugin, OptimizerPlugin

PLUGINS = [(kind, name) for kind, table in get_registry().tables().items()
           for name in sorted(table)]


@pytest.mark.parametrize(("kind", "name"), PLUGINS, ids=[f"{k}-{n}" for k, n in PLUGINS])
def test_plugin_conforms(kind, name):
    testing.check_plugin(kind, name)


def _sklearn_reference(name):
    """sklearn's own optimizer classes as NumPy references."""
    from sklearn.neural_network._stochastic_optimizers import (
        AdamOptimizer,
        SGDOptimizer,
    )

    def reference(param, grad, states, lr, t, **hp):
        param = param.copy()
        if name == "sgd":
            opt = SGDOptimizer([param], lr, momentum=hp["momentum"],
                               nesterov=bool(hp["nesterovs_momentum"]))
            opt.velocities = [states[0].copy()]
            opt.update_params([param], [grad])
            return param, [opt.velocities[0]]
        opt = AdamOptimizer([param], lr, hp["beta_1"], hp["beta_2"], hp["epsilon"])
        opt.t = t - 1
        opt.ms, opt.vs = [states[0].copy()], [states[1].copy()]
        opt.update_params([param], [grad])
        return param, [opt.ms[0], opt.vs[0]]

    return reference


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("nesterov", [0.0, 1.0])
def test_builtin_optimizers_match_sklearn(name, nesterov):
    hp = {"nesterovs_momentum": nesterov} if name == "sgd" else {}
    testing.check_plugin("optimizer", name, hyperparameters=hp,
                         reference=_sklearn_reference(name))


def test_kit_catches_wrong_derivative():
    bad = ActivationPlugin("bad_tanh", lambda x: math.tanh(x), lambda x, y: 1.0 - y)
    with pytest.raises(AssertionError, match="finite differences"):
        testing.check_activation(bad)


def test_kit_catches_wrong_update():
    def update(param, grad, lr, t):
        return param - lr * grad

    opt = OptimizerPlugin("plain", update)
    testing.check_optimizer(opt)

    def reference(param, grad, states, lr, t):
        return param - 2 * lr * grad, states

    with pytest.raises(AssertionError, match="differs from the reference"):
        testing.check_optimizer(opt, reference=reference)

    ascent = OptimizerPlugin("ascent", lambda p, g, lr, t: p + lr * g)
    with pytest.raises(AssertionError, match="did not lower"):
        testing.check_optimizer(ascent)


def test_check_all_plugins_covers_registry():
    seen = list(testing.check_all_plugins())
    assert len(seen) == len(PLUGINS)
    assert np.all([isinstance(k, str) for k, _ in seen])


def _allocating_value(x):
    # Compiles for the CPU; CUDA device code cannot allocate arrays.
    buf = np.empty(1)
    buf[0] = x
    return buf[0]


def _one(x, y):
    return 1.0


def test_gpu_check_finds_constructs_the_gpu_rejects():
    # The CUDA simulator runs plain Python and accepts this plugin; the kit
    # compiles for the real target (a GPU, or PTX with NVVM).
    pytest.importorskip("numba.cuda")
    good = testing.check_gpu(get_registry().get("activation", "tanh"))
    if good.startswith("skipped") or "simulator" in good:
        pytest.skip(f"no real CUDA compiler here ({good})")
    bad = ActivationPlugin(name="allocating", value=_allocating_value,
                           derivative=_one)
    with pytest.raises(AssertionError, match="allocating: value .* does not compile"):
        testing.check_gpu(bad)


def test_gpu_check_says_when_it_cannot_run(monkeypatch):
    monkeypatch.setattr(testing, "_cuda_unavailable_reason",
                        lambda: "numba-cuda is not installed (test)")
    monkeypatch.setattr(testing, "_gpu_skip_warned", set())
    with pytest.warns(UserWarning, match="GPU check skipped: numba-cuda is not"):
        testing.check_plugin("activation", "relu")
