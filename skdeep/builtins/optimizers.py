"""Built-in optimizers, each defined by its per-parameter update.

``update(param, grad, *state, lr, t, *hyperparameters)`` returns the new
parameter followed by the new state values; ``t`` counts steps from 1.
"""

import math

from ..hookspecs import hookimpl
from ..plugin_types import OptimizerPlugin


def sgd(param, grad, velocity, lr, t, momentum, nesterovs_momentum):
    # sklearn's SGDOptimizer: velocity-form momentum, optional Nesterov.
    velocity = momentum * velocity - lr * grad
    if nesterovs_momentum != 0.0:
        step = momentum * velocity - lr * grad
    else:
        step = velocity
    return param + step, velocity


def adam(param, grad, m, v, lr, t, beta_1, beta_2, epsilon):
    # sklearn's AdamOptimizer: bias correction folded into the step size.
    lr_t = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    m = beta_1 * m + (1.0 - beta_1) * grad
    v = beta_2 * v + (1.0 - beta_2) * grad * grad
    return param - lr_t * m / (math.sqrt(v) + epsilon), m, v


def adamw(param, grad, m, v, lr, t, beta_1, beta_2, epsilon, weight_decay):
    # Adam with decoupled weight decay (Loshchilov & Hutter).
    lr_t = lr * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    m = beta_1 * m + (1.0 - beta_1) * grad
    v = beta_2 * v + (1.0 - beta_2) * grad * grad
    param = param - lr * weight_decay * param
    return param - lr_t * m / (math.sqrt(v) + epsilon), m, v


def adamax(param, grad, m, u, lr, t, beta_1, beta_2, epsilon):
    m = beta_1 * m + (1.0 - beta_1) * grad
    u = max(beta_2 * u, abs(grad))
    return param - lr / (1.0 - beta_1**t) * m / (u + epsilon), m, u


def nadam(param, grad, m, v, lr, t, beta_1, beta_2, epsilon):
    # Adam with a Nesterov look-ahead on the first moment (Dozat, 2016).
    m = beta_1 * m + (1.0 - beta_1) * grad
    v = beta_2 * v + (1.0 - beta_2) * grad * grad
    m_hat = beta_1 * m / (1.0 - beta_1 ** (t + 1)) + (1.0 - beta_1) * grad / (
        1.0 - beta_1**t
    )
    v_hat = v / (1.0 - beta_2**t)
    return param - lr * m_hat / (math.sqrt(v_hat) + epsilon), m, v


def adagrad(param, grad, accumulator, lr, t, epsilon):
    accumulator = accumulator + grad * grad
    return param - lr * grad / (math.sqrt(accumulator) + epsilon), accumulator


def rmsprop(param, grad, mean_square, buffer, lr, t, rho, momentum, epsilon):
    mean_square = rho * mean_square + (1.0 - rho) * grad * grad
    buffer = momentum * buffer + grad / (math.sqrt(mean_square) + epsilon)
    return param - lr * buffer, mean_square, buffer


_ADAM_PARAMS = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
_ADAM_LINKED = ("beta_1", "beta_2", "epsilon")
# The estimator's own constraints on the same parameters (sklearn's).
_UNIT = (0.0, 1.0, "left")
_ADAM_BOUNDS = {"beta_1": _UNIT, "beta_2": _UNIT, "epsilon": (0.0, None, "neither")}


@hookimpl
def skdeep_optimizers():
    return [
        OptimizerPlugin(
            "sgd", sgd, n_state=1,
            hyperparameters={"momentum": 0.9, "nesterovs_momentum": 1.0},
            estimator_params=("momentum", "nesterovs_momentum"),
            bounds={"momentum": (0.0, 1.0), "nesterovs_momentum": (0.0, 1.0)},
            description="stochastic gradient descent with (Nesterov) momentum",
        ),
        OptimizerPlugin(
            "adam", adam, n_state=2, hyperparameters=_ADAM_PARAMS,
            estimator_params=_ADAM_LINKED, bounds=_ADAM_BOUNDS,
            follows_schedule=False,
            description="Adam (Kingma & Ba), as sklearn",
        ),
        OptimizerPlugin(
            "adamw", adamw, n_state=2,
            hyperparameters={**_ADAM_PARAMS, "weight_decay": 0.01},
            estimator_params=_ADAM_LINKED,
            bounds={**_ADAM_BOUNDS, "weight_decay": (0.0, None)},
            description="Adam with decoupled weight decay",
        ),
        OptimizerPlugin(
            "adamax", adamax, n_state=2, hyperparameters=_ADAM_PARAMS,
            estimator_params=_ADAM_LINKED, bounds=_ADAM_BOUNDS,
            description="Adam with an infinity-norm second moment",
        ),
        OptimizerPlugin(
            "nadam", nadam, n_state=2, hyperparameters=_ADAM_PARAMS,
            estimator_params=_ADAM_LINKED, bounds=_ADAM_BOUNDS,
            description="Adam with Nesterov momentum",
        ),
        OptimizerPlugin(
            "adagrad", adagrad, n_state=1,
            hyperparameters={"epsilon": 1e-8},
            estimator_params=("epsilon",),
            bounds={"epsilon": (0.0, None, "neither")},
            description="per-parameter step sizes from summed squared gradients",
        ),
        OptimizerPlugin(
            "rmsprop", rmsprop, n_state=2,
            hyperparameters={"rho": 0.9, "momentum": 0.0, "epsilon": 1e-8},
            estimator_params=("epsilon",),
            bounds={"rho": _UNIT, "momentum": _UNIT, "epsilon": (0.0, None, "neither")},
            description="RMSProp with optional momentum",
        ),
        OptimizerPlugin(
            "lbfgs", None, full_batch=True,
            description="L-BFGS-B (scipy) on the full-batch loss",
        ),
    ]
