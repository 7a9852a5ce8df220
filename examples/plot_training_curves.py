"""Plot the training curves of an MLPClassifier.

Fits an :class:`skdeep.MLPClassifier` with early stopping on the digits data
set (pixel values scaled to [0, 1]) and draws its curves per epoch with
``TrainingCurveDisplay``: training and validation loss on the left,
validation accuracy on the right. The validation data is the
``validation_fraction`` (10%) of the training data that early stopping holds
out.

The figure is saved as ``training_curves.png`` in the directory given as the
first command-line argument (default: the current directory)::

    python examples/plot_training_curves.py /tmp

matplotlib is needed: ``pip install matplotlib`` (or ``pip install
skdeep[plot]``).
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write a file; no window needed

from sklearn.datasets import load_digits  # noqa: E402

from skdeep import MLPClassifier, TrainingCurveDisplay  # noqa: E402

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities are 0..16

clf = MLPClassifier(
    hidden_layer_sizes=(64,), early_stopping=True, random_state=0, max_iter=60
)
clf.fit(X, y)

display = TrainingCurveDisplay.from_estimator(clf)
display.figure_.suptitle(
    f"MLPClassifier on digits: {clf.n_iter_} epochs, best validation "
    f"accuracy {clf.best_validation_score_:.3f}"
)

path = out_dir / "training_curves.png"
display.figure_.savefig(path, dpi=100)
print(path)
