"""Plugin discovery, isolation, conflicts and the CLI listing."""

import subprocess
import sys
import types
import warnings

import pytest

import skdeep
from skdeep import _registry
from skdeep.plugin_types import ActivationPlugin, LossPlugin, OptimizerPlugin

EXPECTED = {
    "activation": {"identity", "logistic", "tanh", "relu", "leaky_relu", "elu",
                   "selu", "gelu", "swish", "silu", "mish", "softplus"},
    "optimizer": {"sgd", "adam", "adamw", "adamax", "nadam", "adagrad",
                  "rmsprop", "lbfgs"},
    "initializer": {"sklearn", "glorot_uniform", "glorot_normal", "he_uniform",
                    "he_normal", "lecun_uniform", "lecun_normal"},
    "regularizer": {"l2", "l1", "l1_l2"},
}


def _plugin_module(name, activation_name):
    module = types.ModuleType(name)

    @skdeep.hookimpl
    def skdeep_activations():
        return [ActivationPlugin(activation_name, lambda x: x, lambda x, y: 1.0)]

    module.skdeep_activations = skdeep_activations
    return module


class _FakeEntryPoint:
    def __init__(self, name, target, dist_name=None):
        self.name = name
        self.value = f"fake:{name}"
        self.dist = (None if dist_name is None
                     else types.SimpleNamespace(metadata={"Name": dist_name}, version="1.0"))
        self._target = target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def _registry_with(monkeypatch, entry_points, autoload=None):
    monkeypatch.setattr(_registry.metadata, "entry_points",
                        lambda group: entry_points if group == "skdeep" else [])
    return _registry.Registry(autoload=autoload)


def test_builtins_arrive_through_hooks():
    tables = _registry.Registry(autoload=False).tables()
    for kind, names in EXPECTED.items():
        assert names <= set(tables[kind])
        for name in names:
            assert "built-in" in tables[kind][name].source


def test_entry_point_plugin_is_loaded_lazily(monkeypatch):
    registry = _registry_with(monkeypatch, [_FakeEntryPoint("third", _plugin_module("m", "cube"))])
    assert not registry._loaded
    assert registry.get("activation", "cube").name == "cube"
    assert "entry point 'third'" in registry.tables()["activation"]["cube"].source


def test_broken_plugin_warns_and_others_still_load(monkeypatch):
    registry = _registry_with(monkeypatch, [
        _FakeEntryPoint("broken", ImportError("no module named nowhere")),
        _FakeEntryPoint("fine", _plugin_module("m2", "cube")),
    ])
    with pytest.warns(_registry.PluginWarning, match="'broken'.*nowhere"):
        names = registry.names("activation")
    assert "cube" in names and "relu" in names


def test_plugin_raising_in_hook_warns(monkeypatch):
    module = types.ModuleType("bad")

    @skdeep.hookimpl
    def skdeep_optimizers():
        raise RuntimeError("boom")

    module.skdeep_optimizers = skdeep_optimizers
    registry = _registry_with(monkeypatch, [_FakeEntryPoint("bad", module)])
    with pytest.warns(_registry.PluginWarning, match="bad.*boom"):
        assert "adam" in registry.names("optimizer")


def test_autoload_can_be_disabled(monkeypatch):
    for value, loaded in (("1", False), ("true", False), ("0", True), ("off", True)):
        monkeypatch.setenv(_registry.DISABLE_AUTOLOAD_ENV, value)
        registry = _registry_with(
            monkeypatch, [_FakeEntryPoint("third", _plugin_module("m", "cube"))])
        assert ("cube" in registry.names("activation")) == loaded, value


def test_entry_point_names_are_per_distribution(monkeypatch):
    # Two packages may both call their entry point "plugins".
    registry = _registry_with(monkeypatch, [
        _FakeEntryPoint("plugins", _plugin_module("a", "cube"), dist_name="pkg-a"),
        _FakeEntryPoint("plugins", _plugin_module("b", "square"), dist_name="pkg-b"),
    ])
    assert {"cube", "square"} <= set(registry.names("activation"))
    assert "from pkg-b 1.0" in registry.tables()["activation"]["square"].source


def test_entry_point_with_a_misspelt_hook_warns_and_is_dropped(monkeypatch):
    module = _plugin_module("typo", "cube")
    module.skdeep_activation = module.skdeep_activations  # no such hook
    registry = _registry_with(monkeypatch, [_FakeEntryPoint("typo", module)])
    with pytest.warns(_registry.PluginWarning, match="'skdeep_activation'.*not a skdeep hook"):
        assert "cube" not in registry.names("activation")


