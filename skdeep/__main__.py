"""Command line: ``python -m skdeep`` (or ``skdeep``) ``demo``, ``plugins``,
``compile``."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
import time
import warnings

_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_SKLEARN_SOLVERS = ("lbfgs", "sgd", "adam")
_KINDS = ("activation", "optimizer", "initializer", "regularizer", "loss")


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line (exit status 2, as argparse)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a list of layer widths; give positive integers "
            "separated by commas, e.g. 100 or 64,32")
    return sizes


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a positive {kind.__name__}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _plugin_name(kind):
    """An argparse type accepting the names registered for ``kind``."""
    def parse(text):
        from skdeep._registry import get_registry

        names = get_registry().names(kind)
        if text in names:
            return text
        close = difflib.get_close_matches(text, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise argparse.ArgumentTypeError(
            f"unknown {kind} {text!r}{hint} (available: {', '.join(names)})")
    parse.__name__ = kind
    return parse


@contextlib.contextmanager
def _say_if_compiling(what):
    """Print, once, that kernels are compiling, when they start to.

    Numba sets its compiler up before it compiles and never to load from
    the cache, so that set-up is the signal (a warm cache prints nothing).
    """
    try:
        from numba.core.base import BaseContext
    except ImportError:  # another Numba layout: say nothing
        yield
        return
    original = BaseContext.refresh
    said = []

    def refresh(self):
        if not said:
            said.append(True)
            print(f"  compiling {what} (once per environment; this takes a "
                  "while, see `python -m skdeep compile`)...", flush=True)
        return original(self)

    BaseContext.refresh = refresh
    try:
        yield
    finally:
        BaseContext.refresh = original


def _fit_seconds(estimator, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def _demo(args):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    from skdeep import MLPClassifier
    from skdeep._registry import get_registry
    from skdeep._warmup import prepare

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(args.dtype)
    X_test = scaler.transform(X_test).astype(args.dtype)
    full_batch = get_registry().get("optimizer", args.solver).full_batch
    # Every epoch runs (no early stop on the training loss), so both
    # libraries do the same work; the rest is MLPClassifier's defaults.
    params = dict(hidden_layer_sizes=args.hidden, activation=args.activation,
                  solver=args.solver, learning_rate_init=args.learning_rate,
                  max_iter=args.epochs, n_iter_no_change=args.epochs,
                  random_state=0)
    shape = "-".join(str(n) for n in (X.shape[1], *args.hidden, 10))
    print(f"skdeep demo: digits, {X_train.shape[0]} training and "
          f"{X_test.shape[0]} test samples, StandardScaler, {args.dtype}")
    print(f"network {shape}, activation={args.activation}, solver={args.solver}, "
          f"{args.epochs} {'iterations' if full_batch else 'epochs'}")

    clf = MLPClassifier(**params)
    with _say_if_compiling(f"skdeep's {args.dtype} kernels"):
        prepare_s = prepare(clf, args.dtype)
    print(f"kernels ready in {prepare_s:.2f} s (compiled once per environment, "
          "loaded once per process; not part of the fit times below)")

    fit_s = _fit_seconds(clf, X_train, y_train)
    unit = "iterations" if full_batch else "epochs"
    # L-BFGS keeps no loss curve (as in sklearn): its final loss only.
    curve = getattr(clf, "loss_curve_", [clf.loss_])
    step = max(1, len(curve) // 5)
    for i in [*range(0, len(curve) - 1, step), len(curve) - 1]:
        label = f"epoch {i + 1:4d}" if not full_batch else f"after {clf.n_iter_} {unit}"
        print(f"  {label}  loss {curve[i]:.4f}")
    print(f"skdeep  MLPClassifier: test accuracy {clf.score(X_test, y_test):.4f}, "
          f"fit {fit_s:.2f} s ({clf.n_iter_} {unit})")

    missing = [f"{name}={value!r}" for name, value, known in (
        ("activation", args.activation, _SKLEARN_ACTIVATIONS),
        ("solver", args.solver, _SKLEARN_SOLVERS)) if value not in known]
    if args.compare and missing:
        print(f"sklearn's MLPClassifier has no {' or '.join(missing)}: "
              "no comparison.")
    elif args.compare:
        from sklearn.neural_network import MLPClassifier as SklearnMLP

        ref = SklearnMLP(**params)
        ref_s = _fit_seconds(ref, X_train, y_train)
        # A second fit of each, interleaved: the faster of two is less
        # at the mercy of a busy moment on a shared machine.
        fit_s = min(fit_s, _fit_seconds(clf, X_train, y_train))
        ref_s = min(ref_s, _fit_seconds(ref, X_train, y_train))
        print(f"sklearn MLPClassifier: test accuracy "
              f"{ref.score(X_test, y_test):.4f}, fit {ref_s:.2f} s "
              f"({ref.n_iter_} {unit})")
        print(f"fit time, faster of two fits each: skdeep {fit_s:.2f} s, sklearn "
              f"{ref_s:.2f} s: skdeep is {ref_s / fit_s:.2f}x as fast")
    return 0


def _type_name(value):
    return "bool" if isinstance(value, bool) else type(value).__name__


def _origin(source):
    """Where a plugin comes from, in a few words."""
    # Registry sources read "<plugin name>: <where>".
    where = source.split(": ", 1)[-1]
    if where.endswith("(built-in)"):
        return "built-in"
    if where.startswith("entry point ") and " from " in where:
        return "package " + where.rsplit(" from ", 1)[1]
    return where


def _plugins(args):
    from skdeep._mlp import MLPClassifier
    from skdeep._registry import get_registry, plural

    # Hyperparameters that follow an estimator parameter show its type
    # (sgd's nesterovs_momentum is a bool there, 1.0 in the kernel).
    defaults = MLPClassifier().get_params()
    for kind, table in get_registry().tables().items():
        if args.kind is not None and kind != args.kind:
            continue
        print(f"{plural(kind)}:")
        for name in sorted(table):
            record = table[name].record
            linked = getattr(record, "estimator_params", ())
            hps = []
            for hp, value in record.hyperparameters.items():
                if hp in linked and isinstance(defaults.get(hp), bool):
                    value = bool(value)
                hps.append(f"{hp}: {_type_name(value)} = {value!r}")
            print(f"  {name}({', '.join(hps)})  [{_origin(table[name].source)}]")
            if record.description:
                print(f"      {record.description}")
    return 0


def _compile(args):
    from skdeep._warmup import warm_up

    dtypes = args.dtype or ["float32", "float64"]
    failures = []

    def report(dtype, label, seconds, error):
        if error is not None:
            failures.append(label)
            print(f"  {dtype:8s} {label}: FAILED: {type(error).__name__}: {error}",
                  flush=True)
        elif not args.quiet:
            print(f"  {dtype:8s} {label}: {seconds:.2f} s", flush=True)

    print(f"compiling skdeep's kernels for {' and '.join(dtypes)} "
          f"({'all registered' if args.all_plugins else 'built-in'} plugins); "
          "already cached ones only load", flush=True)
    start = time.perf_counter()
    warm_up(dtypes, include_installed=args.all_plugins, report=report,
            processes=args.jobs)
    print(f"done in {time.perf_counter() - start:.1f} s"
          + (f"; {len(failures)} failed" if failures else ""))
    return 1 if failures else 0


def _parser():
    from skdeep import __version__

    parser = _Parser(
        prog="python -m skdeep",
        description="skdeep: scikit-learn compatible neural networks on "
                    "compiled kernels.",
        epilog="`python -m skdeep COMMAND --help` describes a command's options.")
    parser.add_argument("--version", action="version",
                        version=f"skdeep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_Parser)

    demo = sub.add_parser(
        "demo", help="train a classifier on the digits data set",
        description="Train skdeep's MLPClassifier on the digits data set "
                    "(standardized, as StandardScaler gives it) and report "
                    "its fit time and accuracy beside sklearn's "
                    "MLPClassifier's, timed alike (--no-compare skips it).")
    demo.add_argument("--epochs", type=_positive(int), default=50,
                      help="epochs (L-BFGS: iterations) to train; every one "
                           "runs (default: %(default)s)")
    demo.add_argument("--hidden", type=_hidden_sizes, default=(100,),
                      metavar="WIDTHS",
                      help="hidden layer widths, comma-separated, e.g. 64,32 "
                           "(default: 100)")
    demo.add_argument("--activation", type=_plugin_name("activation"),
                      default="relu", metavar="NAME",
                      help="hidden activation, any registered one "
                           "(`python -m skdeep plugins --kind activation`; "
                           "default: %(default)s)")
    demo.add_argument("--solver", type=_plugin_name("optimizer"), default="adam",
                      metavar="NAME",
                      help="optimizer, any registered one "
                           "(`python -m skdeep plugins --kind optimizer`; "
                           "default: %(default)s)")
    demo.add_argument("--learning-rate", type=_positive(float), default=1e-3,
                      help="initial learning rate (default: %(default)s)")
    demo.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                      help="dtype of the training data (default: %(default)s, "
                           "what StandardScaler returns)")
    demo.add_argument("--compare", action=argparse.BooleanOptionalAction,
                      default=True,
                      help="also fit sklearn's MLPClassifier with the same "
                           "parameters and data, and print the time ratio "
                           "(default: on)")
    demo.set_defaults(func=_demo)

    plugins = sub.add_parser(
        "plugins", help="list the registered plugins",
        description="List every registered plugin (built-in, installed "
                    "packages' entry points, runtime registrations) with "
                    "its hyperparameters, their types and defaults.")
    plugins.add_argument("--kind", choices=_KINDS,
                         help="list only plugins of this kind")
    plugins.set_defaults(func=_plugins)

    compile_ = sub.add_parser(
        "compile", help="compile and cache the kernels ahead of the first fit",
        description="Compile the kernels of every built-in plugin for float32 "
                    "and float64 into the on-disk cache, so that the first "
                    "fit of later processes only loads them (for Docker "
                    "images, worker start-up, CI). Run it again after "
                    "upgrading skdeep or Numba; cached kernels just load.")
    compile_.add_argument("--dtype", choices=["float32", "float64"],
                          action="append",
                          help="compile for this dtype only (repeatable; "
                               "default: both)")
    compile_.add_argument("--all-plugins", action="store_true",
                          help="also compile installed plugin packages' "
                               "plugins")
    compile_.add_argument("--jobs", type=_positive(int),
                          default=min(2, os.cpu_count() or 1),
                          help="dtypes compiled at once, one process each "
                               "(default: %(default)s, the cores up to 2)")
    compile_.add_argument("--quiet", action="store_true",
                          help="print only failures and the total time")
    compile_.set_defaults(func=_compile)
    return parser


def main(argv=None):
    """Entry point of ``python -m skdeep`` and the ``skdeep`` script.

    Returns the exit status: 0 on success, 2 for bad options (as argparse),
    1 when ``compile`` could not compile a plugin.
    """
    # Warnings (a broken plugin package) as one line, without the source
    # line of this module that happened to trigger them.
    warnings.formatwarning = lambda message, category, *_, **__: (
        f"{category.__name__}: {message}\n")
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
