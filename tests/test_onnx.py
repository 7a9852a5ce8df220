"""ONNX export: onnxruntime against predict/predict_proba, and the
translation of plugin scalar functions against the functions themselves."""

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from numba import njit  # noqa: E402
from numba.extending import register_jitable  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skdeep import (  # noqa: E402
    Activation,
    MLPClassifier,
    MLPRegressor,
    hookimpl,
    register_plugin,
)
from skdeep._onnx_translate import activation_nodes  # noqa: E402
from skdeep._registry import get_registry  # noqa: E402
from skdeep.onnx import OnnxTranslationError, register_converters, to_onnx  # noqa: E402
from skdeep.plugin_types import ActivationPlugin  # noqa: E402

EXTRA = Path(__file__).resolve().parents[1] / "plugins" / "skdeep-extra"
# float32: 1e-5 relative on probabilities and predictions; float64 near
# machine precision.
RTOL = {np.float32: 1e-5, np.float64: 1e-13}
ATOL = {np.float32: 1e-7, np.float64: 1e-15}


# Every registered activation, and the example third-party package's
# softsign even where that package is not installed.
ACTIVATIONS = sorted({*get_registry().names("activation"), "softsign"})


@pytest.fixture(scope="module", autouse=True)
def _extra_plugins():
    """skdeep-extra's plugins: from its entry point when installed, else
    registered from the source tree for this module's tests."""
    if "softsign" in get_registry().names("activation"):
        yield
        return
    sys.path.insert(0, str(EXTRA))
    try:
        import skdeep_extra
    finally:
        sys.path.remove(str(EXTRA))
    name = register_plugin(skdeep_extra, name="skdeep-extra-onnx-test")
    yield
    get_registry().unregister(name)