def test_duplicate_names_are_an_error_naming_both(monkeypatch):
    registry = _registry_with(monkeypatch, [
        _FakeEntryPoint("first", _plugin_module("a", "cube")),
        _FakeEntryPoint("second", _plugin_module("b", "cube")),
    ])
    with pytest.raises(_registry.PluginConflictError, match="first.*second"):
        registry.tables()
    registry = _registry_with(monkeypatch, [], autoload=False)
    with pytest.raises(_registry.PluginConflictError, match="'relu'.*built-in"):
        registry.register(_plugin_module("c", "relu"), name="clash")
    assert "clash" not in registry._sources  # a refused plugin is not kept


def test_invalid_records_are_rejected():
    def value(x, alpha):
        return alpha * x

    def derivative(x, y, alpha):
        return alpha

    with pytest.raises(ValueError, match="identifier"):
        ActivationPlugin("not a name", abs, abs)
    with pytest.raises(ValueError, match="number"):
        ActivationPlugin("ok", abs, abs, {"alpha": "big"})
    with pytest.raises(ValueError, match="update function is required"):
        OptimizerPlugin("opt", None)
    with pytest.raises(ValueError, match="derivative must be a function, got None"):
        ActivationPlugin("ok", value, None, {"alpha": 1.0})
    with pytest.raises(ValueError, match=r"called as derivative\(x, y\), but its "
                                         r"signature is derivative\(x, y, alpha\)"):
        ActivationPlugin("ok", lambda x: x, derivative)
    ActivationPlugin("ok", value, derivative, {"alpha": 1.0})  # well formed
    with pytest.raises(ValueError, match=r"update\(param, grad, s0, lr, t\)"):
        OptimizerPlugin("opt", lambda p, g, lr, t: (p,), n_state=1)
    with pytest.raises(ValueError, match="accepted: momentum"):
        OptimizerPlugin("opt", lambda p, g, lr, t, a: (p,), hyperparameters={"alpha": 1.0},
                        estimator_params=("alpha",))


def test_loss_averages_over_outputs_for_regression_only():
    def loss(p, y):
        return 0.0

    assert LossPlugin("a", loss, loss, "regression").average_outputs
    assert not LossPlugin("b", loss, loss, "classification").average_outputs
    assert not LossPlugin("c", loss, loss, "regression", average_outputs=False).average_outputs


def test_runtime_registration_refuses_what_it_cannot_use():
    registry = _registry.Registry(autoload=False)

    class Typo:
        @skdeep.hookimpl
        def skdeep_activation(self):
            return []

    class Broken:
        @skdeep.hookimpl
        def skdeep_activations(self):
            raise RuntimeError("boom")

    with pytest.raises(ValueError, match="not a skdeep hook; the hooks are skdeep_activations"):
        registry.register(Typo(), name="typo")
    with pytest.raises(ValueError, match="failed in skdeep_activations: RuntimeError: boom"):
        registry.register(Broken(), name="broken")
    assert not {"typo", "broken"} & set(registry._sources)
    # Re-running a notebook cell: the name is taken unless replace=True.
    registry.register(_plugin_module("v1", "cube"), name="mine")
    with pytest.raises(ValueError, match="already registered; pass replace=True"):
        registry.register(_plugin_module("v2", "cube"), name="mine")
    registry.register(_plugin_module("v2", "cube"), name="mine", replace=True)
    with pytest.raises(ValueError, match="boom"):
        registry.register(Broken(), name="mine", replace=True)
    assert registry._pm.get_plugin("mine").__name__ == "v2"  # the old one is back
    with pytest.raises(ValueError, match="Available losses"):
        registry.get("loss", "nope")


def test_runtime_registration_and_training():
    import numpy as np

    from skdeep import MLPRegressor, register_plugin

    def cube(x):
        return x * x * x

    def cube_derivative(x, y):
        return 3.0 * x * x

    class Plugin:
        @skdeep.hookimpl
        def skdeep_activations(self):
            return [ActivationPlugin("cube_test", cube, cube_derivative)]

    name = register_plugin(Plugin(), name="cube-plugin")
    try:
        X = np.random.RandomState(0).normal(size=(80, 2))
        reg = MLPRegressor(activation="cube_test", solver="lbfgs", hidden_layer_sizes=(4,),
                           random_state=0).fit(X, X[:, 0] ** 3)
        assert reg.score(X, X[:, 0] ** 3) > 0.95
    finally:
        _registry.get_registry().unregister(name)


def test_cli_lists_plugins_with_sources():
    out = subprocess.run([sys.executable, "-m", "skdeep", "plugins"], check=True,
                         capture_output=True, text=True).stdout
    for header in ("activations:", "optimizers:", "initializers:", "regularizers:"):
        assert header in out
    assert "  leaky_relu(alpha: float = 0.01)  [built-in]" in out


def test_import_is_light_and_compiles_nothing():
    code = ("import sys, time; t = time.perf_counter(); import skdeep; "
            "print(time.perf_counter() - t); "
            "print(sorted(m for m in ('numba', 'sklearn', 'scipy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split("\n")
    assert out[1] == "[]"
    assert float(out[0]) < 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert callable(skdeep.MLPClassifier)
