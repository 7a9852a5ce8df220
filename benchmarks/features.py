"""Accuracy and per-epoch time cost of skdeep's training features.

Two measurements, both beside ``sklearn.neural_network.MLPClassifier``:

1. **Accuracy.** Test accuracy (fixed 75/25 train/test split) on

   * sklearn's digits (``X / 16``), hidden ``(128,)``, 60 epochs, default
     batch size;
   * a 20,000-sample synthetic problem
     (``make_classification(n_samples=20000, n_features=40, n_informative=20,
     n_classes=5, n_clusters_per_class=2, flip_y=0.05, random_state=0)``,
     standardized on the training part), hidden ``(256, 128)``, 30 epochs,
     ``batch_size=128``;

   for the configurations plain, ``dropout=0.2``, ``batch_norm=True``,
   ``layer_norm=True``, ``label_smoothing=0.1`` and dropout, batch norm
   and label smoothing together (Adam, constant learning
   rate), plus sklearn's ``MLPClassifier`` with the plain settings. Every fit
   runs exactly ``max_iter`` epochs (``n_iter_no_change`` is set above
   ``max_iter`` so the tol-based stop never triggers). The table gives the
   median over ``--repeats`` fits, each repeat with another estimator
   ``random_state`` (the split is the same).

2. **Per-epoch time.** On the synthetic set, the median per-epoch time of
   plain training and of each feature on its own (``dropout``,
   ``batch_norm``, ``layer_norm``, ``label_smoothing``, ``input_noise``, ``mixup_alpha``,
   ``clip_norm``, ``activation="prelu"``, ``learning_rate="cosine"`` with
   ``solver="sgd"``, plus plain SGD as a baseline for the latter), 10
   epochs per fit. Every configuration is fitted once first as a warm-up so
   compilation is excluded; then each repeat fits all configurations one
   after another (interleaved, in a rotated order per repeat) and takes the
   median of ``history_[i]["time"]`` over epochs 2.. (epoch 1 skipped). An
   epoch's time includes skdeep's per-epoch bookkeeping (training score,
   update ratios). The ratio to plain is the median over repeats of the
   ratio within a repeat, which cancels slow drift in machine load; the
   fastest single epoch over all repeats is reported too, as a
   load-insensitive estimate. sklearn's per-epoch time is its whole fit
   time divided by ``n_iter_``.

Both tables are printed as Markdown and written to ``OUT/features.md``; the
raw numbers go to ``OUT/features.json``. A configuration that raises keeps
its traceback, printed verbatim at the end and stored in the JSON.

Usage::

    python benchmarks/features.py                # full run (several minutes)
    python benchmarks/features.py --repeats 5
    python benchmarks/features.py --quick        # tiny smoke run
    python benchmarks/features.py --out /tmp/bench
    python benchmarks/features.py --only layer_norm=True --only batch_norm=True
                                                 # those beside plain and sklearn

No thread settings are changed; the thread pools in use are printed.
"""

import argparse
import json
import os
import platform
import sys
import time
import traceback
import warnings
from pathlib import Path

import numba
import numpy as np
import sklearn
import threadpoolctl
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier

ACCURACY_CONFIGS = {
    "plain": {},
    "dropout=0.2": {"dropout": 0.2},
    "batch_norm=True": {"batch_norm": True},
    "layer_norm=True": {"layer_norm": True},
    "label_smoothing=0.1": {"label_smoothing": 0.1},
    "dropout + batch_norm + label_smoothing": {
        "dropout": 0.2,
        "batch_norm": True,
        "label_smoothing": 0.1,
    },
}

TIMING_CONFIGS = {
    "plain": {},
    "dropout=0.2": {"dropout": 0.2},
    "batch_norm=True": {"batch_norm": True},
    "layer_norm=True": {"layer_norm": True},
    "label_smoothing=0.1": {"label_smoothing": 0.1},
    "input_noise=0.1": {"input_noise": 0.1},
    "mixup_alpha=0.2": {"mixup_alpha": 0.2},
    "clip_norm=1.0": {"clip_norm": 1.0},
    'activation="prelu"': {"activation": "prelu"},
    'solver="sgd" (constant)': {"solver": "sgd"},
    'solver="sgd", learning_rate="cosine"': {
        "solver": "sgd",
        "learning_rate": "cosine",
    },
}

