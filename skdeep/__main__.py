"""Command line: ``python -m skdeep demo`` and ``python -m skdeep plugins``."""

from __future__ import annotations

import argparse
import sys
import time

_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SKLEARN_SOLVERS = ("lbfgs", "sgd", "adam")


def _demo(args):
    import warnings

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    from skdeep import MLPClassifier
    from skdeep._registry import get_registry

    X, y = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X).astype(np.float32)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    print(f"skdeep demo: digits, {X_train.shape[0]} training and "
          f"{X_test.shape[0]} test samples, {X.shape[1]} features, 10 classes")
    print(f"network 64-{args.hidden}-10, activation={args.activation}, "
          f"solver={args.solver}, {args.epochs} epochs (float32)")
    clf = MLPClassifier(
        hidden_layer_sizes=(args.hidden,), activation=args.activation,
        solver=args.solver, random_state=0,
        learning_rate_init=args.learning_rate,
    )
    classes = np.unique(y)
    full_batch = get_registry().get("optimizer", args.solver).full_batch
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if full_batch:
            # L-BFGS has no epochs to report: one fit of up to --epochs
            # iterations.
            clf.set_params(max_iter=args.epochs).fit(X_train, y_train)
            first = time.perf_counter() - start
            print(f"  {clf.n_iter_} iterations  loss {clf.loss_:.4f}")
        for epoch in range(1, 0 if full_batch else args.epochs + 1):
            # One compiled epoch per call; the optimizer state carries over.
            clf.partial_fit(X_train, y_train, classes=classes)
            if epoch == 1:
                first = time.perf_counter() - start
            if epoch == 1 or epoch % max(1, args.epochs // 10) == 0:
                print(f"  epoch {epoch:4d}  loss {clf.loss_:.4f}  "
                      f"test accuracy {clf.score(X_test, y_test):.4f}")
    total = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(f"test accuracy {accuracy:.4f}")
    what = "fit" if full_batch else "first epoch"
    print(f"time {total:.2f} s ({what} {first:.2f} s, including "
          "compilation or loading compiled kernels from the cache)")
    missing = [f"{name}={value!r}" for name, value, known in (
        ("activation", args.activation, _SKLEARN_ACTIVATIONS),
        ("solver", args.solver, _SKLEARN_SOLVERS)) if value not in known]
    if args.compare and missing:
        print(f"sklearn's MLPClassifier has no {' or '.join(missing)}: "
              "no comparison.")
    elif args.compare:
        from sklearn.neural_network import MLPClassifier as SkMLP

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = SkMLP(hidden_layer_sizes=(args.hidden,), activation=args.activation,
                        solver=args.solver, max_iter=args.epochs, random_state=0,
                        learning_rate_init=args.learning_rate,
                        n_iter_no_change=args.epochs).fit(X_train, y_train)
        print(f"sklearn MLPClassifier: test accuracy "
              f"{ref.score(X_test, y_test):.4f}, time "
              f"{time.perf_counter() - start:.2f} s")
    return 0


def _plugins(args):
    from skdeep import list_plugins
    from skdeep._registry import plural

    rows = list_plugins(args.kind)
    kind = None
    for row in rows:
        if row["kind"] != kind:
            kind = row["kind"]
            print(f"{plural(kind)}:")
        hp = ", ".join(f"{k}={v:g}" for k, v in row["hyperparameters"].items())
        hp = f" ({hp})" if hp else ""
        print(f"  {row['name']}{hp}")
        if row["description"]:
            print(f"      {row['description']}")
        print(f"      from {row['source']}")
    return 0


def main(argv=None):
    """Entry point of ``python -m skdeep``."""
    parser = argparse.ArgumentParser(prog="python -m skdeep")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train on the digits data set")
    demo.add_argument("--epochs", type=int, default=50)
    demo.add_argument("--hidden", type=int, default=100)
    demo.add_argument("--activation", default="relu")
    demo.add_argument("--solver", default="adam")
    demo.add_argument("--learning-rate", type=float, default=1e-3)
    demo.add_argument("--compare", action="store_true",
                      help="also fit sklearn's MLPClassifier for comparison")
    demo.set_defaults(func=_demo)
    plugins = sub.add_parser("plugins", help="list registered plugins")
    plugins.add_argument("--kind", choices=["activation", "optimizer",
                                            "initializer", "regularizer",
                                            "loss"])
    plugins.set_defaults(func=_plugins)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
