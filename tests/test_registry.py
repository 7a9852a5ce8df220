"""Plugin discovery, isolation, conflicts and the CLI listing."""

import subprocess
import sys
import types
import warnings

import pytest

import skdeep
from skdeep import _registry
from skdeep.plugin_types import ActivationPlugin, OptimizerPlugin

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
    def __init__(self, name, target):
        self.name = name
        self.value = f"fake:{name}"
        self.dist = None
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
    monkeypatch.setenv(_registry.DISABLE_AUTOLOAD_ENV, "1")
    registry = _registry_with(monkeypatch, [_FakeEntryPoint("third", _plugin_module("m", "cube"))])
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
    with pytest.raises(ValueError, match="identifier"):
        ActivationPlugin("not a name", abs, abs)
    with pytest.raises(ValueError, match="number"):
        ActivationPlugin("ok", abs, abs, {"alpha": "big"})
    with pytest.raises(ValueError, match="update function is required"):
        OptimizerPlugin("opt", None)


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
    assert "leaky_relu (alpha=0.01)" in out and "skdeep (built-in)" in out


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
