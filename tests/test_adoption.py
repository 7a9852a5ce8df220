"""What a new user meets first: nested hyperparameters on names, clone-safe
transfer, plugin errors that name the plugin, hyperparameter bounds, no
silent ignores, messages, project files."""

import pickle
import re
import statistics
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_validate

import skdeep
from skdeep import (
    Activation,
    Initializer,
    Loss,
    MLPClassifier,
    MLPRegressor,
    Optimizer,
    PluginCompileError,
    Regularizer,
    StepDecay,
    hookimpl,
    register_plugin,
)
from skdeep._plan import resolve_plan
from skdeep._registry import get_registry
from skdeep.plugin_types import ActivationPlugin, OptimizerPlugin

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0)


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=40, n_features=5, random_state=0)


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- nested hyperparameters on names ------------------------------------------
def test_solver_hp_on_a_name_keeps_the_estimator_values_it_follows():
    est = MLPClassifier(solver="rmsprop", epsilon=1e-5)
    est.set_params(solver__rho=0.5)
    assert est.solver == Optimizer("rmsprop", rho=0.5, epsilon=1e-5)
    _, values = resolve_plan(est).optimizer
    assert values["rho"] == 0.5 and values["epsilon"] == 1e-5
    # A spec object is updated in place, as scikit-learn does.
    spec = est.solver
    est.set_params(solver__momentum=0.3)
    assert est.solver is spec and spec.momentum == 0.3


def test_hp_on_a_name_trains_as_the_spec_object(data, quiet):
    X, y = data
    by_name = MLPClassifier(solver="rmsprop", **SMALL).set_params(solver__rho=0.5)
    by_spec = MLPClassifier(solver=Optimizer("rmsprop", rho=0.5), **SMALL)
    by_default = MLPClassifier(solver="rmsprop", **SMALL)
    a, b, c = (e.fit(X, y).coefs_[0] for e in (by_name, by_spec, by_default))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("param, value, key, expected", [
    ("activation", "leaky_relu", "alpha", Activation("leaky_relu", alpha=0.2)),
    ("regularizer", "l1_l2", "l1_ratio", Regularizer("l1_l2", l1_ratio=0.2)),
    ("loss", "log_loss", "name", Loss("log_loss")),
    ("initializer", "he_normal", "name", Initializer("glorot_normal")),
])
def test_every_plugin_parameter_takes_nested_hps_on_names(param, value, key,
                                                          expected):
    new = 0.2 if key != "name" else expected.name
    est = MLPClassifier(**{param: value}).set_params(**{f"{param}__{key}": new})
    assert getattr(est, param) == expected


def test_regressor_loss_hp_on_a_name():
    est = MLPRegressor(loss="huber").set_params(loss__delta=0.5)
    assert est.loss == Loss("huber", delta=0.5)
    assert resolve_plan(est).loss[1] == {"delta": 0.5}


def test_nested_hp_the_plugin_lacks_is_refused_naming_what_it_has():
    with pytest.raises(ValueError, match=r"solver__rhoo.*Accepted: solver__rho"):
        MLPClassifier(solver="rmsprop").set_params(solver__rhoo=0.5)
    with pytest.raises(ValueError, match="has no hyperparameter 'alpha'.*none"):
        MLPClassifier(activation="relu").set_params(activation__alpha=0.5)
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprp'.*'rmsprop'"):
        MLPClassifier(solver="rmsprp").set_params(solver__rho=0.5)
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprp'.*'rmsprop'"):
        MLPClassifier(solver=Optimizer("rmsprp")).set_params(solver__rho=0.5)


def test_activation_hp_applies_to_every_layer_that_has_it():
    est = MLPClassifier(hidden_layer_sizes=(3, 3, 3),
                        activation=("relu", "leaky_relu", Activation("elu")))
    est.set_params(activation__alpha=0.3)
    assert est.activation == (Activation("relu"), Activation("leaky_relu", alpha=0.3),
                              Activation("elu", alpha=0.3))
    with pytest.raises(ValueError, match="none of the activations.*'beta'"):
        est.set_params(activation__beta=1.0)


