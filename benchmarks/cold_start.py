"""A fresh environment's first fit, without and with ``python -m skdeep compile``.

Each case starts from an empty compile cache (``NUMBA_CACHE_DIR`` and
``SKDEEP_CACHE_DIR`` in a new temporary directory), as a new Docker image,
CI runner or Dask worker does:

- **without**: the first process fits (digits, StandardScaler, default
  ``MLPClassifier``, 50 epochs) and so compiles what it needs; a second
  process fits again (warm cache);
- **with**: ``python -m skdeep compile`` runs first (timed), then fresh
  processes fit with the default relu (float64 and float32) and with
  ``activation="tanh", solver="sgd"``, none of which compiles anything.

Times are wall-clock seconds in fresh processes, from before
``from skdeep import MLPClassifier`` to after ``fit`` (NumPy, scikit-learn
and the data are loaded first). sklearn's fit of the same data is timed in
the same process for scale.

Numba is imported before the clock starts (to count its compiler set-ups:
a fit that compiles sets it up, one that loads from the cache does not),
so the times are import of skdeep's own modules plus the fit.

Usage: ``python benchmarks/cold_start.py [--repeats N]``
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FIT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numba
import numpy as np
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.preprocessing import StandardScaler
X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X).astype(sys.argv[1])
# Numba sets its compiler up only to compile (a cache hit skips that):
# counting the set-ups tells a compiling fit from a loading one whatever
# the machine's load.
from numba.core import base
set_ups = []
original = base.BaseContext.refresh
base.BaseContext.refresh = lambda self: (set_ups.append(1), original(self))[1]
params = dict(max_iter=50, random_state=0, activation=sys.argv[2], solver=sys.argv[3])
t = time.perf_counter()
from skdeep import MLPClassifier
MLPClassifier(**params).fit(X, y)
first = time.perf_counter() - t
t = time.perf_counter()
SklearnMLP(**params).fit(X, y)
print(json.dumps({"first_fit": first, "sklearn_fit": time.perf_counter() - t,
                  "compiled": len(set_ups) > 0}))
"""


def fit(env, dtype="float64", activation="relu", solver="adam"):
    out = subprocess.run([sys.executable, "-c", FIT, dtype, activation, solver],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_env(directory):
    return dict(os.environ, NUMBA_CACHE_DIR=directory,
                SKDEEP_CACHE_DIR=os.path.join(directory, "blocks"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="fresh environments per case (default 3)")
    args = parser.parse_args()
    compiled = {}
    rows = {k: [] for k in ("cold first fit", "warm second process",
                            "compile command", "after compile: float64 relu",
                            "after compile: float32 relu",
                            "after compile: float64 tanh sgd", "sklearn fit")}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            env = fresh_env(cache)
            for name, result in (("cold first fit", fit(env)),
                                 ("warm second process", fit(env))):
                rows[name].append(result["first_fit"])
                compiled.setdefault(name, []).append(result["compiled"])
            rows["sklearn fit"].append(result["sklearn_fit"])
        with tempfile.TemporaryDirectory() as cache:
            env = fresh_env(cache)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "skdeep", "compile", "--quiet"],
                           env=env, check=True, capture_output=True)
            rows["compile command"].append(time.perf_counter() - start)
            for name, args_ in (("after compile: float64 relu", ("float64",)),
                                ("after compile: float32 relu", ("float32",)),
                                ("after compile: float64 tanh sgd",
                                 ("float64", "tanh", "sgd"))):
                result = fit(env, *args_)
                rows[name].append(result["first_fit"])
                compiled.setdefault(name, []).append(result["compiled"])
        print(f"repeat {repeat + 1}: " + json.dumps(
            {k: round(v[-1], 2) for k, v in rows.items()}), file=sys.stderr, flush=True)
    print("| case | median s | all runs | compiled |")
    print("| --- | --- | --- | --- |")
    for name, values in rows.items():
        flags = compiled.get(name)
        print(f"| {name} | {statistics.median(values):.2f} | "
              f"{', '.join(f'{v:.2f}' for v in values)} | "
              f"{'-' if flags is None else ', '.join('yes' if f else 'no' for f in flags)} |")


if __name__ == "__main__":
    main()
