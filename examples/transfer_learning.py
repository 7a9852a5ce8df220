"""Transfer a trained hidden layer to a new task, frozen or fine-tuned.

Trains a network on digits 0-4, then networks for digits 5-9 from only 30
labelled examples: one starts from the first network's hidden layer and
keeps it fixed (``transfer_from``, ``transfer_layers=1``,
``frozen_layers=[0]``: only the new output layer learns), one starts from it
and fine-tunes everything, and one starts from scratch. Prints the test
accuracy of each::

    python examples/transfer_learning.py
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdeep import MLPClassifier

if __name__ == "__main__":
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    first, second = y < 5, y >= 5
    params = dict(hidden_layer_sizes=(256,), random_state=0)
    base = MLPClassifier(max_iter=200, alpha=1e-3, **params)
    base.fit(X[first], y[first])

    X_train, X_test, y_train, y_test = train_test_split(
        X[second], y[second], train_size=30, random_state=0, stratify=y[second]
    )
    variants = {
        "from scratch": {},
        "transferred, frozen": dict(transfer_from=base, transfer_layers=1,
                                    frozen_layers=[0]),
        "transferred, fine-tuned": dict(transfer_from=base, transfer_layers=1),
    }
    for name, extra in variants.items():
        clf = MLPClassifier(learning_rate_init=0.01, max_iter=200, **params,
                            **extra).fit(X_train, y_train)
        if "frozen" in name:
            assert np.array_equal(clf.coefs_[0], base.coefs_[0])
        print(f"{name:24s} test accuracy {clf.score(X_test, y_test):.4f}")