SKLEARN = "sklearn MLPClassifier (plain)"


def load_data(quick):
    """Return {name: (X_train, X_test, y_train, y_test, settings)}."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    digits = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    n_samples = 2000 if quick else 20000
    X, y = make_classification(
        n_samples=n_samples,
        n_features=40,
        n_informative=20,
        n_classes=5,
        n_clusters_per_class=2,
        flip_y=0.05,
        random_state=0,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    synthetic = (scaler.transform(X_train), scaler.transform(X_test), y_train, y_test)
    return {
        "digits": (
            *digits,
            {
                "hidden_layer_sizes": (128,),
                "max_iter": 5 if quick else 60,
                "batch_size": "auto",
            },
        ),
        "synthetic": (
            *synthetic,
            {
                "hidden_layer_sizes": (256, 128),
                "max_iter": 3 if quick else 30,
                "batch_size": 128,
            },
        ),
    }


def common_params(settings, seed):
    max_iter = settings["max_iter"]
    return {
        "hidden_layer_sizes": settings["hidden_layer_sizes"],
        "batch_size": settings["batch_size"],
        "max_iter": max_iter,
        "n_iter_no_change": max_iter + 1,
        "random_state": seed,
    }


def fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        started = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - started


def epoch_times(estimator):
    return [float(record["time"]) for record in estimator.history_]


def median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def run_accuracy(data, repeats, errors):
    """Test accuracy of each configuration on each data set."""
    results = {}
    for dataset, (X_train, X_test, y_train, y_test, settings) in data.items():
        rows = {name: {"accuracy": [], "fit_time": [], "n_iter": []}
                for name in [*ACCURACY_CONFIGS, SKLEARN]}
        for repeat in range(repeats):
            params = common_params(settings, seed=repeat)
            for name, extra in ACCURACY_CONFIGS.items():
                key = f"accuracy/{dataset}/{name}"
                if key in errors:
                    continue
                try:
                    est = MLPClassifier(**params, **extra)
                    seconds = fit(est, X_train, y_train)
                    accuracy = float(est.score(X_test, y_test))
                except Exception:
                    errors[key] = traceback.format_exc()
                    continue
                rows[name]["accuracy"].append(accuracy)
                rows[name]["fit_time"].append(seconds)
                rows[name]["n_iter"].append(int(est.n_iter_))
                print(f"  [{dataset} r{repeat}] {name}: acc={accuracy:.4f} "
                      f"fit={seconds:.1f}s", flush=True)
            est = SkMLPClassifier(**params)
            seconds = fit(est, X_train, y_train)
            accuracy = float(est.score(X_test, y_test))
            rows[SKLEARN]["accuracy"].append(accuracy)
            rows[SKLEARN]["fit_time"].append(seconds)
            rows[SKLEARN]["n_iter"].append(int(est.n_iter_))
            print(f"  [{dataset} r{repeat}] {SKLEARN}: acc={accuracy:.4f} "
                  f"fit={seconds:.1f}s", flush=True)
        results[dataset] = {
            "settings": {k: (list(v) if isinstance(v, tuple) else v)
                         for k, v in settings.items()},
            "n_train": int(len(y_train)),
            "n_test": int(len(y_test)),
            "rows": rows,
        }
    return results


def run_timing(data, repeats, n_epochs, errors):
    """Per-epoch time of each feature on the synthetic set."""
    X_train, _, y_train, _, settings = data["synthetic"]
    settings = dict(settings, max_iter=n_epochs)
    names = list(TIMING_CONFIGS)
    rows = {name: {"epoch_times": [], "median_epoch": [], "best_epoch": []}
            for name in names}

    # Warm-up: one fit per configuration compiles its kernels.
    warm = slice(0, min(len(y_train), 2048))
    for name in names:
        key = f"timing/{name}"
        params = dict(common_params(settings, seed=0), max_iter=2)
        try:
            seconds = fit(MLPClassifier(**params, **TIMING_CONFIGS[name]),
                          X_train[warm], y_train[warm])
        except Exception:
            errors[key] = traceback.format_exc()
            continue
        print(f"  warm-up {name}: {seconds:.1f}s", flush=True)

    sk_epoch = []
    for repeat in range(repeats):
        params = common_params(settings, seed=repeat)
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            if f"timing/{name}" in errors:
                continue
            try:
                est = MLPClassifier(**params, **TIMING_CONFIGS[name])
                fit(est, X_train, y_train)
            except Exception:
                errors[f"timing/{name}"] = traceback.format_exc()
                continue
            times = epoch_times(est)
            rows[name]["epoch_times"].append(times)
            rows[name]["median_epoch"].append(float(np.median(times[1:])))
            rows[name]["best_epoch"].append(float(np.min(times[1:])))
            print(f"  [timing r{repeat}] {name}: "
                  f"{rows[name]['median_epoch'][-1] * 1000:.0f} ms/epoch",
                  flush=True)
        est = SkMLPClassifier(**params)
        seconds = fit(est, X_train, y_train)
        sk_epoch.append(seconds / est.n_iter_)
        print(f"  [timing r{repeat}] {SKLEARN}: {sk_epoch[-1] * 1000:.0f} "
              "ms/epoch", flush=True)

    plain = rows["plain"]["median_epoch"]
    for name in names:
        own = rows[name]["median_epoch"]
        rows[name]["ratio_per_repeat"] = [
            a / b for a, b in zip(own, plain, strict=False)
        ]
    rows[SKLEARN] = {
        "median_epoch": sk_epoch,
        "ratio_per_repeat": [a / b for a, b in zip(sk_epoch, plain, strict=False)],
    }
    return {
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in settings.items()},
        "n_train": int(len(y_train)),
        "rows": rows,
    }


def fmt(value, spec):
    return "error" if value is None else format(value, spec)


def accuracy_table(results):
    datasets = list(results)
    header = "| configuration | " + " | ".join(
        f"{d} ({results[d]['settings']['max_iter']} epochs)" for d in datasets
    ) + " |"
    lines = [header, "|---|" + "---:|" * len(datasets)]
    for name in [*ACCURACY_CONFIGS, SKLEARN]:
        cells = []
        for d in datasets:
            acc = median(results[d]["rows"][name]["accuracy"])
            cells.append(fmt(acc, ".4f"))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def timing_table(timing):
    rows = timing["rows"]
    sk = median(rows[SKLEARN]["median_epoch"])
    best_plain = min(rows["plain"]["best_epoch"], default=None)
    lines = [
        "| configuration | ms / epoch | ratio to plain | ratio to sklearn plain "
        "| best epoch, ms | best-epoch ratio to plain |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in [*TIMING_CONFIGS, SKLEARN]:
        ms = median(rows[name]["median_epoch"])
        ratio = median(rows[name]["ratio_per_repeat"])
        to_sk = None if ms is None or not sk else ms / sk
        best = min(rows[name].get("best_epoch", []), default=None)
        best_ratio = None if best is None or not best_plain else best / best_plain
        lines.append(
            f"| {name} | {fmt(None if ms is None else ms * 1000, '.1f')} | "
            f"{fmt(ratio, '.2f')} | {fmt(to_sk, '.2f')} | "
            f"{'-' if best is None else format(best * 1000, '.1f')} | "
            f"{'-' if best_ratio is None else format(best_ratio, '.2f')} |"
        )
    return "\n".join(lines)


def thread_summary():
    return [
        {
            "user_api": info.get("user_api"),
            "internal_api": info.get("internal_api"),
            "num_threads": info.get("num_threads"),
            "version": info.get("version"),
        }
        for info in threadpoolctl.threadpool_info()
    ]


def machine_info():
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "affinity": (len(os.sched_getaffinity(0))
                     if hasattr(os, "sched_getaffinity") else None),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "sklearn": sklearn.__version__,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": _threading_layer(),
        "threadpools": thread_summary(),
    }


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run: small data, few epochs, 1 repeat")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this configuration (as the tables name "
                             "it) beside plain and sklearn; repeatable")
    args = parser.parse_args(argv)
    if args.only:
        known = {*ACCURACY_CONFIGS, *TIMING_CONFIGS}
        unknown = set(args.only) - known
        if unknown:
            parser.error(f"unknown configuration {sorted(unknown)}; choose from "
                         f"{sorted(known)}")
        for configs in (ACCURACY_CONFIGS, TIMING_CONFIGS):
            for name in list(configs):
                if name not in {"plain", *args.only}:
                    del configs[name]
    repeats = 1 if args.quick else args.repeats
    timing_epochs = 3 if args.quick else 10
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    data = load_data(args.quick)
    errors = {}
    print("## Accuracy", flush=True)
    accuracy = run_accuracy(data, repeats, errors)
    print("## Per-epoch time", flush=True)
    timing = run_timing(data, repeats, timing_epochs, errors)
    # After the fits, so that the thread pools skdeep loaded are listed too.
    machine = machine_info()
    total = time.perf_counter() - started

    pools = ", ".join(
        f"{p['internal_api']} ({p['user_api']}): {p['num_threads']} threads"
        for p in machine["threadpools"]
    )
    syn = accuracy["synthetic"]
    parts = [
        "# skdeep feature benchmark" + (" (--quick)" if args.quick else ""),
        "",
        f"Machine: {machine['cpu_count']} CPUs ({machine['affinity']} usable), "
        f"{machine['platform']}; Python {machine['python']}, numpy "
        f"{machine['numpy']}, numba {machine['numba']} "
        f"({machine['numba_num_threads']} threads, layer "
        f"{machine['numba_threading_layer']}), sklearn {machine['sklearn']}.",
        f"Thread pools: {pools or 'none loaded'}.",
        f"Repeats: {repeats}; total run time {total:.0f} s.",
        "",
        "## Test accuracy (median over repeats)",
        "",
        f"Adam, constant learning rate 0.001, alpha=1e-4. digits: "
        f"{accuracy['digits']['n_train']} train / "
        f"{accuracy['digits']['n_test']} test, hidden (128,). synthetic: "
        f"{syn['n_train']} train / {syn['n_test']} test, hidden (256, 128), "
        "batch_size=128.",
        "",
        accuracy_table(accuracy),
        "",
        "## Per-epoch time on the synthetic set (median over repeats)",
        "",
        f"{timing['n_train']} samples, hidden (256, 128), batch_size=128, "
        f"{timing_epochs} epochs per fit, epoch 1 skipped, warm-up fit per "
        "configuration first. Adam unless noted. Ratio to plain: median of "
        "the per-repeat ratios. Best epoch: the fastest single epoch over all "
        "repeats (less sensitive to load from other processes; sklearn has "
        "no per-epoch times, so none there).",
        "",
        timing_table(timing),
    ]
    if errors:
        parts += ["", "## Errors", ""]
        for key, tb in errors.items():
            parts += [f"### {key}", "", "```", tb.rstrip(), "```", ""]
    markdown = "\n".join(parts).rstrip() + "\n"

    print()
    print(markdown)
    (out / "features.md").write_text(markdown)
    raw = {
        "quick": args.quick,
        "repeats": repeats,
        "total_seconds": total,
        "machine": machine,
        "accuracy": accuracy,
        "timing": timing,
        "errors": errors,
    }
    (out / "features.json").write_text(json.dumps(raw, indent=2))
    print(f"Wrote {out / 'features.md'} and {out / 'features.json'}")


if __name__ == "__main__":
    main()
