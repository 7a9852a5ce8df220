"""
Training curves
===============

Every stochastic fit records its loss per epoch (``loss_curve_``) and a
``history_`` with one record per epoch; with validation data (here the
``validation_fraction`` that early stopping holds out) it also records the
validation loss and score. :class:`~skdeep.TrainingCurveDisplay` draws them:
training and validation loss on the left, accuracy on the right.

matplotlib is needed: ``pip install "skdeep-mlp[plot]"``.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skdeep import MLPClassifier, TrainingCurveDisplay

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
plt.show()

# %%
# The same numbers are in ``history_``, one dict per epoch (the learning
# rate, the time, and the relative size of each layer's update too):
last = clf.history_[-1]
{key: last[key] for key in ("loss", "validation_loss", "validation_score",
                            "learning_rate", "update_ratio")}
