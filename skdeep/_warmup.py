"""Ahead-of-time compilation: fill the kernel cache before the first fit.

``python -m skdeep compile`` runs these functions. They compile nothing
themselves: they fit and predict with tiny models, one per plugin and
dtype, so that the estimators compile (or load) exactly what a real fit
needs and Numba's on-disk cache keeps it. A later process (a Docker
image's first fit, a Dask worker, a CI job) then only loads machine code.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

DTYPES = ("float32", "float64")

# Plugin kinds whose math is compiled (initializers run in NumPy).
_COMPILED_KINDS = ("activation", "optimizer", "regularizer", "loss")


def _tiny_data(dtype, n_classes=3, n_samples=40, n_features=4):
    rng = np.random.RandomState(0)
    X = rng.uniform(-1.0, 1.0, size=(n_samples, n_features)).astype(dtype)
    y = np.arange(n_samples) % n_classes
    return X, y


def _fit_tiny(estimator, dtype, n_classes=3):
    """Fit ``estimator`` for one epoch on tiny data, then predict with it."""
    from sklearn.base import is_classifier

    X, y = _tiny_data(dtype, n_classes)
    if not is_classifier(estimator):
        y = X[:, 0] ** 2 + 0.5  # positive: the Poisson loss accepts it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge
        estimator.fit(X, y)
    estimator.predict(X[:2])
    return estimator


def prepare(estimator, dtype):
    """Compile or load the kernels ``estimator``'s fit on ``dtype`` data uses.

    Fits a copy with the same activations, solver, regularizer, loss and
    number of hidden layers, two units wide, for one epoch on 40 rows, and
    predicts with it.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Not modified.
    dtype : str or numpy dtype
        The dtype of the data the real fit will get.

    Returns
    -------
    float
        Seconds it took (compiling, in a fresh environment; loading from
        the cache, in a fresh process; almost nothing after that).
    """
    from sklearn.base import clone

    sizes = estimator.hidden_layer_sizes
    depth = len(sizes) if hasattr(sizes, "__len__") else 1
    tiny = clone(estimator).set_params(
        hidden_layer_sizes=(2,) * depth, max_iter=1, early_stopping=False,
        verbose=False, callbacks=None, batch_size="auto",
    )
    start = time.perf_counter()
    _fit_tiny(tiny, dtype)
    return time.perf_counter() - start


def plugin_names(include_installed=False):
    """Names of the plugins ``warm_up`` compiles, by kind.

    Parameters
    ----------
    include_installed : bool, default=False
        Also the plugins of installed packages (entry points) and of
        runtime registrations; by default only skdeep's built-ins.

    Returns
    -------
    dict of str to list of str
    """
    from ._registry import get_registry

    names = {}
    for kind, table in get_registry().tables().items():
        if kind not in _COMPILED_KINDS:
            continue
        names[kind] = sorted(
            name for name, entry in table.items()
            if include_installed or entry.source.startswith("skdeep.builtins")
        )
    return names


def _jobs(dtype, names):
    """``(label, callable)`` pairs that together use every kernel and block."""
    from . import _mlp
    from ._registry import get_registry

    def classifier(**params):
        return lambda: _fit_tiny(_mlp.MLPClassifier(
            hidden_layer_sizes=(2,), max_iter=1, random_state=0, **params), dtype)

    def regressor(**params):
        return lambda: _fit_tiny(_mlp.MLPRegressor(
            hidden_layer_sizes=(2,), max_iter=1, random_state=0, **params), dtype)

    # The defaults first: the training, prediction and validation-loss
    # kernels with relu, adam, l2 and the softmax log-loss.
    jobs = [("training, prediction and validation kernels",
             classifier(early_stopping=True, validation_fraction=0.25))]
    for name in names.get("activation", []):
        if name != "relu":
            jobs.append((f"activation {name}", classifier(activation=name)))
    for name in names.get("optimizer", []):
        if name != "adam":
            jobs.append((f"optimizer {name}", classifier(solver=name)))
    for name in names.get("regularizer", []):
        if name != "l2":
            jobs.append((f"regularizer {name}", classifier(regularizer=name)))
    registry = get_registry()
    for name in names.get("loss", []):
        if registry.get("loss", name).task == "classification":
            jobs.append((f"loss {name} (softmax)", classifier(loss=name)))
            jobs.append((f"loss {name} (logistic)", lambda name=name: _fit_tiny(
                _mlp.MLPClassifier(hidden_layer_sizes=(2,), max_iter=1,
                                   random_state=0, loss=name), dtype, n_classes=2)))
        else:
            jobs.append((f"loss {name}", regressor(loss=name)))
    return jobs


def _warm_dtype(dtype, include_installed, report=None):
    names = plugin_names(include_installed)
    results = []
    for label, job in _jobs(np.dtype(dtype).name, names):
        start = time.perf_counter()
        try:
            job()
            error = None
        except Exception as exc:  # one broken plugin must not stop the rest
            error = exc
        seconds = time.perf_counter() - start
        results.append((dtype, label, seconds, error))
        if report is not None:
            report(dtype, label, seconds, error)
    return results


def _warm_dtype_in_worker(dtype, include_installed):
    # Exceptions travel back as text: a plugin's own may not unpickle.
    return [(d, label, seconds, None if error is None
             else f"{type(error).__name__}: {error}")
            for d, label, seconds, error in _warm_dtype(dtype, include_installed)]


def warm_up(dtypes=DTYPES, include_installed=False, report=None, processes=1):
    """Compile and cache the kernels of every plugin for ``dtypes``.

    Parameters
    ----------
    dtypes : sequence of str, default=("float32", "float64")
    include_installed : bool, default=False
        Also compile the plugins of installed packages (see
        :func:`plugin_names`).
    report : callable, optional
        Called as ``report(dtype, label, seconds, error)`` after every job
        (``error`` is None, or the exception a plugin raised; from a worker
        process, a ``RuntimeError`` with its text).
    processes : int, default=1
        Compile the dtypes in this many processes at once (at most one per
        dtype; each dtype's kernels compile on one core). With more than
        one, reports come per dtype when it is done.

    Returns
    -------
    list of (str, str, float, Exception or None)
        One ``(dtype, label, seconds, error)`` per job. A failing plugin
        does not stop the others.
    """
    processes = max(1, min(processes, len(dtypes)))
    if processes == 1:
        return [row for dtype in dtypes
                for row in _warm_dtype(dtype, include_installed, report)]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    results = []
    # spawn: a forked child would inherit this process's Numba and BLAS
    # threads' state.
    with ProcessPoolExecutor(processes,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_warm_dtype_in_worker, dtype, include_installed)
                   for dtype in dtypes]
        for future in futures:
            for dtype, label, seconds, error in future.result():
                error = None if error is None else RuntimeError(error)
                results.append((dtype, label, seconds, error))
                if report is not None:
                    report(dtype, label, seconds, error)
    return results
