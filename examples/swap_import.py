"""Swap sklearn's MLPClassifier for skdeep's: the same script, unchanged.

Runs one training script twice, once with each import, on the digits data
set, and prints the test accuracy and fit time of both::

    python examples/swap_import.py

The first skdeep fit in a new environment includes compiling the kernels
(cached on disk afterwards).
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split


def script(MLPClassifier):
    """An ordinary sklearn training script, parameterized by the class."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, random_state=0, stratify=y
    )
    clf = MLPClassifier(hidden_layer_sizes=(100,), max_iter=100, random_state=0)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    return clf.score(X_test, y_test), elapsed, clf.n_iter_


if __name__ == "__main__":
    warnings.simplefilter("ignore", ConvergenceWarning)
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    from skdeep import MLPClassifier as SkdeepMLP

    for name, cls in (("sklearn", SklearnMLP), ("skdeep", SkdeepMLP),
                      ("skdeep (compiled, cached)", SkdeepMLP)):
        accuracy, seconds, epochs = script(cls)
        print(f"{name:26s} accuracy {accuracy:.4f}  fit {seconds:6.2f} s  "
              f"({epochs} epochs)")
