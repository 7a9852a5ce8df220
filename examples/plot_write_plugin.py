"""
Write and test a plugin
=======================

A new activation is two plain Python scalar functions, its value and its
derivative, wrapped in a record. skdeep compiles them (inlined into loops
over whole layers, for CPU and GPU); you never write a loop or a kernel.

This example adds the inverse square root unit, ISRU,
:math:`f(x) = x / \\sqrt{1 + \\alpha x^2}`, with a hyperparameter
:math:`\\alpha`, checks it with the conformance kit, shows the kit catching a
wrong derivative, and trains with it. In a package the hook function lives in
a module announced through the ``skdeep`` entry-point group (see the user
guide's plugin page); in a script or notebook,
:func:`skdeep.register_plugin` registers it in the running process.
"""

# %%
# The math, and the hook that returns the record
# ----------------------------------------------
# Only arithmetic, comparisons and :mod:`math`. Hyperparameters arrive as
# trailing arguments, in the order the record declares them; the derivative
# also receives ``y = value(x)``.
import math
import types

import matplotlib.pyplot as plt
import numpy as np

from skdeep import hookimpl, register_plugin
from skdeep.plugin_types import ActivationPlugin


def isru(x, alpha):
    return x / math.sqrt(1.0 + alpha * x * x)


def isru_derivative(x, y, alpha):
    r = 1.0 / math.sqrt(1.0 + alpha * x * x)
    return r * r * r


@hookimpl
def skdeep_activations():
    return [ActivationPlugin("isru", isru, isru_derivative,
                             hyperparameters={"alpha": 1.0},
                             description="inverse square root unit")]


# A module with hook functions is what an entry point names; here a
# namespace stands in for it. replace=True lets the cell run again.
register_plugin(types.SimpleNamespace(skdeep_activations=skdeep_activations),
                name="isru_example", replace=True)

# %%
# Check it with the conformance kit
# ---------------------------------
# :func:`skdeep.testing.check_plugin` compiles the plugin into the same
# blocks training uses, compares them with the Python definition, and the
# derivative with finite differences; it raises ``AssertionError`` with an
# explanation when something is wrong. Put these lines in your package's
# tests.
from skdeep.testing import check_activation, check_plugin  # noqa: E402

check_plugin("activation", "isru")
check_plugin("activation", "isru", hyperparameters={"alpha": 0.1})
print("isru passes the conformance checks")

# %%
# A derivative with a mistake (``r * r`` instead of ``r ** 3``) is caught:


def wrong_derivative(x, y, alpha):
    r = 1.0 / math.sqrt(1.0 + alpha * x * x)
    return r * r


try:
    check_activation(ActivationPlugin("isru_wrong", isru, wrong_derivative,
                                      hyperparameters={"alpha": 1.0}))
except AssertionError as error:
    # The message names the plugin and the points where it disagrees.
    print(next(line for line in str(error).splitlines() if "isru_wrong" in line))

# %%
# Use it
# ------
# By name, or as ``Activation("isru", alpha=...)`` to set (and search) its
# hyperparameter.
import warnings  # noqa: E402

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

from skdeep import Activation, MLPClassifier  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
for activation in ["isru", Activation("isru", alpha=0.1), "relu"]:
    clf = MLPClassifier(hidden_layer_sizes=(64,), activation=activation,
                        max_iter=50, random_state=0)
    scores = cross_val_score(clf, X / 16.0, y, cv=3)
    print(f"{activation!s:28s} cross-validated accuracy {scores.mean():.4f}")

# %%
x = np.linspace(-5, 5, 201)
fig, ax = plt.subplots(figsize=(6, 3.5))
for alpha in (0.1, 1.0, 3.0):
    ax.plot(x, [isru(v, alpha) for v in x], label=f"alpha={alpha}")
ax.set(xlabel="x", ylabel="isru(x)", title="ISRU for three values of alpha")
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
