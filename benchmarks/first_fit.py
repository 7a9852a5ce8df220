"""Fresh-process latency: ``import skdeep``, first fit (cold and warm compile
cache) and a second fit with another activation, beside sklearn.

Usage: ``python benchmarks/first_fit.py [--repeats N]``
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

IMPORT = "import time; t = time.perf_counter(); import skdeep; print(time.perf_counter() - t)"

FIT = """
import json, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier as SkMLP
X, y = load_digits(return_X_y=True)
X = X / 16.0
t = time.perf_counter()
from skdeep import MLPClassifier
first = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
t_first = time.perf_counter() - t
t = time.perf_counter()
second = MLPClassifier(max_iter=50, random_state=0, activation="gelu").fit(X, y)
t_second = time.perf_counter() - t
t = time.perf_counter()
third = MLPClassifier(max_iter=50, random_state=0).fit(X, y)
t_third = time.perf_counter() - t
t = time.perf_counter()
ref = SkMLP(max_iter=50, random_state=0).fit(X, y)
t_sk = time.perf_counter() - t
print(json.dumps({"first_fit": t_first, "second_fit_gelu": t_second,
                  "third_fit_same": t_third, "sklearn_fit": t_sk}))
"""


def run(code, env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.strip().splitlines()[-1]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    imports = [float(run(IMPORT, env)) for _ in range(args.repeats)]
    print(f"import skdeep: median {statistics.median(imports) * 1000:.1f} ms "
          f"over {args.repeats} fresh processes")
    with tempfile.TemporaryDirectory() as cache:
        env_cold = dict(env, NUMBA_CACHE_DIR=cache, SKDEEP_CACHE_DIR=cache + "/blocks")
        cold = json.loads(run(FIT, env_cold))
        print("cold cache (first process):", {k: round(v, 2) for k, v in cold.items()})
        warm = [json.loads(run(FIT, env_cold)) for _ in range(args.repeats)]
    keys = warm[0].keys()
    med = {k: round(statistics.median(w[k] for w in warm), 3) for k in keys}
    print(f"warm cache, median of {args.repeats} fresh processes:", med)


if __name__ == "__main__":
    main()
