"""Built-in losses, defined per output element.

``squared_error``, ``poisson`` and ``log_loss`` are sklearn's and give the
same loss values; ``absolute_error`` and ``huber`` are robust regression
losses.
"""

import math

from ..hookspecs import hookimpl
from ..plugin_types import LossPlugin


def half_squared_error(p, y):
    return 0.5 * (p - y) * (p - y)


def residual(p, y):
    return p - y


def half_poisson_deviance(p, y):
    # sklearn's half Poisson deviance: y log(y / p) - y + p
    if y > 0:
        return y * math.log(y / p) - y + p
    return p


def poisson_gradient(p, y):
    return 1.0 - y / p


def absolute_error(p, y):
    return abs(p - y)


def absolute_error_gradient(p, y):
    if p > y:
        return 1.0
    if p < y:
        return -1.0
    return 0.0


def huber(p, y, delta):
    r = abs(p - y)
    if r <= delta:
        return 0.5 * r * r
    return delta * (r - 0.5 * delta)


def huber_gradient(p, y, delta):
    r = p - y
    if r > delta:
        return delta
    if r < -delta:
        return -delta
    return r


def cross_entropy(p, y):
    if y != 0:
        return -y * math.log(p)
    return 0.0


def cross_entropy_gradient(p, y):
    return -y / p


@hookimpl
def skdeep_losses():
    return [
        LossPlugin("squared_error", half_squared_error, residual, "regression",
                   link_gradient=residual,
                   description="half squared error, averaged over outputs "
                   "(sklearn's)"),
        LossPlugin("poisson", half_poisson_deviance, poisson_gradient,
                   "regression", output_activation="exp",
                   link_gradient=residual, average_outputs=False,
                   description="half Poisson deviance with a log link "
                   "(sklearn's)"),
        LossPlugin("absolute_error", absolute_error, absolute_error_gradient,
                   "regression", description="mean absolute error"),
        LossPlugin("huber", huber, huber_gradient, "regression",
                   hyperparameters={"delta": 1.0},
                   bounds={"delta": (0.0, None, "neither")},
                   description="squared error below delta, absolute above"),
        LossPlugin("log_loss", cross_entropy, cross_entropy_gradient,
                   "classification", link_gradient=residual,
                   average_outputs=False,
                   description="binary / categorical cross-entropy "
                   "(sklearn's)"),
    ]
