"""Workloads, timing loops and reports of ``benchmarks/run.py``.

Progress goes to stderr; the Markdown report goes to stdout and ``OUT/``.
"""

import compileall
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path

import _data
import _peers
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (load SciPy's BLAS before limiting)
import sklearn  # noqa: F401
import threadpoolctl

HERE = Path(__file__).resolve().parent
PAUSE_S = 0.3  # idle time before each timed run: spinning pool threads settle
EPOCH_WORKLOADS = ("W1", "W2", "W4", "W5")
PEER_LABELS = {"skdeep": "skdeep", "sklearn": "sklearn", "torch": "PyTorch",
               "floor": "GEMM-only floor", "skdeep-threads": "skdeep, threading backend"}


def log(message):
    print(message, file=sys.stderr, flush=True)


def workload_specs(quick, epochs, activations=None):
    def pick(full, small):
        return small if quick else full

    specs = {
        "W1": {
            "title": "784-512-512-10 relu adam, batch 512",
            "task": "clf", "hidden": [512, 512], "batch_size": 512, "lr": 1e-3,
            "n_train": pick(60000, 6000), "n_test": pick(10000, 1000),
            "n_features": 784, "n_classes": 10, "epochs": pick(2, 1),
            "data": "synthetic teacher-labelled classification",
        },
        "W2": {
            "title": "64-64-64-5 relu adam, batch 32",
            "task": "clf", "hidden": [64, 64], "batch_size": 32, "lr": 1e-3,
            "n_train": pick(20000, 4000), "n_test": pick(5000, 1000),
            "n_features": 64, "n_classes": 5, "epochs": pick(5, 2),
            "data": "synthetic teacher-labelled classification",
        },
        "W4": {
            "title": "regression 100-256-256-1 relu adam, batch 256",
            "task": "reg", "hidden": [256, 256], "batch_size": 256, "lr": 1e-3,
            "n_train": pick(50000, 5000), "n_test": pick(10000, 1000),
            "n_features": 100, "epochs": pick(3, 1),
            "data": "synthetic teacher regression (10% noise)",
        },
        "W5": {
            "title": "MNIST-1D 40-100-100-10 relu adam lr 1e-2, batch 100",
            "task": "clf", "hidden": [100, 100], "batch_size": 100, "lr": 1e-2,
            "n_train": 4000, "n_test": 1000, "n_features": 40, "n_classes": 10,
            "epochs": pick(150, 10),
            "data": "MNIST-1D (mnist1d.make_dataset, seed 42)",
        },
    }
    # tanh and logistic beside relu where the elementwise work weighs most
    # (small batches and layers); --activations applies a list to all.
    for name, spec in specs.items():
        spec["alpha"] = 0.0
        spec["activations"] = (list(activations) if activations else
                               ["relu", "tanh", "logistic"] if name in ("W2", "W5")
                               else ["relu"])
        if epochs is not None:
            spec["epochs"] = epochs
    return specs


def variants(name, spec, dtypes):
    """``(label, spec)`` of every dtype and activation a workload runs in."""
    for dtype in dtypes:
        for activation in spec["activations"]:
            yield (f"{name} {activation} {dtype}",
                   dict(spec, activation=activation, dtype=dtype))


def load_workload_data(name, spec):
    if name == "W5":
        return _data.mnist1d()
    if spec["task"] == "clf":
        return _data.teacher_classification(
            spec["n_train"], spec["n_test"], spec["n_features"],
            spec["n_classes"], seed=int(name[1]),
        )
    return _data.teacher_regression(
        spec["n_train"], spec["n_test"], spec["n_features"], seed=int(name[1])
    )


def layer_sizes(spec, X):
    n_out = 1 if spec["task"] == "reg" else spec["n_classes"]
    return [X.shape[1], *spec["hidden"], n_out if n_out > 2 else 1]


def rotated(items, shift):
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


def median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def settle():
    gc.collect()
    time.sleep(PAUSE_S)


def timed_fit(estimator, X, y):
    settle()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - started


def run_child(args, timeout=900, env=None):
    command = [sys.executable, str(HERE / "_child.py"), *map(str, args)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy() if env is None else env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[1:3])} failed ({proc.returncode}):\n"
            + proc.stderr[-3000:]
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- environment ---------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions():
    import skdeep

    # The distribution is skdeep-mlp; the package's own version is the
    # source of truth (it also holds in a checkout that is not installed).
    found = {"python": platform.python_version(), "skdeep": skdeep.__version__}
    for dist in ("numpy", "scipy", "scikit-learn", "numba",
                 "threadpoolctl", "torch", "mnist1d", "matplotlib"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def pool_summary():
    return [
        {
            "api": info.get("internal_api"),
            "library": os.path.basename(info.get("filepath", "")),
            "version": info.get("version"),
            "threads": info.get("num_threads"),
            "architecture": info.get("architecture"),
            "threading_layer": info.get("threading_layer"),
        }
        for info in threadpoolctl.threadpool_info()
    ]


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def environment(threads):
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "load_average_at_start": load_average(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "platform": platform.platform(),
        "threads": threads,
        "versions": versions(),
        "thread_pools": pool_summary(),
    }


# -- workloads -----------------------------------------------------------------


def run_epoch_workload(name, spec, data, peers, args, tmpdir, errors):
    dtype = np.dtype(spec.get("dtype", "float32"))
    X, X_test, y, y_test = (a.astype(dtype) if a.dtype.kind == "f" else a
                            for a in data)
    # PyTorch's loop here is float32 relu only.
    if dtype != np.float32 or spec.get("activation", "relu") != "relu":
        peers = [p for p in peers if p != "torch"]
    sizes = layer_sizes(spec, X)
    epochs = spec["epochs"]
    n = X.shape[0]
    batch = min(spec["batch_size"], n)
    n_batches = math.ceil(n / batch)
    log(f"{name}: {spec['title']}; {n} x {X.shape[1]} train, {X_test.shape[0]} "
        f"test, {epochs} epoch(s) per timing fit, {args.repeats} repeat(s)")
    failed = set()
    for peer in peers:  # warm-up: compilation / cache loading, first calls
        try:
            warm = min(2048, n)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _peers.make_estimator(peer, spec, 1, 0).fit(X[:warm], y[:warm])
        except Exception:
            errors[f"{name}/{peer}/warm-up"] = traceback.format_exc()
            failed.add(peer)
    floor = _peers.GemmFloor(sizes, batch, dtype)
    floor.epoch(X[: min(2048, n)])

    times = {peer: [] for peer in peers}
    scores = {peer: [] for peer in peers}
    n_iters = {peer: [] for peer in peers}
    floor_times = []
    models = {}
    for repeat in range(args.repeats):
        for peer in rotated(peers, repeat):
            if peer in failed:
                continue
            try:
                est = _peers.make_estimator(peer, spec, epochs, repeat)
                seconds = timed_fit(est, X, y)
                score = float(est.score(X_test, y_test))
            except Exception:
                errors[f"{name}/{peer}"] = traceback.format_exc()
                failed.add(peer)
                continue
            per_epoch = seconds / est.n_iter_
            times[peer].append(per_epoch)
            scores[peer].append(score)
            n_iters[peer].append(int(est.n_iter_))
            models[peer] = est
            log(f"  [{name} r{repeat}] {peer:8s} {per_epoch:9.4f} s/epoch "
                f"(n_iter_={est.n_iter_}), test score {score:.4f}")
        settle()
        floor_times.append(floor.epoch(X))
        log(f"  [{name} r{repeat}] floor    {floor_times[-1]:9.4f} s/epoch")

    flops = _peers.training_flops(n, sizes)
    rows = {}
    for peer in [*peers, "floor"]:
        values = floor_times if peer == "floor" else times[peer]
        if not values:
            continue
        rows[peer] = {
            "s_per_epoch": median(values),
            "min_s_per_epoch": float(min(values)),
            "all_s_per_epoch": values,
            "ms_per_step": median(values) / n_batches * 1e3,
            "gflops": flops / median(values) / 1e9,
        }
        if peer != "floor":
            rows[peer]["score"] = median(scores[peer])
            rows[peer]["all_scores"] = scores[peer]
            rows[peer]["n_iter"] = n_iters[peer]
    if not args.no_memory and spec.get("activation", "relu") == "relu":
        path = Path(tmpdir) / f"{name}.npz"
        np.savez(path, X=X, y=y)
        child_spec = {k: spec[k] for k in ("task", "hidden", "batch_size", "lr",
                                           "alpha", "activation")}
        for peer in peers:
            if peer not in rows:
                continue
            try:
                rows[peer]["memory"] = run_child(
                    ["memory", peer, path, json.dumps(child_spec), args.threads]
                )
                log(f"  [{name}] {peer:8s} fit peak RSS increase "
                    f"{rows[peer]['memory']['fit_delta_mb']:.0f} MB")
            except Exception:
                errors[f"{name}/{peer}/memory"] = traceback.format_exc()
        path.unlink()
    return {
        "spec": spec,
        "dtype": dtype.name,
        "n_train": n,
        "n_test": int(X_test.shape[0]),
        "sizes": sizes,
        "n_batches": n_batches,
        "training_gflop_per_epoch": flops / 1e9,
        "needed_fraction": _peers.needed_training_flops(n, sizes) / flops,
        "peers": rows,
    }, models


def byte_compile(package):
    """Write ``package``'s bytecode files, as ``pip install`` does.

    A source checkout run with ``PYTHONDONTWRITEBYTECODE`` set (or an
    editable install before its first import) has none, and each fresh
    process would compile skdeep's modules from source while scikit-learn
    loads its installed bytecode. Returns whether the files are there.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return False
    return all(compileall.compile_dir(location, quiet=1)
               for location in spec.submodule_search_locations)


def run_w3(args, tmpdir, errors):
    peers = ["skdeep", "sklearn"]
    if not byte_compile("skdeep"):
        log("  [W3] could not write skdeep's bytecode: it imports from source")
    X, X_test, y, y_test = _data.digits()
    path = Path(tmpdir) / "digits.npz"
    np.savez(path, X=X, X_test=X_test, y=y, y_test=y_test)
    log(f"W3: digits {X.shape[0]} train / {X_test.shape[0]} test, hidden (100,), "
        f"defaults, max_iter=200, fresh process per fit, {args.repeats} repeat(s)")
    runs = {peer: [] for peer in peers}
    warmups = {}
    for peer in peers:  # warm the compile cache and the OS file cache
        try:
            warmups[peer] = run_child(["fresh-fit", peer, path])
            log(f"  [W3 warm-up] {peer:8s} {warmups[peer]['total_s']:.2f} s")
        except Exception:
            errors[f"W3/{peer}/warm-up"] = traceback.format_exc()
    for repeat in range(args.repeats):
        for peer in rotated(peers, repeat):
            if peer not in warmups:
                continue
            settle()
            try:
                result = run_child(["fresh-fit", peer, path])
            except Exception:
                errors[f"W3/{peer}"] = traceback.format_exc()
                continue
            runs[peer].append(result)
            log(f"  [W3 r{repeat}] {peer:8s} total {result['total_s']:.2f} s "
                f"(import {result['import_s']:.2f} s, fit {result['fit_s']:.2f} s, "
                f"2nd fit {result['second_fit_s']:.2f} s, "
                f"n_iter_={result['n_iter']}), accuracy {result['accuracy']:.4f}")
    rows = {}
    for peer, results in runs.items():
        if not results:
            continue
        rows[peer] = {
            key: median([r[key] for r in results])
            for key in ("total_s", "import_s", "fit_s", "second_fit_s", "accuracy",
                        "process_peak_rss_mb")
        }
        rows[peer]["n_iter"] = [r["n_iter"] for r in results]
        rows[peer]["dtype"] = results[0]["dtype"]
        rows[peer]["runs"] = results
        rows[peer]["warm_up"] = warmups.get(peer)
    path.unlink()
    return {"n_train": int(X.shape[0]), "n_test": int(X_test.shape[0]),
            "peers": rows}


def scaled_digits(dtype="float64"):
    """digits through StandardScaler (fitted on the training part), as
    users pass them: float64 unless cast."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X, X_test, y, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                            stratify=y)
    scaler = StandardScaler().fit(X)
    return (scaler.transform(X).astype(dtype), scaler.transform(X_test).astype(dtype),
            y, y_test)


W6_MAX_ITERS = (60, 200)
W6_PHASES = ("import_s", "startup_s", "workers_s", "refit_s")


def default_thread_env():
    """The environment without the suite's thread-count variables.

    A grid search runs as users run it: joblib gives each of its worker
    processes cpu_count / n_jobs threads, but only where these variables
    are unset (with the suite's 2, each of sklearn's two workers ran 2-thread
    BLAS on 2 cores, and a search took over 10 times as long).
    """
    from run import THREAD_VARIABLES

    return {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}


# W6's searches: the peer and joblib's backend. "skdeep-threads" is the
# recipe of docs/scaling.md (skdeep's kernels run without the GIL).
W6_SEARCHES = {"skdeep": ("skdeep", "loky"), "sklearn": ("sklearn", "loky"),
               "skdeep-threads": ("skdeep", "threading")}


def w6_command(search, path, max_iter):
    """``_child.py``'s arguments for one of :data:`W6_SEARCHES`."""
    peer, backend = W6_SEARCHES[search]
    return ["grid-search", peer, path, max_iter, backend]


def run_w6(args, tmpdir, errors):
    peers = [search for search, (peer, _) in W6_SEARCHES.items() if peer in args.peers]
    byte_compile("skdeep")
    X, _, y, _ = scaled_digits()
    path = Path(tmpdir) / "digits_scaled.npz"
    np.savez(path, X=X, y=y)
    max_iters = W6_MAX_ITERS[:1] if args.quick else W6_MAX_ITERS
    log(f"W6: GridSearchCV, 12 candidates x 3 folds, n_jobs=2, digits "
        f"StandardScaler float64 ({X.shape[0]} rows), fresh process per search, "
        f"max_iter {max_iters}, {args.repeats} repeat(s)")
    results = {}
    for max_iter in max_iters:
        runs = {peer: [] for peer in peers}
        for peer in peers:  # warm the compile cache and the OS file cache
            try:
                run_child(w6_command(peer, path, max_iter), env=default_thread_env())
            except Exception:
                errors[f"W6/{max_iter}/{peer}/warm-up"] = traceback.format_exc()
        for repeat in range(args.repeats):
            for peer in rotated(peers, repeat):
                settle()
                try:
                    result = run_child(w6_command(peer, path, max_iter),
                                       env=default_thread_env())
                except Exception:
                    errors[f"W6/{max_iter}/{peer}"] = traceback.format_exc()
                    continue
                runs[peer].append(result)
                log(f"  [W6 max_iter={max_iter} r{repeat}] {peer:14s} total "
                    f"{result['total_s']:.2f} s (fits {result['sum_fit_s']:.2f} s, "
                    f"scoring {result['sum_score_s']:.2f} s in the workers), "
                    f"best score {result['best_score']:.4f}")
        rows = {}
        for peer, values in runs.items():
            if values:
                rows[peer] = {key: median([r.get(key) for r in values]) for key in (
                    "total_s", "sum_fit_s", "sum_score_s", "best_score",
                    "first_fit_extra_s", *W6_PHASES)}
                rows[peer]["all_total_s"] = [r["total_s"] for r in values]
        if "skdeep" in rows and "sklearn" in rows:
            rows["floor"] = w6_floor(runs["skdeep"], rows["sklearn"])
        base = rows.get("skdeep", {}).get("total_s")
        for row in rows.values():
            row["ratio_vs_skdeep"] = row["total_s"] / base if base else None
        results[str(max_iter)] = rows
    path.unlink()
    return results


def w6_floor(skdeep_runs, sklearn_row, repeats=5):
    """The fastest W6 search this BLAS allows, phase by phase.

    scikit-learn's own import and worker start-up (skdeep needs both too),
    then skdeep's fits (the same rows and epochs) at the GEMM-only floor
    (:class:`_peers.GemmFloor`, float64, the default 64-100-10 network and
    batch of 200) shared perfectly between the workers, plus skdeep's
    scoring, and the refit at the same floor. No implementation calling
    this BLAS from these processes can finish sooner.
    """
    run = skdeep_runs[len(skdeep_runs) // 2]
    floors = {}

    def fit_floor(n_rows, epochs):
        if n_rows not in floors:
            X = np.random.default_rng(0).standard_normal((n_rows, 64))
            floor = _peers.GemmFloor([64, 100, 10], min(200, n_rows), np.float64)
            floor.epoch(X)
            floors[n_rows] = median([floor.epoch(X) for _ in range(repeats)])
        return floors[n_rows] * epochs

    workers = (sum(fit_floor(*fit) for fit in run["fits"]) + run["sum_score_s"]) / max(
        run["n_workers"], 1)
    refit = sum(fit_floor(*fit) for fit in run["refit"])
    row = {"import_s": sklearn_row["import_s"], "startup_s": sklearn_row["startup_s"],
           "workers_s": workers, "refit_s": refit}
    row["total_s"] = sum(row[key] for key in W6_PHASES)
    return row


W7_ROWS = (1, 10)


def run_w7(args, errors):
    rounds = max(args.repeats, 5)
    results = {}
    for dtype in args.dtypes:
        X, X_test, y, _ = scaled_digits(dtype)
        models = {}
        for peer in ("skdeep", "sklearn"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    models[peer] = _peers.make_estimator(
                        peer, {"task": "clf", "hidden": [100], "batch_size": 200,
                               "lr": 1e-3, "alpha": 1e-4}, 50, 0).fit(X, y)
            except Exception:
                errors[f"W7/{dtype}/{peer}"] = traceback.format_exc()
        log(f"W7: predict / predict_proba latency, digits model 64-100-10 "
            f"{dtype}, {W7_ROWS} rows, {rounds} rounds")
        for method in ("predict", "predict_proba"):
            for rows in W7_ROWS:
                batch = np.ascontiguousarray(X_test[:rows])
                times = {peer: [] for peer in models}
                for model in models.values():
                    getattr(model, method)(batch)  # first call
                for repeat in range(rounds):
                    for peer in rotated(list(models), repeat):
                        settle()
                        fn = getattr(models[peer], method)
                        times[peer].append(per_call(lambda fn=fn, batch=batch: fn(batch)))
                cell = {}
                for peer, values in times.items():
                    cell[peer] = {"us_per_call": median(values) * 1e6,
                                  "min_us_per_call": min(values) * 1e6,
                                  "all_us_per_call": [v * 1e6 for v in values]}
                base = cell.get("skdeep", {}).get("us_per_call")
                for row in cell.values():
                    row["ratio_vs_skdeep"] = row["us_per_call"] / base if base else None
                results[f"{method} {rows} {dtype}"] = cell
                log(f"  [W7] {method} {rows} row(s) {dtype}: " + ", ".join(
                    f"{p} {r['us_per_call']:.1f} us" for p, r in cell.items()))
    return results


def per_call(fn, min_time=0.2):
    """Seconds per call: repeat ``fn`` until ``min_time`` has passed."""
    calls = 0
    started = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_time:
            return elapsed / calls


def run_predict(args, specs, datasets, fitted, peers, errors):
    rounds = max(args.repeats, 3 if args.quick else 7)
    results = {}
    for name in ("W1", "W2"):
        spec = specs[name]
        if name not in datasets:
            datasets[name] = load_workload_data(name, spec)
        X, X_test, y, _ = datasets[name]
        models = dict(fitted.get(name, {}))
        for peer in peers:
            if peer in models:
                continue
            try:  # P without W1/W2: a 1-epoch model predicts just as fast
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    models[peer] = _peers.make_estimator(peer, spec, 1, 0).fit(X, y)
            except Exception:
                errors[f"P/{name}/{peer}/fit"] = traceback.format_exc()
        log(f"P: predict on the {name} test set ({X_test.shape[0]} x "
            f"{X_test.shape[1]}), {rounds} round(s)")
        times = {peer: [] for peer in models}
        for peer, model in list(models.items()):
            try:
                model.predict(X_test)  # warm-up (skdeep compiles predict)
            except Exception:
                errors[f"P/{name}/{peer}"] = traceback.format_exc()
                del models[peer]
        for repeat in range(rounds):
            for peer in rotated(list(models), repeat):
                settle()
                model = models[peer]
                times[peer].append(
                    per_call(lambda m=model, X=X_test: m.predict(X))
                )
        rows = {}
        for peer, values in times.items():
            if not values:
                continue
            rows[peer] = {
                "ms_per_call": median(values) * 1e3,
                "min_ms_per_call": min(values) * 1e3,
                "us_per_sample": median(values) / X_test.shape[0] * 1e6,
                "all_ms_per_call": [v * 1e3 for v in values],
            }
            log(f"  [P {name}] {peer:8s} {rows[peer]['ms_per_call']:.2f} ms/call")
        results[name] = {"n_test": int(X_test.shape[0]),
                         "forward_gflop": _peers.forward_flops(
                             X_test.shape[0], layer_sizes(spec, X)) / 1e9,
                         "peers": rows}
    return results


# -- reporting -----------------------------------------------------------------


def add_ratios(results):
    """peer time / skdeep time (> 1: skdeep faster) and % of matmul peak."""
    peak = results["matmul_peak"]["numpy"]
    for workload in results["epoch"].values():
        rows = workload["peers"]
        base = rows.get("skdeep", {}).get("s_per_epoch")
        base_min = rows.get("skdeep", {}).get("min_s_per_epoch")
        for row in rows.values():
            row["ratio_vs_skdeep"] = row["s_per_epoch"] / base if base else None
            row["min_ratio_vs_skdeep"] = (row["min_s_per_epoch"] / base_min
                                          if base_min else None)
            # The peak is a float32 product's: no percentage for float64.
            row["pct_of_peak"] = (100.0 * row["gflops"] / peak
                                  if workload.get("dtype", "float32") == "float32"
                                  else None)
    w3 = results.get("W3")
    if w3 and "skdeep" in w3["peers"]:
        base = w3["peers"]["skdeep"]
        for row in w3["peers"].values():
            row["ratio_total_vs_skdeep"] = row["total_s"] / base["total_s"]
            row["ratio_fit_vs_skdeep"] = row["fit_s"] / base["fit_s"]
            row["ratio_second_fit_vs_skdeep"] = (row["second_fit_s"]
                                                 / base["second_fit_s"])
    for workload in results.get("P", {}).values():
        rows = workload["peers"]
        base = rows.get("skdeep", {}).get("ms_per_call")
        base_min = rows.get("skdeep", {}).get("min_ms_per_call")
        for row in rows.values():
            row["ratio_vs_skdeep"] = row["ms_per_call"] / base if base else None
            row["min_ratio_vs_skdeep"] = (row["min_ms_per_call"] / base_min
                                          if base_min else None)


def fmt(value, digits=3, suffix=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        if digits == 0:
            return f"{value:.0f}{suffix}"
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.2e}{suffix}"
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}x"


def summary_table(epoch_results):
    """sklearn/skdeep per-epoch ratios, one column per dtype."""
    dtypes = sorted({w.get("dtype", "float32") for w in epoch_results.values()},
                    key=lambda d: d != "float32")
    cells = {}
    for name, workload in epoch_results.items():
        base, activation = name.split()[:2]
        rows = workload["peers"]
        sk = rows.get("sklearn", {}).get("ratio_vs_skdeep")
        floor = rows.get("floor", {}).get("ratio_vs_skdeep")
        torch = rows.get("torch", {}).get("ratio_vs_skdeep")
        text = fmt_ratio(sk)
        if torch:
            text += f" (PyTorch {fmt_ratio(torch)})"
        if floor:
            text += f" (floor {fmt_ratio(floor)})"
        cells[(base, activation), workload.get("dtype", "float32")] = text
    keys = list(dict.fromkeys(key for key, _ in cells))
    lines = [
        "",
        "Summary: **sklearn time / skdeep time per epoch** (> 1: skdeep is "
        "faster; medians), PyTorch's the same way, and the GEMM-only floor's "
        "time / skdeep's (how close skdeep is to its matrix products alone).",
        "",
        "| workload | activation | " + " | ".join(dtypes) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in dtypes) + " |",
    ]
    for base, activation in keys:
        lines.append(f"| {base} | {activation} | " + " | ".join(
            cells.get(((base, activation), d), "-") for d in dtypes) + " |")
    return lines


def markdown(results):
    env = results["environment"]
    peak = results["matmul_peak"]
    lines = ["# skdeep benchmark", ""]
    lines += [
        f"- command: `{env['command']}`",
        f"- date: {env['date']}",
        f"- CPU: {env['cpu']}, {env['logical_cpus']} logical CPUs "
        f"({env['usable_cpus']} usable), threads per pool: **{env['threads']}**",
        f"- platform: {env['platform']}; load average (1, 5, 15 min) at start "
        f"{env['load_average_at_start']}, at end {env.get('load_average_at_end')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()
                                   if v is not None),
        f"- matmul peak (float32 {peak['n']}x{peak['n']} np.dot, median of 7, "
        f"higher of start / end of the run): NumPy **{peak['numpy']:.1f} "
        f"GFLOP/s** (used for \"% of peak\"; start "
        f"{peak['at_start']['numpy']:.1f}, end {peak['at_end']['numpy']:.1f}), "
        f"Numba np.dot (SciPy's BLAS, what skdeep's kernels call) "
        f"{fmt(peak.get('numba'), 1)} GFLOP/s",
        "- thread pools (threadpoolctl): " + "; ".join(
            f"{p['library']} ({p['api']} {p['version'] or ''}, {p['threads']} "
            f"threads{', ' + p['architecture'] if p['architecture'] else ''})"
            for p in env["thread_pools"]
        ),
    ]
    for note in results["notes"]:
        lines.append(f"- note: {note}")
    if results["epoch"]:
        lines += [
            "",
            "## Training time per epoch",
            "",
            "Median of the repeats; each timing fit runs exactly `epochs` epochs "
            "(`tol=0`, `n_iter_no_change=epochs+1`, `shuffle=True`, `alpha=0`) and "
            "s/epoch = fit wall time / `n_iter_`. **peer/skdeep** = peer time / "
            "skdeep time (> 1: skdeep is faster); *(min)*: the same with the "
            "fastest repeat of each, less sensitive to bursts of load from other "
            "processes. GFLOP/s counts 3 x the forward "
            "matmul FLOPs (2 n fan_in fan_out per layer). Fit peak RSS: "
            "high-water mark of a 1-epoch fit in a fresh subprocess minus the "
            "RSS before it (process: whole-process peak incl. imports and data). "
            "The GEMM-only floor is the epoch's matrix products alone "
            "(Numba np.dot, same shapes).",
            "",
        ]
        described = set()
        for name, workload in results["epoch"].items():
            spec = workload["spec"]
            base = name.split()[0]
            if base in described:
                continue
            described.add(base)
            lines.append(
                f"- {base}: {'-'.join(map(str, workload['sizes']))} "
                f"{'/'.join(spec['activations'])}, adam "
                f"lr {spec['lr']:g}, batch {spec['batch_size']}, alpha 0; "
                f"{spec['data']}, {workload['n_train']} train / "
                f"{workload['n_test']} test; {spec['epochs']} epoch(s) per timing "
                f"fit, {workload['n_batches']} steps per epoch, "
                f"{workload['training_gflop_per_epoch']:.2f} training GFLOP per "
                f"epoch (the products every peer actually computes, without the "
                f"first layer's input gradient: "
                f"{100 * workload['needed_fraction']:.0f}% of that)"
            )
        lines += summary_table(results["epoch"])
        lines += [
            "",
            "| workload | peer | s/epoch | min | ms/step | peer/skdeep | "
            "peer/skdeep (min) | GFLOP/s | % of peak | fit peak RSS (MB) | "
            "process peak RSS (MB) | test score |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: |",
        ]
        for name, workload in results["epoch"].items():
            spec = workload["spec"]
            label = name
            metric = "R2" if spec["task"] == "reg" else "acc"
            for peer, row in workload["peers"].items():
                memory = row.get("memory", {})
                score = row.get("score")
                lines.append(
                    f"| {label} | {PEER_LABELS[peer]} | {fmt(row['s_per_epoch'], 4)} "
                    f"| {fmt(row['min_s_per_epoch'], 4)} | "
                    f"{fmt(row['ms_per_step'], 3)} | "
                    f"{fmt_ratio(row['ratio_vs_skdeep'])} | "
                    f"{fmt_ratio(row['min_ratio_vs_skdeep'])} | "
                    f"{fmt(row['gflops'], 1)} | {fmt(row['pct_of_peak'], 1)} | "
                    f"{fmt(memory.get('fit_delta_mb'), 0)} | "
                    f"{fmt(memory.get('process_peak_rss_mb'), 0)} | "
                    + (f"{metric} {score:.4f} |" if score is not None else "- |")
                )
                label = ""
    w3 = results.get("W3")
    if w3 and w3["peers"]:
        lines += [
            "",
            "## W3: digits, default MLPClassifier, fresh process",
            "",
            f"`MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, "
            f"random_state=0)`, all other parameters default, on digits "
            f"(`X / 16` as float32, {w3['n_train']} train / {w3['n_test']} test). "
            "Each fit runs in a new Python process; the clock starts before "
            "`from <peer> import MLPClassifier` and stops after `fit` "
            "(compile cache warm: one warm-up process per peer first). "
            "Medians of the repeats. *2nd fit*: the same fit again in the same "
            "process (no one-off costs).",
            "",
            "| peer | import + fit (s) | import (s) | fit (s) | 2nd fit (s) | "
            "peer/skdeep (total) | peer/skdeep (fit) | peer/skdeep (2nd fit) | "
            "n_iter_ | test accuracy | process peak RSS (MB) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: "
            "| ---: |",
        ]
        for peer, row in w3["peers"].items():
            lines.append(
                f"| {PEER_LABELS[peer]} | {fmt(row['total_s'])} | "
                f"{fmt(row['import_s'])} | {fmt(row['fit_s'])} | "
                f"{fmt(row['second_fit_s'])} | "
                f"{fmt_ratio(row.get('ratio_total_vs_skdeep'))} | "
                f"{fmt_ratio(row.get('ratio_fit_vs_skdeep'))} | "
                f"{fmt_ratio(row.get('ratio_second_fit_vs_skdeep'))} | "
                f"{', '.join(map(str, row['n_iter']))} | {row['accuracy']:.4f} | "
                f"{fmt(row['process_peak_rss_mb'], 0)} |"
            )
    if results.get("W6"):
        lines += [
            "",
            "## W6: GridSearchCV in a fresh process",
            "",
            "`GridSearchCV(MLPClassifier(max_iter=M, random_state=0), {alpha: "
            "[1e-4, 1e-3, 1e-2], learning_rate_init: [1e-3, 3e-3], activation: "
            "[relu, tanh]}, cv=3, n_jobs=2)` on digits through StandardScaler "
            "(float64, 1,347 rows): 36 fits and the refit. Wall time of the whole "
            "process from before the peer's import to the end of `fit` (worker "
            "start-up, loading the compiled kernels in each worker, every fit, "
            "scoring), compile cache warm; medians. *fits* and *scoring*: "
            "summed over the 36 fits from `cv_results_` (time inside the "
            "workers; two run at once). *skdeep, threading backend*: the same "
            "search inside `joblib.parallel_backend(\"threading\")` "
            "(`docs/scaling.md`): the fits run on two threads of the search's "
            "process, which loads the compiled kernels once.",
            "",
            "| max_iter | peer | total (s) | fits (s) | scoring (s) | "
            "peer/skdeep | best CV score | all totals (s) |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for max_iter, rows in results["W6"].items():
            for peer, row in rows.items():
                if peer == "floor":
                    continue
                lines.append(
                    f"| {max_iter} | {PEER_LABELS[peer]} | {fmt(row['total_s'], 2)} | "
                    f"{fmt(row['sum_fit_s'], 2)} | {fmt(row['sum_score_s'], 3)} | "
                    f"{fmt_ratio(row['ratio_vs_skdeep'])} | "
                    f"{fmt(row['best_score'], 4)} | "
                    f"{', '.join(f'{v:.2f}' for v in row['all_total_s'])} |")
        lines += [
            "",
            "Where the time goes (wall clock, medians): *import* of the peer "
            "and `GridSearchCV`; *start-up* from there to the first fit in a "
            "worker (joblib starts its workers, which import the peer and "
            "unpickle the task); *workers* from the first worker fit to the "
            "last worker call's end (all fits and scoring); *refit* of the "
            "best candidate in the search's process; *first-fit extra*: what "
            "a worker's first fit takes beyond a later one of the same size "
            "(Numba's import, loading the compiled kernels). The *floor* row "
            "is the fastest search this BLAS allows: sklearn's import and "
            "start-up, skdeep's fits (same rows and epochs) at the GEMM-only "
            "floor shared perfectly by the workers plus skdeep's scoring, the "
            "refit at that floor; *sklearn/x* says how much faster than "
            "sklearn each row is.",
            "",
            "| max_iter | row | import (s) | start-up (s) | workers (s) | "
            "refit (s) | total (s) | first-fit extra (s) | sklearn/x |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for max_iter, rows in results["W6"].items():
            reference = rows.get("sklearn", {}).get("total_s")
            for peer, row in rows.items():
                ratio = reference / row["total_s"] if reference and row["total_s"] else None
                lines.append(
                    f"| {max_iter} | {PEER_LABELS[peer]} | "
                    + " | ".join(fmt(row.get(key), 2) for key in W6_PHASES)
                    + f" | {fmt(row['total_s'], 2)} | "
                    f"{fmt(row.get('first_fit_extra_s'), 2)} | {fmt_ratio(ratio)} |")
    if results.get("W7"):
        lines += [
            "",
            "## W7: prediction latency of a few rows",
            "",
            "Default `MLPClassifier` (64-100-10, 50 epochs) fitted on digits "
            "through StandardScaler; µs per call of `predict` / "
            "`predict_proba` on 1 and 10 rows of the test set, input "
            "validation included; median over interleaved rounds of the mean "
            "over 0.2 s of calls (min: the fastest round).",
            "",
            "| call | rows | dtype | skdeep (µs) | sklearn (µs) | sklearn/skdeep | "
            "(min) |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for key, cell in results["W7"].items():
            method, rows, dtype = key.split()
            sk, skd = cell.get("sklearn", {}), cell.get("skdeep", {})
            min_ratio = (sk["min_us_per_call"] / skd["min_us_per_call"]
                         if sk and skd else None)
            lines.append(
                f"| {method} | {rows} | {dtype} | {fmt(skd.get('us_per_call'), 1)} | "
                f"{fmt(sk.get('us_per_call'), 1)} | "
                f"{fmt_ratio(sk.get('ratio_vs_skdeep'))} | {fmt_ratio(min_ratio)} |")
    if results.get("P"):
        lines += [
            "",
            "## Prediction speed",
            "",
            "`predict` on the whole test set (PyTorch: forward under "
            "`torch.no_grad()` + argmax), models from the timing fits; median "
            "over rounds of the mean time per call (min: the fastest round).",
            "",
            "| test set | peer | ms per call | min | us per sample | peer/skdeep | "
            "peer/skdeep (min) | GFLOP/s |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, workload in results["P"].items():
            label = f"{name} ({workload['n_test']} samples)"
            for peer, row in workload["peers"].items():
                gflops = workload["forward_gflop"] / (row["ms_per_call"] / 1e3)
                lines.append(
                    f"| {label} | {PEER_LABELS[peer]} | {fmt(row['ms_per_call'])} | "
                    f"{fmt(row['min_ms_per_call'])} | {fmt(row['us_per_sample'])} | "
                    f"{fmt_ratio(row['ratio_vs_skdeep'])} | "
                    f"{fmt_ratio(row['min_ratio_vs_skdeep'])} | {fmt(gflops, 1)} |"
                )
                label = ""
    if results["errors"]:
        lines += ["", "## Errors", ""]
        for key, text in results["errors"].items():
            lines += [f"### {key}", "", "```", text.rstrip(), "```", ""]
    return "\n".join(lines) + "\n"


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no chart (pip install matplotlib)"
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    colors = {"skdeep": "tab:blue", "sklearn": "tab:orange", "torch": "tab:green",
              "floor": "tab:gray"}
    names = list(results["epoch"])
    order = ["skdeep", "sklearn", "torch", "floor"]
    width = 0.8 / len(order)
    for i, peer in enumerate(order):
        xs, ys = [], []
        for j, name in enumerate(names):
            row = results["epoch"][name]["peers"].get(peer)
            if row:
                xs.append(j + (i - (len(order) - 1) / 2) * width)
                ys.append(row["s_per_epoch"])
        if xs:
            left.bar(xs, ys, width, label=PEER_LABELS[peer], color=colors[peer])
    left.set_xticks(range(len(names)), names)
    left.set_yscale("log")
    left.set_ylabel("seconds per epoch (median, log scale)")
    left.set_title("Training time per epoch")
    left.legend()

    items = [(f"{name} epoch", results["epoch"][name]["peers"], "ratio_vs_skdeep")
             for name in names]
    if results.get("W3"):
        items.append(("W3 fresh fit", results["W3"]["peers"],
                      "ratio_total_vs_skdeep"))
    for name, workload in results.get("P", {}).items():
        items.append((f"predict {name}", workload["peers"], "ratio_vs_skdeep"))
    peers = ["sklearn", "torch", "floor"]
    width = 0.8 / len(peers)
    for i, peer in enumerate(peers):
        xs, ys = [], []
        for j, (_, rows, key) in enumerate(items):
            value = rows.get(peer, {}).get(key)
            if value:
                xs.append(j + (i - (len(peers) - 1) / 2) * width)
                ys.append(value)
        if xs:
            right.bar(xs, ys, width, label=PEER_LABELS[peer], color=colors[peer])
    right.axhline(1.0, color="black", linewidth=1)
    right.set_xticks(range(len(items)), [item[0] for item in items], rotation=30,
                     ha="right")
    right.set_yscale("log")
    right.set_ylabel("peer time / skdeep time (> 1: skdeep faster)")
    right.set_title("Speed-up of skdeep")
    right.legend()
    fig.suptitle(f"skdeep benchmark, {results['environment']['cpu']}, "
                 f"{results['environment']['threads']} threads")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None


# -- driver --------------------------------------------------------------------


def combine_peaks(start, end):
    """The higher of the peaks measured at the start and at the end (a busy
    moment on a shared machine only lowers it); both are kept."""
    combined = {"n": start["n"], "at_start": start, "at_end": end}
    for key in ("numpy", "numba"):
        values = [p[key] for p in (start, end) if key in p]
        if values:
            combined[key] = max(values)
    return combined


def run_suite(args):
    started = time.perf_counter()
    notes = []
    peers = [p for p in args.peers if p in _peers.PEERS]
    for peer in args.peers:
        if peer not in _peers.PEERS:
            notes.append(f"unknown peer {peer!r} ignored")
    if "torch" in peers and not _peers.torch_available():
        peers.remove("torch")
        notes.append("PyTorch is not installed: no PyTorch peer "
                     "(pip install torch==2.13.0)")
    import numba  # noqa: F401  (load every thread pool before limiting them)

    if "torch" in peers:
        _peers.set_torch_threads(args.threads)
    limits = threadpoolctl.threadpool_limits(limits=args.threads)
    env = environment(args.threads)
    log(f"CPU {env['cpu']}, {env['usable_cpus']} usable CPUs, threads "
        f"{args.threads}; pools: {env['thread_pools']}")
    for note in notes:
        log(f"note: {note}")
    peak = _peers.matmul_peak()
    log(f"matmul peak: {peak}")

    specs = workload_specs(args.quick, args.epochs, args.activations)
    results = {"environment": env, "args": vars(args), "peers": peers,
               "matmul_peak": peak, "epoch": {}, "notes": notes, "errors": {}}
    errors = results["errors"]
    datasets, fitted = {}, {}
    with tempfile.TemporaryDirectory(prefix="skdeep-bench-") as tmpdir:
        for name in EPOCH_WORKLOADS:
            if name not in args.workloads:
                continue
            data = load_workload_data(name, specs[name])
            if data is None:
                note = (f"{name} skipped: the mnist1d package is not installed "
                        "(pip install mnist1d)")
                notes.append(note)
                log(note)
                continue
            datasets[name] = data
            for label, spec in variants(name, specs[name], args.dtypes):
                results["epoch"][label], models = run_epoch_workload(
                    label, spec, data, peers, args, tmpdir, errors
                )
                if spec["activation"] == "relu" and spec["dtype"] == "float32":
                    fitted[name] = models  # P predicts with these
        if "W3" in args.workloads:
            results["W3"] = run_w3(args, tmpdir, errors)
        if "W6" in args.workloads:
            results["W6"] = run_w6(args, tmpdir, errors)
        if "W7" in args.workloads:
            results["W7"] = run_w7(args, errors)
        if "P" in args.workloads:
            results["P"] = run_predict(args, specs, datasets, fitted, peers, errors)
    end_peak = _peers.matmul_peak()
    log(f"matmul peak at the end: {end_peak}")
    results["matmul_peak"] = combine_peaks(peak, end_peak)
    limits.restore_original_limits()
    results["elapsed_s"] = time.perf_counter() - started
    env["load_average_at_end"] = load_average()
    add_ratios(results)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chart_note = plot(results, out / "results.png")
    if chart_note:
        notes.append(chart_note)
    text = markdown(results) + f"\nTotal run time {results['elapsed_s']:.0f} s.\n"
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(text)
    log(f"wrote {out / 'results.md'}, {out / 'results.json'}"
        + ("" if chart_note else f", {out / 'results.png'}"))
