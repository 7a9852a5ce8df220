"""
Scaling out with Dask
=====================

skdeep's estimators are ordinary scikit-learn estimators, so the two
standard ways of using a Dask cluster work unchanged:

- **many fits at once**: ``GridSearchCV`` or ``RandomizedSearchCV`` inside
  ``joblib.parallel_backend("dask")`` sends each fit to a worker;
- **data larger than memory**: ``dask_ml.wrappers.Incremental`` streams the
  blocks of a Dask array into ``partial_fit``, one block at a time.

Here a ``LocalCluster`` with two single-threaded workers stands in for a
real cluster; with a cluster elsewhere, connect the ``Client`` to its
scheduler's address instead (``Client("tcp://scheduler:8786")``), and
nothing else changes. The workers here are threads of this process, so that
the example runs as it is in the documentation build. With worker processes
(``processes=True``, the default) run the code as a script under
``if __name__ == "__main__":``, because each worker process imports the main
script again; each of them then loads skdeep's compiled kernels from the
on-disk cache on its first fit (the user guide's "Scaling out" page says how
to provide them on other machines). The test suite runs the search below on
a cluster of worker processes and checks that the results equal a local
run's.

``pip install "dask[distributed]" dask-ml`` is needed.
"""

# %%
# Start a cluster
# ---------------
import time
import warnings

import dask.array as da
import joblib
import numpy as np
from dask.distributed import Client, LocalCluster
from dask_ml.wrappers import Incremental
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import RandomizedSearchCV, train_test_split

from skdeep import MLPClassifier, Optimizer

warnings.simplefilter("ignore", ConvergenceWarning)

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                       dashboard_address=":0")
client = Client(cluster)
print(f"{len(client.scheduler_info()['workers'])} workers")

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, random_state=0, stratify=y
)

# %%
# A hyperparameter search on the cluster
# --------------------------------------
# Every candidate and fold is one task. The search object stays on this
# machine; only the fits run on the workers. The final refit with the best
# parameters runs here.
search = RandomizedSearchCV(
    MLPClassifier(hidden_layer_sizes=(64,), solver=Optimizer("rmsprop"),
                  max_iter=30, random_state=0),
    {"solver__rho": [0.8, 0.9, 0.95, 0.99],
     "learning_rate_init": [1e-3, 3e-3, 1e-2],
     "alpha": [1e-5, 1e-4, 1e-3]},
    n_iter=8, cv=3, random_state=0, n_jobs=-1,
)
start = time.perf_counter()
with joblib.parallel_backend("dask"):
    search.fit(X_train, y_train)
print(f"search on the cluster: {time.perf_counter() - start:.1f} s, "
      f"best cross-validated accuracy {search.best_score_:.4f}, "
      f"test accuracy {search.score(X_test, y_test):.4f}")
print(search.best_params_)

# %%
# With the same seeds, the workers' results are the ones a local run gets
# (the test suite checks this):
local = RandomizedSearchCV(search.estimator, search.param_distributions,
                           n_iter=8, cv=3, random_state=0).fit(X_train, y_train)
assert np.array_equal(local.cv_results_["mean_test_score"],
                      search.cv_results_["mean_test_score"])
print("same scores as a local search")

# %%
# Training on blocks: data larger than memory
# -------------------------------------------
# A Dask array of 200-row blocks stands in for data on disk. ``Incremental``
# calls ``partial_fit`` once per block, in a shuffled block order, on a
# worker; each call is one epoch over that block. ``classes`` must be given
# up front, since no single block need contain every class. Each
# ``inc.partial_fit`` call below is one pass over all blocks.
X_blocks = da.from_array(X_train, chunks=(200, X_train.shape[1]))
y_blocks = da.from_array(y_train, chunks=200)
classes = np.unique(y)


def train_on_blocks(estimator, passes=10):
    inc = Incremental(estimator, scoring="accuracy", random_state=0)
    for _ in range(passes):
        inc.partial_fit(X_blocks, y_blocks, classes=classes)
    return inc


from sklearn.neural_network import MLPClassifier as SklearnMLP  # noqa: E402

for name, estimator in [
    ("skdeep", MLPClassifier(hidden_layer_sizes=(64,), random_state=0)),
    ("sklearn", SklearnMLP(hidden_layer_sizes=(64,), random_state=0)),
]:
    inc = train_on_blocks(estimator)
    print(f"{name:8s} Incremental, 10 passes over {X_blocks.numblocks[0]} "
          f"blocks: test accuracy {inc.score(X_test, y_test):.4f}")

# %%
client.close()
cluster.close()