def test_learning_rate_hp_on_a_schedule_name():
    est = MLPClassifier(learning_rate="step").set_params(learning_rate__gamma=0.5)
    assert isinstance(est.learning_rate, StepDecay)
    assert est.learning_rate.get_params() == StepDecay(gamma=0.5).get_params()
    with pytest.raises(ValueError, match="'constant' has no hyperparameters.*step"):
        MLPClassifier().set_params(learning_rate__gamma=0.5)


def test_grid_varies_name_and_its_hyperparameters(data, quiet):
    X, y = data
    grid = [{"solver": ["rmsprop"], "solver__rho": [0.5, 0.99]},
            {"solver": ["adam"], "activation": ["leaky_relu"],
             "activation__alpha": [0.1]}]
    search = GridSearchCV(MLPClassifier(**SMALL), grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
    best = search.best_estimator_
    expected = clone(MLPClassifier(**SMALL)).set_params(**search.best_params_)
    assert best.get_params() == expected.get_params()


def test_clone_and_get_params_stay_consistent():
    est = MLPClassifier(solver="adamw").set_params(solver__weight_decay=0.1)
    twin = clone(est)
    assert twin.solver == est.solver and twin.solver is not est.solver
    assert twin.get_params(deep=True) == est.get_params(deep=True)
    assert est.get_params(deep=True)["solver__weight_decay"] == 0.1


@pytest.mark.parametrize("kind", ["activation", "optimizer", "initializer",
                                  "regularizer", "loss"])
def test_spec_objects_show_every_hyperparameter_with_its_default(kind):
    spec_type = {"activation": Activation, "optimizer": Optimizer,
                 "initializer": Initializer, "regularizer": Regularizer,
                 "loss": Loss}[kind]
    for name in get_registry().names(kind):
        record = get_registry().get(kind, name)
        spec = spec_type(name)
        assert spec.get_params() == {"name": name, **record.hyperparameters}
        for key, default in record.hyperparameters.items():
            assert f"{key}={default!r}" in repr(spec)
            if get_registry().tables()[kind][name].source.startswith(
                    "skdeep.builtins"):
                assert f"``{key}={default!r}``" in spec_type.__doc__
        assert pickle.loads(pickle.dumps(spec)) == spec
        assert clone(spec) == spec


# -- transfer_from and clone --------------------------------------------------
def test_transfer_from_survives_clone_and_cross_validation(data, quiet):
    X, y = data
    donor = MLPClassifier(**SMALL).fit(X, y)
    est = MLPClassifier(transfer_from=donor, frozen_layers=[0], **SMALL)
    assert clone(est).transfer_from is donor
    result = cross_validate(est, X, y, cv=2, return_estimator=True)
    for fitted in result["estimator"]:
        np.testing.assert_array_equal(fitted.coefs_[0], donor.coefs_[0])
    search = GridSearchCV(est, {"alpha": [1e-4, 1e-3]}, cv=2).fit(X, y)
    np.testing.assert_array_equal(search.best_estimator_.coefs_[0],
                                  donor.coefs_[0])
    assert donor.coefs_[0].flags.writeable  # the source is left as it was


def test_unfitted_transfer_source_says_how_to_fix_it(data):
    X, y = data
    with pytest.raises(ValueError, match="not fitted: fit it first, or pass its "
                       "weights as a dict"):
        MLPClassifier(transfer_from=MLPClassifier(), **SMALL).fit(X, y)


def test_transfer_from_another_input_width_names_the_features(data, quiet):
    X, y = data
    donor = MLPClassifier(**SMALL).fit(X, y)
    with pytest.raises(ValueError, match="fitted on 5 features but X has 4") as info:
        MLPClassifier(transfer_from=donor, **SMALL).fit(X[:, :4], y)
    assert "hidden_layer_sizes" not in str(info.value)


# -- plugin errors ------------------------------------------------------------
def _helper(x):
    return 2.0 * x


def _calls_helper(x):
    return _helper(x)


def _returns_text(x, y):
    return "slope"


def _derivative(x, y):
    return 2.0


def _activation_plugin(name, value, derivative):
    class Plugin:
        @hookimpl
        def skdeep_activations(self):
            return [ActivationPlugin(name, value, derivative)]

    return Plugin()


def test_plugin_that_does_not_compile_is_refused_at_register():
    plugin = _activation_plugin("twice_helper", _calls_helper, _derivative)
    with pytest.raises(PluginCompileError) as info:
        register_plugin(plugin, name="helper-plugin")
    message = str(info.value)
    assert len(message.splitlines()) <= 6
    for part in ("'twice_helper'", "'helper-plugin'", "value function",
                 "_calls_helper()", "'_helper'", "register_jitable"):
        assert part in message
    assert "twice_helper" not in get_registry().names("activation")


def _identity(x):
    return x


def _uses_statistics(x, y):
    return statistics.fmean([x, y])


def test_compile_error_names_the_construct_and_the_allowed_subset():
    plugin = _activation_plugin("stats_slope", _identity, _uses_statistics)
    with pytest.raises(PluginCompileError) as info:
        register_plugin(plugin, name="stats-plugin")
    message = str(info.value)
    assert len(message.splitlines()) <= 6
    assert "derivative function _uses_statistics()" in message
    assert "Unknown attribute 'fmean'" in message
    assert "test_adoption.py, line" in message and "statistics.fmean" in message
    assert "math module" in message  # the allowed subset


def test_function_returning_something_else_than_a_number_is_refused():
    plugin = _activation_plugin("text_slope", _identity, _returns_text)
    with pytest.raises(PluginCompileError, match=r"_returns_text\(\) returns "
                       r"\S*str\S*; it must return one number"):
        register_plugin(plugin, name="text-plugin")


def test_update_returning_the_wrong_state_count_is_refused():
    def update(param, grad, s0, lr, t):
        return param - lr * grad  # forgets the state value

    class Plugin:
        @hookimpl
        def skdeep_optimizers(self):
            return [OptimizerPlugin("forgetful", update, n_state=1)]

    with pytest.raises(PluginCompileError, match="tuple of 2 numbers"):
        register_plugin(Plugin(), name="forgetful-plugin")


def test_unchecked_plugin_fails_at_fit_with_the_same_short_error(data):
    X, y = data
    plugin = _activation_plugin("late_helper", _calls_helper, _derivative)
    register_plugin(plugin, name="late-plugin", check=False)
    try:
        with pytest.raises(PluginCompileError, match="'late-plugin'.*'_helper'"):
            MLPClassifier(activation="late_helper", **SMALL).fit(X, y)
    finally:
        get_registry().unregister("late-plugin")


def test_hook_without_hookimpl_is_reported():
    class Plugin:
        def skdeep_activations(self):
            return [ActivationPlugin("unmarked", lambda x: x, _derivative)]

    with pytest.raises(ValueError, match="skdeep_activations without "
                       "@skdeep.hookimpl"):
        register_plugin(Plugin(), name="unmarked-plugin")
    assert "unmarked" not in get_registry().names("activation")


def test_entry_point_hook_without_hookimpl_warns_and_is_dropped(monkeypatch):
    from skdeep._registry import PluginWarning
    from tests.test_registry import _FakeEntryPoint, _registry_with

    module = types.ModuleType("unmarked_module")
    module.skdeep_activations = lambda: [
        ActivationPlugin("unmarked_ep", _identity, _derivative)]
    registry = _registry_with(monkeypatch, [_FakeEntryPoint("ep", module)])
    with pytest.warns(PluginWarning, match="skdeep_activations without "
                      "@skdeep.hookimpl"):
        assert "unmarked_ep" not in registry.names("activation")


# -- hyperparameter bounds ----------------------------------------------------
@pytest.mark.parametrize("spec, error, pattern", [
    (Optimizer("rmsprop", rho=-5.0), ValueError, r"'rho'.*-5.0.*\[0, 1\)"),
    (Optimizer("rmsprop", rho="0.9"), TypeError, "'rho'.*must be a number.*'0.9'"),
    (Optimizer("adam", epsilon=0.0), ValueError, "'epsilon'.*> 0"),
    (Optimizer("rmsprop", rho=float("nan")), ValueError, r"'rho'.*\[0, 1\)"),
])
def test_hyperparameter_outside_its_bounds_is_refused_at_fit(data, spec, error,
                                                             pattern):
    X, y = data
    with pytest.raises(error, match=pattern):
        MLPClassifier(solver=spec, **SMALL).fit(X, y)


def test_every_builtin_hyperparameter_declares_bounds():
    for kind, table in get_registry().tables().items():
        for entry in table.values():
            if entry.source.startswith("skdeep.builtins"):
                assert set(entry.record.bounds) == set(
                    entry.record.hyperparameters), (kind, entry.record.name)


def test_records_refuse_bad_bounds():
    with pytest.raises(ValueError, match="bounds name 'beta'"):
        ActivationPlugin("b", _calls_helper, _derivative, bounds={"beta": (0, 1)})
    with pytest.raises(ValueError, match="default alpha=2.0 is outside.*\\[0, 1\\]"):
        ActivationPlugin("b", lambda x, alpha: x, lambda x, y, alpha: 1.0,
                         {"alpha": 2.0}, bounds={"alpha": (0.0, 1.0)})
    with pytest.raises(ValueError, match="closed one of"):
        ActivationPlugin("b", lambda x, alpha: x, lambda x, y, alpha: 1.0,
                         {"alpha": 0.5}, bounds={"alpha": (0.0, 1.0, "open")})


# -- no silent ignores --------------------------------------------------------
def test_estimator_value_overridden_by_an_optimizer_object_warns(data):
    X, y = data
    with pytest.warns(UserWarning, match=r"beta_1=0.5 has no effect.*solver__beta_1"):
        MLPClassifier(solver=Optimizer("adam"), beta_1=0.5, **SMALL).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", category=skdeep_convergence())
        MLPClassifier(solver="adam", beta_1=0.5, **SMALL).fit(X, y)
        MLPClassifier(solver=Optimizer("adam", beta_1=0.5), beta_1=0.5,
                      **SMALL).fit(X, y)


def skdeep_convergence():
    from sklearn.exceptions import ConvergenceWarning

    return ConvergenceWarning


def test_lbfgs_verbose_prints_every_iteration(data, capsys, quiet):
    X, y = data
    est = MLPClassifier(solver="lbfgs", verbose=True, **SMALL).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    iterations = [line for line in lines if line.startswith("Iteration ")]
    assert len(iterations) == est.n_iter_
    assert float(iterations[-1].split("= ")[1]) == pytest.approx(est.loss_, rel=1e-6)


# -- messages -----------------------------------------------------------------
@pytest.mark.parametrize("param, value, suggestion", [
    ("activation", "rleu", "'relu'"), ("activation", "ReLU", "'relu'"),
    ("solver", "lbgfs", "'lbfgs'"), ("learning_rate", "stpe", "'step'"),
])
def test_near_miss_names_get_a_suggestion(data, param, value, suggestion):
    X, y = data
    with pytest.raises(ValueError, match=f"Did you mean {suggestion}"):
        MLPClassifier(**{param: value}, **SMALL).fit(X, y)


def test_messages_name_no_private_module(data):
    X, y = data
    for bad in ({"learning_rate": 3}, {"solver": 3}, {"activation": 3}):
        with pytest.raises((ValueError, TypeError)) as info:
            MLPClassifier(**bad, **SMALL).fit(X, y)
        assert not re.search(r"skdeep\._", str(info.value)), str(info.value)


def test_stochastic_only_parameter_with_lbfgs_says_how_to_fix_it(data):
    X, y = data
    with pytest.raises(ValueError, match="dropout needs a stochastic solver.*"
                       "Use solver='adam'"):
        MLPClassifier(solver="lbfgs", dropout=0.2, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="callbacks needs a stochastic solver"):
        MLPClassifier(solver="lbfgs", callbacks=[print], **SMALL).fit(X, y)


# -- project files ------------------------------------------------------------
def test_version_comes_from_one_place():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "skdeep.__version__"}
    citation = (ROOT / "CITATION.cff").read_text()
    assert f'version: "{skdeep.__version__}"' in citation


def test_project_files():
    tomllib = pytest.importorskip("tomllib")
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "skdeep-mlp"
    extra = tomllib.loads((ROOT / "plugins/skdeep-extra/pyproject.toml").read_text())
    assert extra["project"]["dependencies"] == ["skdeep-mlp"]


def test_install_hints_use_the_distribution_name():
    files = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"),
             *(ROOT / "skdeep").rglob("*.py")]
    for path in files:
        text = path.read_text()
        assert not re.search(r"pip install [\"']?skdeep(\[|[\"'`\s]|$)", text), path


def test_html_repr_links_the_api_reference():
    html = MLPRegressor()._repr_html_()
    assert ("https://skdeep.readthedocs.io/en/stable/api/generated/"
            "skdeep.MLPRegressor.html") in html
