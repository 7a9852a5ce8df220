"""Fits on several threads at once, as joblib's threading backend runs them.

The compiled kernels run without the GIL, so a search's fits can share one
process: the results must be a sequential search's, bit for bit, and the
process must be left as it was (BLAS thread counts).
"""

import threading

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info

from skdeep import MLPClassifier, _training


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360] / 16.0, y[:360]


def _blas_threads():
    return [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()
            if pool["user_api"] == "blas"]


def test_threaded_grid_search_equals_sequential(digits):
    X, y = digits

    def search(n_jobs):
        return GridSearchCV(
            MLPClassifier(hidden_layer_sizes=(16,), max_iter=8, random_state=0),
            {"alpha": [1e-4, 1e-2], "activation": ["relu", "tanh"]},
            cv=3, n_jobs=n_jobs)

    before = _blas_threads()
    with joblib.parallel_backend("threading"):
        threaded = search(2).fit(X, y)
    assert _blas_threads() == before
    sequential = search(1).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(threaded.cv_results_[key],
                                      sequential.cv_results_[key])
    for mine, theirs in zip(threaded.best_estimator_.coefs_,
                            sequential.best_estimator_.coefs_, strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_fits_off_the_main_thread_keep_their_epochs_there(digits, monkeypatch):
    # Every epoch counts as long. On the main thread it is handed to the
    # epoch thread (so Ctrl-C is heard); elsewhere it stays where it is:
    # one shared epoch thread would run concurrent fits one after another.
    X, y = digits
    handed_over = []
    original = _training.run_interruptibly

    def recording(task, args, control):
        handed_over.append(threading.current_thread().name)
        return original(task, args, control)

    monkeypatch.setattr(_training, "_SHORT_EPOCH", -1.0)
    monkeypatch.setattr(_training, "run_interruptibly", recording)

    def fit():
        return MLPClassifier(hidden_layer_sizes=(16,), max_iter=3,
                             random_state=0).fit(X, y)

    on_main = fit()
    assert len(handed_over) == 3
    handed_over.clear()
    results = []
    workers = [threading.Thread(target=lambda: results.append(fit()))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert handed_over == []
    assert len(results) == 2
    for clf in results:
        np.testing.assert_array_equal(clf.coefs_[0], on_main.coefs_[0])
