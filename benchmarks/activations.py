"""Per-epoch training time of each built-in hidden-layer activation.

Trains float32 networks with every built-in activation (sklearn's
``MLPClassifier`` beside it for the four it has: identity, logistic, tanh,
relu) on two synthetic problems of random features and labels:

* small: 64-64-64-5, batch 32, 20,000 rows (W2's shape);
* wide: 784-512-512-10, batch 512, 12,000 rows (W1's shape, fewer rows).

Each fit runs exactly ``--epochs`` epochs (``tol=0``, ``n_iter_no_change``
above ``max_iter``); s/epoch is its wall time over ``n_iter_``. Every
configuration is fitted once first (compilation excluded), then the repeats
fit all of them one after another, interleaved. The table gives the median
per-epoch time, the ratio to ReLU in the same library, and sklearn's time
over skdeep's where sklearn has the activation.

Run ``python benchmarks/activations.py [--repeats 3] [--epochs 2]
[--out DIR]``; it prints a Markdown table and writes ``DIR/activations.md``
(default ``benchmarks/results``).
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
              "batch_size": 32, "rows": 20_000},
    "wide": {"n_features": 784, "hidden": (512, 512), "n_classes": 10,
             "batch_size": 512, "rows": 12_000},
}


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
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()

    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from skdeep import MLPClassifier, list_plugins

    activations = [row["name"] for row in list_plugins("activation")
                   if row["source"].startswith("skdeep.builtins")]
    rng = np.random.default_rng(0)
    lines = [
        "# Per-epoch time by activation (float32)",
        "",
        f"`python benchmarks/activations.py --repeats {args.repeats} --epochs "
        f"{args.epochs}`; medians of {args.repeats} interleaved repeats, "
        f"{args.epochs} epochs per fit, compilation excluded. Random features "
        "and labels (timing only).",
        "",
    ]
    for name, problem in PROBLEMS.items():
        X = rng.standard_normal((problem["rows"], problem["n_features"])).astype(np.float32)
        y = rng.integers(0, problem["n_classes"], problem["rows"])
        runs = [("skdeep", MLPClassifier, a) for a in activations]
        runs += [("sklearn", SklearnMLP, a) for a in SKLEARN_ACTIVATIONS]
        times = {(library, activation): [] for library, _, activation in runs}
        for _, cls, activation in runs:  # warm-up: compile, caches
            _fit_time(cls, activation, problem, X[:2000], y[:2000], 1)
        for _ in range(args.repeats):
            for library, cls, activation in runs:
                times[library, activation].append(
                    _fit_time(cls, activation, problem, X, y, args.epochs))
        median = {key: statistics.median(values) for key, values in times.items()}
        sizes = "-".join(str(s) for s in (problem["n_features"], *problem["hidden"],
                                          problem["n_classes"]))
        lines += [
            f"## {name}: {sizes}, batch {problem['batch_size']}, {problem['rows']} rows",
            "",
            "| activation | skdeep ms/epoch | vs skdeep relu | sklearn ms/epoch "
            "| sklearn / skdeep |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for activation in activations:
            ours = median["skdeep", activation]
            theirs = median.get(("sklearn", activation))
            lines.append(
                f"| {activation} | {ours * 1e3:.1f} | "
                f"{ours / median['skdeep', 'relu']:.2f} | "
                + (f"{theirs * 1e3:.1f} | {theirs / ours:.2f}x |" if theirs else "- | - |"))
        lines.append("")
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "activations.md"), "w") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
