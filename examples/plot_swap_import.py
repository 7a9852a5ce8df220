"""
Swap the import
===============

skdeep's :class:`~skdeep.MLPClassifier` takes the same parameters, with the
same defaults, as scikit-learn's, so an existing training script runs
unchanged after swapping one import line::

    # from sklearn.neural_network import MLPClassifier
    from skdeep import MLPClassifier

This example runs one ordinary script with each class on the digits data
set and compares test accuracy and fit time. The first skdeep fit in a
process includes getting the compiled kernels: compiling them (10-20 s, once
per environment) or loading them from the on-disk cache (under a second).
The second skdeep fit below runs in the same process, so its kernels are
already loaded: that is the time every later fit takes.
"""

# %%
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

warnings.simplefilter("ignore", ConvergenceWarning)


def script(MLPClassifier):
    """An ordinary sklearn training script, parameterized by the class."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, random_state=0, stratify=y
    )
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    return clf.score(X_test, y_test), elapsed, clf.n_iter_


# %%
# The same script, three times
# ----------------------------
from sklearn.neural_network import MLPClassifier as SklearnMLP  # noqa: E402

from skdeep import MLPClassifier as SkdeepMLP  # noqa: E402

runs = [
    ("sklearn", SklearnMLP),
    ("skdeep, first fit in this process", SkdeepMLP),
    ("skdeep, second fit (kernels loaded)", SkdeepMLP),
]
for name, cls in runs:
    accuracy, seconds, epochs = script(cls)
    print(f"{name:36s} accuracy {accuracy:.4f}  fit {seconds:6.2f} s  "
          f"({epochs} epochs)")

# %%
# Both reach about the same accuracy: the initial weights are sklearn's for
# the same ``random_state``, but skdeep shuffles the minibatches with its own
# generator, so the two runs are not identical number for number.
# ``benchmarks/`` in the repository measures the speed difference properly
# (several runs, medians, several network sizes).
