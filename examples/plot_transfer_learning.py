"""
Transfer learning with few labels
=================================

A network trained on one task can start another: ``transfer_from`` copies
its leading ``transfer_layers`` weight layers into a new estimator, and
``frozen_layers`` keeps them fixed while the rest trains.

Here a 128-64 network learns to recognise the ten digits on one half of the
digits data set. The new task, on the *other* half (images the first network
never saw), is to tell odd digits from even ones, with only a handful of
labelled images. Three networks of the same shape learn it:

- **from scratch**: random initial weights;
- **frozen transfer**: both hidden layers copied from the digit network and
  kept fixed; only the new output layer learns;
- **fine-tuned transfer**: both hidden layers copied, then everything learns.

Transfer pays off when the target set is small and the first task learned
features that matter for the second. It is not magic: an earlier version of
this example transferred a network trained on digits 0-4 to recognising
digits 5-9, and there it did *not* help (from 10 to 300 labels the network
trained from scratch was as good or better), because 8x8 pixel images are
easy to learn from directly and the features of 0-4 fit 5-9 poorly.
"""

# %%
# The source task: ten-class digits on one half of the data
# -----------------------------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdeep import MLPClassifier

warnings.simplefilter("ignore", ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixel intensities are 0..16
X_source, X_target, y_source, y_target = train_test_split(
    X, y, test_size=0.5, random_state=0, stratify=y
)
shape = dict(hidden_layer_sizes=(128, 64), random_state=0)
source = MLPClassifier(max_iter=200, **shape).fit(X_source, y_source)
print(f"digit accuracy of the source network on the other half: "
      f"{source.score(X_target, y_target):.3f}")

# %%
# The target task: odd or even, from few labels
# ---------------------------------------------
# Each training-set size is drawn three times; the remaining images of the
# target half are the test set.
odd = y_target % 2
variants = {
    "from scratch": {},
    "frozen transfer": dict(transfer_from=source, transfer_layers=2,
                            frozen_layers=[0, 1]),
    "fine-tuned transfer": dict(transfer_from=source, transfer_layers=2),
}
sizes = [10, 20, 50, 100, 200]
accuracy = {name: [] for name in variants}
for n_labels in sizes:
    for name, extra in variants.items():
        scores = []
        for draw in range(3):
            X_train, X_test, y_train, y_test = train_test_split(
                X_target, odd, train_size=n_labels, random_state=draw,
                stratify=odd,
            )
            clf = MLPClassifier(learning_rate_init=0.01, max_iter=200,
                                **shape, **extra).fit(X_train, y_train)
            if "frozen" in name:  # the copied layers did not move
                assert np.array_equal(clf.coefs_[0], source.coefs_[0])
            scores.append(clf.score(X_test, y_test))
        accuracy[name].append(np.mean(scores))

print(f"{'labels':>6s}  " + "  ".join(f"{name:>19s}" for name in variants))
for i, n_labels in enumerate(sizes):
    print(f"{n_labels:6d}  " + "  ".join(f"{accuracy[name][i]:19.3f}"
                                       for name in variants))

# %%
# With 10 or 20 labelled images the transferred features are worth several
# points of accuracy. With a couple of hundred images the network trained from
# scratch has caught up with the frozen features, and fine-tuning (which
# adapts them to the new task) is the better of the two transfers.
fig, ax = plt.subplots(figsize=(6, 4))
for name, values in accuracy.items():
    ax.plot(sizes, values, marker="o", label=name)
ax.set_xscale("log")
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.set_xlabel("labelled training images of the target task")
ax.set_ylabel("test accuracy (odd or even)")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
