"""ONNX export coverage: activation x target type x dtype.

For every registered hidden activation (installed plugins included), every
target type and float32 and float64, fits a small network (8-6 hidden
units, 15 epochs, 120 rows of 5 standardized features, ``batch_norm`` on
the second hidden layer), exports it with :func:`skdeep.onnx.to_onnx`
(``zipmap=False``) and runs it in onnxruntime on the training rows.

Each cell is the largest relative difference between onnxruntime and
skdeep: ``|onnx - skdeep| / |skdeep|`` over all probabilities
(``predict_proba``) for the classifiers, and ``|onnx - skdeep| /
max|skdeep|`` over all predictions for the regressors (whose outputs cross
zero). A cell is marked ``!`` when a classifier's ONNX label differs from
``predict`` on any row, and holds the error's type when export failed.

Run ``python benchmarks/onnx_coverage.py [--out DIR]``; it prints Markdown
tables and writes ``DIR/onnx_coverage.md`` (default
``benchmarks/results``).
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

TARGETS = ("binary", "multiclass", "multilabel", "regression", "multioutput",
           "poisson")


def make_targets(X):
    """The six target types from the first three features."""
    a, b, c = X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0.5
    return {
        "binary": np.where(a, "yes", "no"),
        "multiclass": np.array(["red", "green", "blue"])[a.astype(int) + b],
        "multilabel": np.c_[a, b, c].astype(int),
        "regression": X[:, 0] * 2 - X[:, 1] * X[:, 2],
        "multioutput": np.c_[X[:, 0], np.sin(X[:, 1])],
        "poisson": np.exp(X[:, 0] / 2),
    }


def cell(activation, target, dtype, X, y):
    """(max relative difference, labels equal) of one configuration."""
    import onnxruntime as ort

    from skdeep import MLPClassifier, MLPRegressor
    from skdeep.onnx import to_onnx

    X = X.astype(dtype)
    common = dict(hidden_layer_sizes=(8, 6), activation=activation,
                  batch_norm=(False, True), max_iter=15, random_state=0)
    if target in ("binary", "multiclass", "multilabel"):
        model = MLPClassifier(**common).fit(X, y)
    else:
        model = MLPRegressor(loss="poisson" if target == "poisson" else "squared_error",
                             **common).fit(X, y)
    options = {"zipmap": False} if isinstance(model, MLPClassifier) else {}
    session = ort.InferenceSession(to_onnx(model, X[:1], **options).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: X})
    if isinstance(model, MLPClassifier):
        label, proba = outputs
        expected = model.predict_proba(X)
        rel = np.max(np.abs(proba - expected) / np.abs(expected))
        return float(rel), bool(np.array_equal(label, model.predict(X)))
    expected = model.predict(X).reshape(len(X), -1)
    rel = np.max(np.abs(outputs[0] - expected)) / np.max(np.abs(expected))
    return float(rel), True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    from sklearn.exceptions import ConvergenceWarning

    from skdeep._registry import get_registry

    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5)
    targets = make_targets(X)
    activations = get_registry().names("activation")
    lines = []
    worst = {}
    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        lines += [f"\n### {np.dtype(dtype).name}\n",
                  "| activation | " + " | ".join(TARGETS) + " |",
                  "|---" * (len(TARGETS) + 1) + "|"]
        for activation in activations:
            row = []
            for target in TARGETS:
                try:
                    rel, same = cell(activation, target, dtype, X, targets[target])
                except Exception as exc:  # report, keep measuring
                    row.append(type(exc).__name__)
                    continue
                worst[dtype] = max(worst.get(dtype, 0.0), rel)
                row.append(f"{rel:.1e}" + ("" if same else " !"))
            lines.append(f"| {activation} | " + " | ".join(row) + " |")
    lines.append("")
    for dtype, value in worst.items():
        lines.append(f"Largest relative difference, {np.dtype(dtype).name}: {value:.2e}")
    lines.append(f"({len(activations) * len(TARGETS) * 2} configurations in "
                 f"{time.perf_counter() - start:.0f} s)")
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "onnx_coverage.md").write_text(
        "# ONNX export coverage\n\nMax relative difference between onnxruntime "
        "and skdeep (`python benchmarks/onnx_coverage.py`).\n" + text + "\n")


if __name__ == "__main__":
    main()