def _session(model_proto):
    return ort.InferenceSession(model_proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def _run(model_proto, X):
    session = _session(model_proto)
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(48, 4) * 2 + 1
    return X


def _assert_close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


# -- every activation, both dtypes --------------------------------------------
@pytest.fixture(scope="module")
def labels(data):
    return np.array(["low", "mid", "high"])[(data[:, 0] > 1).astype(int)
                                            + (data[:, 1] > 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_matches_predict_proba(activation, dtype, data, labels):
    X = data.astype(dtype)
    clf = MLPClassifier((6, 5), activation=activation, max_iter=15,
                        random_state=0).fit(X, labels)
    label, proba = _run(to_onnx(clf, X[:1], zipmap=False), X)
    assert proba.dtype == dtype
    _assert_close(proba, clf.predict_proba(X), dtype)
    np.testing.assert_array_equal(label, clf.predict(X))


# -- target types ----------------------------------------------------------------
def _targets(X):
    return {
        "binary": np.where(X[:, 0] > 1, "yes", "no"),
        "multiclass": (X[:, 0] > 1).astype(int) * 7 + (X[:, 1] > 1) * 3,
        "multilabel": np.c_[X[:, 0] > 1, X[:, 1] > 1, X[:, 2] > 0].astype(int),
    }


@pytest.fixture(scope="module")
def classifiers(data):
    fitted = {}
    with warnings.catch_warnings():  # module-scoped fits
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in (np.float32, np.float64):
            X = data.astype(dtype)
            for kind, y in _targets(data).items():
                fitted[kind, dtype] = MLPClassifier(
                    (5,), activation="swish", batch_norm=True, dropout=0.2,
                    input_noise=0.1, mixup_alpha=0.2, max_iter=10, random_state=0,
                ).fit(X, y)
    return fitted


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_classifier_targets(kind, dtype, classifiers, data):
    # Batch norm at inference; dropout, noise and mixup leave no trace.
    clf = classifiers[kind, dtype]
    X = data.astype(dtype)
    label, proba = _run(to_onnx(clf, X[:1], zipmap=False), X)
    _assert_close(proba, clf.predict_proba(X), dtype)
    np.testing.assert_array_equal(label, clf.predict(X))
    if kind == "multilabel":
        assert label.shape == (len(X), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zipmap_outputs_as_skl2onnx_gives_them(dtype, classifiers, data):
    clf = classifiers["binary", dtype]
    X = data.astype(dtype)
    label, zipped = _run(to_onnx(clf, X[:1]), X)  # zipmap=True by default
    np.testing.assert_array_equal(label, clf.predict(X))
    assert set(zipped[0]) == {"no", "yes"}
    # ZipMap takes float32: float64 graphs cast the probabilities for it.
    proba = np.array([[row["no"], row["yes"]] for row in zipped])
    _assert_close(proba, clf.predict_proba(X).astype(np.float32), np.float32)
    columns = _run(to_onnx(clf, X[:1], zipmap="columns"), X)
    _assert_close(np.c_[columns[1], columns[2]], clf.predict_proba(X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["single", "multi", "poisson"])
def test_regressor_targets(case, dtype, data):
    X = data.astype(dtype)
    y = {"single": X[:, 0] * 2 - X[:, 1],
         "multi": np.c_[X[:, 0], X[:, 1] * X[:, 2]],
         "poisson": np.exp(X[:, 0] / 3)}[case]
    reg = MLPRegressor(loss="poisson" if case == "poisson" else "squared_error",
                       hidden_layer_sizes=(6,), activation="mish", max_iter=15,
                       random_state=0).fit(X, y)
    (pred,) = _run(to_onnx(reg, X[:1]), X)
    assert pred.dtype == dtype and pred.shape == (len(X), reg.n_outputs_)
    _assert_close(pred, reg.predict(X).reshape(len(X), -1), dtype)


# -- composites, per-layer activations, learned slopes --------------------------
def test_pipeline_and_direct_skl2onnx_use(data, labels):
    import skl2onnx

    X = data.astype(np.float32)
    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier((6, 4, 5),
                      activation=("gelu", Activation("leaky_relu", alpha=0.2),
                                  "prelu"),
                      batch_norm=(True, False, True), max_iter=15, random_state=0),
    ).fit(X, labels)
    slopes = pipe[-1].activation_params_[2]
    assert not np.allclose(slopes, 0.25)  # PReLU's slopes were learned
    label, proba = _run(to_onnx(pipe, X[:1], zipmap=False), X)
    _assert_close(proba, pipe.predict_proba(X), np.float32)
    np.testing.assert_array_equal(label, pipe.predict(X))

    register_converters()
    direct = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    _assert_close(_run(direct, X)[1], pipe.predict_proba(X), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_matches_predict(dtype, data, labels):
    X = data.astype(dtype)
    clf = MLPClassifier((6, 5), activation="tanh", layer_norm=True,
                        layer_norm_epsilon=1e-3, max_iter=15,
                        random_state=0).fit(X, labels)
    assert not np.allclose(clf.ln_scales_[1], 1.0)
    for opset in (13, 18):  # ReduceMean changed at 18; the export uses neither
        label, proba = _run(to_onnx(clf, X[:1], zipmap=False,
                                    target_opset=opset), X)
        _assert_close(proba, clf.predict_proba(X), dtype)
        np.testing.assert_array_equal(label, clf.predict(X))
    # a regressor mixing the two normalizations
    reg = MLPRegressor(hidden_layer_sizes=(5, 4), batch_norm=(True, False),
                       layer_norm=(False, True),
                       max_iter=15, random_state=0).fit(X, X[:, 0] - X[:, 1])
    (prediction,) = _run(to_onnx(reg, X[:1]), X)
    _assert_close(prediction.ravel(), reg.predict(X), dtype)


def test_dataframe_sample_and_old_opset(classifiers, data):
    pd = pytest.importorskip("pandas")
    clf = classifiers["multiclass", np.float64]
    frame = pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])])
    onx = to_onnx(clf, frame[:1], zipmap=False)  # one matrix input
    assert [i.name for i in onx.graph.input] == ["X"]
    _assert_close(_run(onx, data)[1], clf.predict_proba(data), np.float64)
    with pytest.raises(ValueError, match="target_opset >= 13, got 12"):
        to_onnx(clf, data[:1], target_opset=12)


def test_unknown_keyword_is_refused(classifiers, data):
    clf = classifiers["binary", np.float32]
    with pytest.raises(TypeError, match="zipmapp"):
        to_onnx(clf, data[:1].astype(np.float32), zipmapp=False)


def test_search_and_ensembles(data, labels):
    from sklearn.ensemble import StackingClassifier, VotingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV

    X = data.astype(np.float32)
    search = GridSearchCV(MLPClassifier((4,), max_iter=5, random_state=0),
                          {"activation": ["gelu", "elu"]}, cv=2).fit(X, labels)
    # zipmap=False reaches the fitted best_estimator_, not the template.
    label, proba = _run(to_onnx(search, X[:1], zipmap=False), X)
    _assert_close(proba, search.predict_proba(X), np.float32)
    np.testing.assert_array_equal(label, search.predict(X))

    stack = StackingClassifier([
        ("mlp", MLPClassifier((4,), activation="selu", max_iter=5, random_state=0)),
        ("lr", LogisticRegression())]).fit(X, labels)
    label, proba = _run(to_onnx(stack, X[:1], zipmap=False), X)
    _assert_close(proba, stack.predict_proba(X), np.float32)
    np.testing.assert_array_equal(label, stack.predict(X))

    vote = VotingRegressor([
        ("mlp", MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)),
        ("ridge", Ridge())]).fit(X, X[:, 0] * 3)
    (pred,) = _run(to_onnx(vote, X[:1]), X)
    _assert_close(pred.ravel(), vote.predict(X), np.float32)


