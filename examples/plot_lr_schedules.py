"""
Learning-rate schedules compared
================================

``learning_rate=`` takes sklearn's three names (``"constant"``,
``"invscaling"``, ``"adaptive"``) or a schedule object. This example trains
the same network on the digits data with SGD (momentum 0.9) under five
schedules and plots, per epoch, the learning rate of the epoch's first step
and the training loss.

Per-step schedules (``per_step=True``, the default of
:class:`~skdeep.CyclicLR`) change the rate inside an epoch: the compiled
epoch receives one rate per minibatch, so no Python runs between batches.
The first panel shows each epoch's first rate only, so the cyclical rate
looks jagged there.
"""

# %%
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skdeep import (
    CosineWarmRestarts,
    CyclicLR,
    ExponentialDecay,
    MLPClassifier,
    StepDecay,
)

warnings.simplefilter("ignore", ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16.0, y, random_state=0, stratify=y
)
schedules = {
    "constant": "constant",
    "StepDecay(step_size=10, gamma=0.5)": StepDecay(step_size=10, gamma=0.5),
    "ExponentialDecay(decay_rate=0.9)": ExponentialDecay(decay_rate=0.9),
    "CosineWarmRestarts(T_0=10)": CosineWarmRestarts(T_0=10),
    "CyclicLR(0.01, 0.2, step_size=60)": CyclicLR(base_lr=0.01, max_lr=0.2,
                                                   step_size=60),
}
fits = {}
for name, schedule in schedules.items():
    fits[name] = MLPClassifier(
        hidden_layer_sizes=(64,), solver="sgd", momentum=0.9,
        learning_rate=schedule, learning_rate_init=0.1, max_iter=40,
        n_iter_no_change=40, random_state=0,
    ).fit(X_train, y_train)
    print(f"{name:36s} test accuracy {fits[name].score(X_test, y_test):.4f}")

# %%
fig, (ax_rate, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
for name, clf in fits.items():
    epochs = range(1, clf.n_iter_ + 1)
    ax_rate.plot(epochs, [record["learning_rate"] for record in clf.history_],
                 label=name)
    ax_loss.plot(epochs, clf.loss_curve_, label=name)
ax_rate.set(xlabel="epoch", ylabel="learning rate (first step of the epoch)")
ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log")
ax_loss.legend(fontsize="small")
fig.tight_layout()
plt.show()

# %%
# Schedules are ordinary parameter objects: ``GridSearchCV`` can search
# their parameters as ``learning_rate__gamma``, and a schedule of your own
# subclasses :class:`~skdeep.LearningRateSchedule`.
