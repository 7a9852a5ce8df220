"""Where a W6 search spends its time: estimators that log their fits.

``_child.py grid-search`` searches over ``TimedSkdeep`` or ``TimedSklearn``
(the peer's ``MLPClassifier`` with a logging ``fit`` and ``score``) instead of
the plain class. Each process (the search's own and every joblib worker)
appends one line per call to the file named by ``SKDEEP_BENCH_TIMELINE``:
process and thread, call, wall-clock start and end, training rows and
epochs.
:func:`phases` turns those lines into the search's phases. The classes are
made on first access, so a worker imports only its own peer.
"""

import os
import threading
import time

_PEER_MODULES = {"TimedSkdeep": ("skdeep", "MLPClassifier"),
                 "TimedSklearn": ("sklearn.neural_network", "MLPClassifier")}
TIMED_CLASS = {"skdeep": "TimedSkdeep", "sklearn": "TimedSklearn"}


def _append(kind, started, n_rows=0, n_iter=0):
    with open(os.environ["SKDEEP_BENCH_TIMELINE"], "a") as log:
        log.write(f"{caller()} {kind} {started:.6f} {time.time():.6f} "
                  f"{n_rows} {n_iter}\n")


def _timed(base, name):
    def fit(self, X, y, **fit_params):
        started = time.time()
        result = base.fit(self, X, y, **fit_params)
        _append("fit", started, len(X), getattr(self, "n_iter_", 0))
        return result

    def score(self, X, y, sample_weight=None):
        started = time.time()
        result = base.score(self, X, y, sample_weight=sample_weight)
        _append("score", started, len(X))
        return result

    return type(name, (base,), {"fit": fit, "score": score, "__module__": __name__})


def __getattr__(name):
    if name not in _PEER_MODULES:
        raise AttributeError(name)
    import importlib

    module, attribute = _PEER_MODULES[name]
    cls = _timed(getattr(importlib.import_module(module), attribute), name)
    globals()[name] = cls  # pickle finds the same class again by name
    return cls


def caller():
    """This process and thread, as :func:`phases` names them."""
    return f"{os.getpid()}:{threading.get_ident()}"


def phases(path, imported, main):
    """The search's phases from the log at ``path``.

    Parameters
    ----------
    path : str
        The timeline file.
    imported : float
        Wall-clock time at the end of the peer's import.
    main : str
        The search's own thread (:func:`caller`; its ``fit`` is the refit).
        Every other process or thread is a worker.

    Returns
    -------
    dict
        ``startup_s``: end of the import to the first worker's first fit
        (joblib starting its workers, which import the peer and unpickle the
        task); ``workers_s``: first worker fit to the last worker call's end;
        ``refit_s``: the refit in the search's process; ``first_fit_extra_s``:
        median over workers of the first fit's excess over the median fit of
        the same size and epochs in that worker (loading compiled kernels,
        first calls); ``fits``: ``(rows, epochs)`` of every worker fit;
        ``refit``: ``(rows, epochs)`` of the refit.
    """
    import statistics

    events = []
    with open(path) as log:
        for line in log:
            who, kind, start, end, n_rows, n_iter = line.split()
            events.append((who, kind, float(start), float(end), int(n_rows),
                           int(n_iter)))
    worker = [e for e in events if e[0] != main]
    refits = [e for e in events if e[0] == main and e[1] == "fit"]
    worker_fits = [e for e in worker if e[1] == "fit"]
    extras = []
    for who in {e[0] for e in worker_fits}:
        own = sorted((e for e in worker_fits if e[0] == who), key=lambda e: e[2])
        first = own[0]
        alike = [e[3] - e[2] for e in own[1:] if e[4:] == first[4:]]
        if alike:
            extras.append((first[3] - first[2]) - statistics.median(alike))
    first_start = min(e[2] for e in worker)
    return {
        "startup_s": first_start - imported,
        "workers_s": max(e[3] for e in worker) - first_start,
        "refit_s": sum(e[3] - e[2] for e in refits),
        "first_fit_extra_s": statistics.median(extras) if extras else None,
        "n_workers": len({e[0] for e in worker}),
        "fits": [list(e[4:]) for e in worker_fits],
        "refit": [list(e[4:]) for e in refits],
    }