def test_unfitted_model_is_refused(data):
    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier(), data[:1].astype(np.float32))


def test_import_skdeep_does_not_import_onnx():
    code = ("import sys, skdeep; "
            "assert not {'onnx', 'skl2onnx', 'onnxruntime'} & set(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[1])


# -- the translator, function by function ------------------------------------------
class _Recorder:
    """Stands in for skl2onnx's scope and container."""

    target_opset = 17

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def get_unique_variable_name(self, seed):
        self.count += 1
        return f"{seed}_{self.count}"

    get_unique_operator_name = get_unique_variable_name

    def add_node(self, op_type, inputs, outputs, op_domain="", name=None, **attrs):
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name,
                                           domain=op_domain, **attrs))

    def add_initializer(self, name, onnx_type, shape, content):
        if isinstance(content, TensorProto):
            tensor = TensorProto()
            tensor.CopyFrom(content)
            tensor.name = name
        else:
            tensor = helper.make_tensor(name, onnx_type, shape, content)
        self.initializers.append(tensor)


def _translated(fn, x, hyperparameters=(), learned=None, dtype=np.float64):
    """Evaluate the ONNX translation of scalar function ``fn`` over ``x``."""
    from skdeep._onnx_translate import OnnxGraph

    names = [f"h{i}" for i in range(len(hyperparameters))]
    learnable = None
    if learned is not None:
        names.append("p")
        learnable = "p"
    record = ActivationPlugin(
        "under_test", fn, lambda x, y, *h: 0.0,
        dict(zip(names, [*hyperparameters, 1.0][:len(names)], strict=True)),
        learnable=learnable,
        parameter_derivative=(lambda x, y, *h: 0.0) if learned is not None else None)
    recorder = _Recorder()
    graph = OnnxGraph(recorder, recorder, dtype)
    proto = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    slope = graph.initializer(np.asarray(learned, dtype)) if learned is not None else None
    out = activation_nodes(graph, record, dict(record.hyperparameters), "x", slope)
    model = helper.make_model(
        helper.make_graph(recorder.nodes, "f",
                          [helper.make_tensor_value_info("x", proto, [None, None])],
                          [helper.make_tensor_value_info(out, proto, [None, None])],
                          recorder.initializers),
        opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return _session(model).run(None, {"x": np.asarray(x, dtype)})[0]


_OFFSET = 0.25


def branchy(x, a):
    """Early returns, elif, merged assignments, chained comparisons."""
    if x > 1.0:
        return a * x
    elif x < -1.0 and not x < -3.0:
        y = -x
    else:
        y = x * x
    y += _OFFSET
    return min(y, 2.0) if 0.0 <= y <= 1.5 else max(abs(x), 0.5, y)


def mathy(x):
    z = x * 0.5
    return (math.expm1(z * 1e-3) + math.log1p(abs(z) * 1e-4) + math.sqrt(z * z + 1)
            + math.tanh(z) + math.erf(z) + math.log2(abs(z) + 1)
            + math.log(abs(z) + 2, 3) + z ** 3 / 10 + z // 2 + z % 1.5
            + math.exp(-z * z) + float(z > 0) + math.pi)


@register_jitable
def _helper(v, k=2.0):
    return v * k if v > 0 else v / k


@njit
def _jitted(v, k):
    return -v * k


def inlined(x):
    return _helper(x) + _jitted(x, k=3.0) + _helper(x, 0.5)


def _scaled(scale):
    def closure(x):
        return scale * x - 1
    return closure


GRID = np.array([[-40.0, -3.5, -2.0, -1.0, -0.5, -1e-9, 0.0, 1e-9, 0.3, 1.0,
                  1.7, 2.5, 6.0, 40.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn, hyperparameters", [
    (branchy, (0.7,)), (mathy, ()), (inlined, ()), (_scaled(1.5), ()),
])
def test_translation_matches_python(fn, hyperparameters, dtype):
    expected = np.vectorize(lambda v: fn(v, *hyperparameters))(GRID)
    actual = _translated(fn, GRID, hyperparameters, dtype=dtype)
    np.testing.assert_allclose(actual, expected.astype(dtype),
                               rtol=1e-6 if dtype == np.float32 else 1e-13,
                               atol=1e-6 if dtype == np.float32 else 1e-13)


TWO_LAMBDAS = (lambda v: v * 2.0, lambda v: v - 1.0 if v > 0 else -v)  # noqa: E731


@pytest.mark.parametrize("index", [0, 1])
def test_lambdas_sharing_a_line(index):
    fn = TWO_LAMBDAS[index]
    np.testing.assert_allclose(_translated(fn, GRID), np.vectorize(fn)(GRID))


def test_learned_parameter_is_per_unit():
    def leaky(x, slope):
        return x if x > 0 else slope * x

    x = np.array([[-2.0, -2.0, 3.0], [-1.0, 0.5, -4.0]])
    slopes = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(_translated(leaky, x, learned=slopes),
                               np.where(x > 0, x, slopes * x))


def test_expm1_log1p_erf_are_accurate():
    x = np.array([np.r_[-np.logspace(-12, 1.5, 40), 0.0, np.logspace(-12, 1.5, 40)]])
    np.testing.assert_allclose(_translated(lambda v: math.expm1(v), x),
                               np.expm1(x), rtol=4e-16)
    positive = np.abs(x)
    np.testing.assert_allclose(_translated(lambda v: math.log1p(v), positive),
                               np.log1p(positive), rtol=4e-16)
    # float64 erf is composed from exp and arithmetic (onnxruntime's Erf
    # is float32 only).
    x = np.array([np.linspace(-7, 7, 2801)])
    expected = np.vectorize(math.erf)(x)
    np.testing.assert_allclose(_translated(lambda v: math.erf(v), x), expected,
                               rtol=2e-15, atol=1e-300)


def looping(x):
    total = 0.0
    for _ in range(3):
        total += x
    return total


def gamma(x):
    return math.gamma(abs(x) + 1.0)


@pytest.mark.parametrize("fn, construct", [
    (looping, "For"), (gamma, "'gamma'"),
])
def test_untranslatable_construct_is_named(fn, construct):
    with pytest.raises(OnnxTranslationError) as info:
        _translated(fn, GRID)
    message = str(info.value)
    assert "activation 'under_test'" in message and construct in message
    assert fn.__name__ in message and "onnx= builder" in message


class _LoopPlugins:
    @hookimpl
    def skdeep_activations(self):
        derivative = lambda x, y: 3.0  # noqa: E731
        return [
            ActivationPlugin("triple_loop", looping, derivative),
            ActivationPlugin("triple_built", looping, derivative,
                             onnx=lambda graph, x: graph.op("Mul", x, 3.0)),
        ]


@pytest.fixture(scope="module")
def loop_plugins():
    name = register_plugin(_LoopPlugins(), name="onnx-test-loop-plugins")
    yield
    get_registry().unregister(name)


def test_plugin_builder_and_untranslatable_plugin(loop_plugins, data, labels):
    X = data.astype(np.float32)
    refused = MLPClassifier((4,), activation="triple_loop", max_iter=5,
                            random_state=0).fit(X, labels)
    with pytest.raises(OnnxTranslationError, match="activation 'triple_loop'.*For"):
        to_onnx(refused, X[:1])
    built = MLPClassifier((4,), activation="triple_built", max_iter=5,
                          random_state=0).fit(X, labels)
    _, proba = _run(to_onnx(built, X[:1], zipmap=False), X)
    _assert_close(proba, built.predict_proba(X), np.float32)


def test_builder_must_return_a_tensor_name():
    def bad_builder(graph, x):
        return 3.0

    record = ActivationPlugin("bad", lambda x: x, lambda x, y: 1.0, onnx=bad_builder)
    with pytest.raises(OnnxTranslationError, match="onnx builder of activation 'bad'"):
        activation_nodes(None, record, {}, "x")
    with pytest.raises(ValueError, match="onnx is called as onnx\\(graph, x, alpha\\)"):
        ActivationPlugin("bad", lambda x, alpha: x, lambda x, y, alpha: 1.0,
                         {"alpha": 1.0}, onnx=bad_builder)
