"""skdeep on a Dask cluster of worker processes gives a local run's results.

Starts a real ``LocalCluster`` (two worker processes, one thread each): the
estimators travel to the workers by pickle, the workers import skdeep and
load the compiled kernels there, and with the same seeds every number must
be the one a local run computes.
"""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skdeep import MLPClassifier, Optimizer

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    # Worker processes must import this checkout's skdeep (tests run with
    # PYTHONPATH set to it, which the spawned workers inherit).
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True,
        dashboard_address=":0",
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _search():
    return GridSearchCV(
        MLPClassifier(hidden_layer_sizes=(16,), solver=Optimizer("rmsprop"),
                      max_iter=15, random_state=0),
        {"solver__rho": [0.9, 0.99], "alpha": [1e-4, 1e-2]},
        cv=3, n_jobs=-1,
    )


def _fit_weights(X, y):
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver=Optimizer("rmsprop",
                        rho=0.95), max_iter=15, random_state=0).fit(X, y)
    return clf.coefs_, clf.intercepts_, clf.loss_curve_


def test_grid_search_on_cluster_equals_local(client, digits):
    X, y = digits
    with joblib.parallel_backend("dask"), \
            distributed.get_task_stream(client) as tasks:
        remote = _search().fit(X, y)
    local = _search().set_params(n_jobs=1).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key],
                                      local.cv_results_[key])
    assert remote.best_params_ == local.best_params_
    # The 12 fits (4 candidates x 3 folds) really ran on the workers.
    workers = {record["worker"] for record in tasks.data}
    assert len(tasks.data) >= 12
    assert workers <= set(client.scheduler_info()["workers"])


def test_fit_in_worker_process_equals_local(client, digits):
    X, y = digits
    (worker, ) = list(client.scheduler_info()["workers"])[:1]
    remote = client.submit(_fit_weights, X, y, workers=[worker]).result()
    pid = client.run(__import__("os").getpid, workers=[worker])[worker]
    assert pid != __import__("os").getpid()
    local = _fit_weights(X, y)
    for remote_part, local_part in zip(remote, local, strict=True):
        for r, loc in zip(remote_part, local_part, strict=True):
            np.testing.assert_array_equal(r, loc)


def test_incremental_streams_blocks_into_partial_fit(client, digits):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = digits
    X_blocks = da.from_array(X, chunks=(150, X.shape[1]))
    y_blocks = da.from_array(y, chunks=150)
    classes = np.unique(y)
    params = dict(hidden_layer_sizes=(16,), random_state=0)
    inc = wrappers.Incremental(MLPClassifier(**params), shuffle_blocks=False)
    for _ in range(2):
        inc.partial_fit(X_blocks, y_blocks, classes=classes)
    loop = MLPClassifier(**params)
    for _ in range(2):
        for start in range(0, len(X), 150):
            loop.partial_fit(X[start:start + 150], y[start:start + 150],
                             classes=classes)
    for r, loc in zip(inc.estimator_.coefs_, loop.coefs_, strict=True):
        np.testing.assert_array_equal(r, loc)
    assert inc.estimator_.t_ == loop.t_ == 2 * len(X)
    assert inc.estimator_.loss_curve_ == loop.loss_curve_
