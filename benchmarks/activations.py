"""Per-epoch training time of each built-in hidden-layer activation.

Trains float32 and float64 networks with every built-in activation
(sklearn's ``MLPClassifier`` beside it for the four it has: identity,
logistic, tanh, relu) on three problems:

* small: 64-64-64-5, batch 32, 20,000 rows of random features and labels
  (W2's shape);
* wide: 784-512-512-10, batch 512, 12,000 random rows (W1's shape, fewer
  rows);
* digits: sklearn's digits (``X / 16``, all 1,797 rows), 64-64-10, default
  batch (200), 60 epochs per fit.

Each fit runs exactly its number of epochs (``tol=0``, ``n_iter_no_change``
above ``max_iter``); s/epoch is its wall time over ``n_iter_``, so ratios
are those of whole fits. Every configuration is fitted once first
(compilation excluded), then the repeats fit all of them one after another,
interleaved. The table gives the median per-epoch time, the ratio to ReLU in
the same library and dtype, and sklearn's time over skdeep's where sklearn
has the activation.

Run ``python benchmarks/activations.py [--repeats 3] [--epochs N]
[--problems small,wide,digits] [--dtypes float32,float64]
[--activations tanh,relu,...] [--out DIR]``; ``--epochs`` overrides every
problem's default (2, 2, 60). It prints a Markdown table and writes
``DIR/activations.md`` (default ``benchmarks/results``).
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np

SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
PROBLEMS = {
    "small": {"n_features": 64, "hidden": (64, 64), "n_classes": 5,
              "batch_size": 32, "rows": 20_000, "epochs": 2},
    "wide": {"n_features": 784, "hidden": (512, 512), "n_classes": 10,
             "batch_size": 512, "rows": 12_000, "epochs": 2},
    "digits": {"n_features": 64, "hidden": (64,), "n_classes": 10,
               "batch_size": "auto", "rows": 1797, "epochs": 60},
}


def _data(name, problem, rng, dtype):
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return (X / 16).astype(dtype), y
    X = rng.standard_normal((problem["rows"], problem["n_features"])).astype(dtype)
    return X, rng.integers(0, problem["n_classes"], problem["rows"])


def _fit_time(estimator_class, activation, problem, X, y, epochs):
    model = estimator_class(
        problem["hidden"], activation=activation, batch_size=problem["batch_size"],
        max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1, random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return (time.perf_counter() - start) / model.n_iter_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per fit (default: 2, 2 and 60 by problem)")
    parser.add_argument("--problems", default="small,wide,digits")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--activations", default=None,
                        help="comma-separated subset (default: every built-in)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()

    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from skdeep import MLPClassifier, list_plugins

    activations = [row["name"] for row in list_plugins("activation")
                   if row["source"].startswith("skdeep.builtins")]
    if args.activations:
        activations = [a for a in args.activations.split(",") if a in activations]
    command = " ".join(["python benchmarks/activations.py", f"--repeats {args.repeats}"]
                       + [f"--{k} {v}" for k, v in (
                           ("epochs", args.epochs), ("problems", args.problems),
                           ("dtypes", args.dtypes), ("activations", args.activations))
                          if v is not None])
    lines = [
        "# Per-epoch time by activation",
        "",
        f"`{command}`; medians of {args.repeats} interleaved repeats, "
        "compilation excluded. Random features and labels except digits "
        "(timing only).",
        "",
    ]
    for name in args.problems.split(","):
        problem = PROBLEMS[name]
        epochs = args.epochs or problem["epochs"]
        for dtype_name in args.dtypes.split(","):
            lines += _problem_table(name, problem, np.dtype(dtype_name), epochs,
                                    activations, args.repeats, MLPClassifier,
                                    SklearnMLP)
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "activations.md"), "w") as fh:
        fh.write(text)


def _problem_table(name, problem, dtype, epochs, activations, repeats,
                   MLPClassifier, SklearnMLP):
    """Time one problem in one dtype; return its Markdown table's lines."""
    X, y = _data(name, problem, np.random.default_rng(0), dtype)
    runs = [("skdeep", MLPClassifier, a) for a in activations]
    runs += [("sklearn", SklearnMLP, a) for a in SKLEARN_ACTIVATIONS
             if a in activations]
    times = {(library, activation): [] for library, _, activation in runs}
    for _, cls, activation in runs:  # warm-up: compile, caches
        _fit_time(cls, activation, problem, X[:2000], y[:2000], 1)
    for _ in range(repeats):
        for library, cls, activation in runs:
            times[library, activation].append(
                _fit_time(cls, activation, problem, X, y, epochs))
    median = {key: statistics.median(values) for key, values in times.items()}
    sizes = "-".join(str(s) for s in (problem["n_features"], *problem["hidden"],
                                      problem["n_classes"]))
    relu = median.get(("skdeep", "relu"))
    lines = [
        f"## {name}, {dtype.name}: {sizes}, batch {problem['batch_size']}, "
        f"{len(X)} rows, {epochs} epochs per fit",
        "",
        "| activation | skdeep ms/epoch | vs skdeep relu | sklearn ms/epoch "
        "| sklearn / skdeep |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for activation in activations:
        ours = median["skdeep", activation]
        theirs = median.get(("sklearn", activation))
        lines.append(
            f"| {activation} | {ours * 1e3:.2f} | "
            + (f"{ours / relu:.2f} | " if relu else "- | ")
            + (f"{theirs * 1e3:.2f} | {theirs / ours:.2f}x |" if theirs else "- | - |"))
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
