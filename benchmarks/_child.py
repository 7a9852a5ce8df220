"""Subprocess side of the benchmark (run by ``_suite.py``; not for direct use).

``python _child.py fresh-fit PEER DATA.npz``
    W3: the digits fit in a fresh process. The clock starts before
    ``from <peer> import MLPClassifier`` and stops after ``fit``; only the
    standard library, NumPy and the data are loaded before it. The same fit
    is then repeated in the same process (``second_fit_s``): the difference
    is the first fit's one-off cost (loading compiled kernels, first calls).

``python _child.py memory PEER DATA.npz SPEC_JSON THREADS``
    Peak resident memory of one epoch of a per-epoch workload: load the data,
    import the peer, warm up (a 1-epoch fit on 1,000 samples: compilation or
    cache loading, first-call allocations), reset the high-water mark, fit one
    epoch on the full data, report the high-water mark minus the RSS just
    before the fit.

``python _child.py grid-search PEER DATA.npz MAX_ITER [BACKEND]``
    W6: ``GridSearchCV`` of the default ``MLPClassifier`` (``max_iter``
    given) over alpha x learning_rate_init x activation (12 candidates,
    3-fold, ``n_jobs=2``) in a fresh process, timed from before the peer's
    import to the end of ``fit`` (worker start-up, every fit and scoring),
    with the phases of :func:`_timeline.phases`. BACKEND (``loky``, the
    default, or ``threading``) is joblib's.

All print one JSON line on stdout. Thread counts come from the environment
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ...), set by the parent.
"""

import json
import sys
import time
import warnings

import numpy as np


def fresh_fit(peer, path):
    warnings.simplefilter("ignore")
    data = np.load(path)
    X, X_test, y, y_test = (data[k] for k in ("X", "X_test", "y", "y_test"))
    started = time.perf_counter()
    if peer == "skdeep":
        from skdeep import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    imported = time.perf_counter()
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    clf.fit(X, y)
    fitted = time.perf_counter()
    again = MLPClassifier(hidden_layer_sizes=(100,), max_iter=200, random_state=0)
    again.fit(X, y)
    refit_s = time.perf_counter() - fitted
    import _peers

    return {
        "total_s": fitted - started,
        "import_s": imported - started,
        "fit_s": fitted - imported,
        "second_fit_s": refit_s,
        "n_iter": int(clf.n_iter_),
        "accuracy": float(clf.score(X_test, y_test)),
        "dtype": str(clf.coefs_[0].dtype),
        "process_peak_rss_mb": _peers.peak_rss_mb(),
    }


def grid_search(peer, path, max_iter, backend="loky"):
    import os
    import tempfile

    import _timeline

    warnings.simplefilter("ignore")
    data = np.load(path)
    X, y = data["X"], data["y"]
    fd, timeline = tempfile.mkstemp(prefix="skdeep_w6_", suffix=".log")
    os.close(fd)
    os.environ["SKDEEP_BENCH_TIMELINE"] = timeline  # the workers inherit it
    started = time.perf_counter()
    MLPClassifier = getattr(_timeline, _timeline.TIMED_CLASS[peer])
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    imported = time.perf_counter()
    imported_wall = time.time()
    grid = {"alpha": [1e-4, 1e-3, 1e-2], "learning_rate_init": [1e-3, 3e-3],
            "activation": ["relu", "tanh"]}
    search = GridSearchCV(MLPClassifier(max_iter=max_iter, random_state=0), grid,
                          cv=3, n_jobs=2)
    with parallel_backend(backend):
        search.fit(X, y)
    total = time.perf_counter() - started
    results = search.cv_results_
    n_fits = len(results["params"]) * search.n_splits_
    try:
        phases = _timeline.phases(timeline, imported_wall, _timeline.caller())
    finally:
        os.unlink(timeline)
    return {
        "total_s": total,
        "import_s": imported - started,
        "n_fits": n_fits,
        # per candidate: mean over folds; summed over candidates x folds
        "sum_fit_s": float(np.sum(results["mean_fit_time"]) * search.n_splits_),
        "sum_score_s": float(np.sum(results["mean_score_time"]) * search.n_splits_),
        "best_score": float(search.best_score_),
        **phases,
    }


def memory(peer, path, spec_json, threads):
    import gc

    import _peers

    warnings.simplefilter("ignore")
    spec = json.loads(spec_json)
    data = np.load(path)
    X, y = data["X"], data["y"]
    if peer == "torch":
        _peers.set_torch_threads(threads)
    warm = min(1000, X.shape[0])
    _peers.make_estimator(peer, spec, 1, 0).fit(X[:warm], y[:warm])
    gc.collect()
    before_peak = _peers.peak_rss_mb()
    before = _peers.rss_mb()
    reset = _peers.reset_peak_rss()
    if not reset or before is None:
        before = before_peak
    est = _peers.make_estimator(peer, spec, 1, 0)
    est.fit(X, y)
    peak = _peers.peak_rss_mb()
    return {
        "rss_before_fit_mb": before,
        "fit_peak_rss_mb": peak,
        "fit_delta_mb": max(0.0, peak - before),
        "process_peak_rss_mb": max(peak, before_peak),
        "method": "VmHWM reset via /proc/self/clear_refs" if reset
        else "ru_maxrss difference (high-water mark could not be reset)",
    }


def main(argv):
    mode, peer, path = argv[:3]
    if mode == "fresh-fit":
        result = fresh_fit(peer, path)
    elif mode == "grid-search":
        result = grid_search(peer, path, int(argv[3]), *argv[4:5])
    elif mode == "memory":
        result = memory(peer, path, argv[3], int(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
