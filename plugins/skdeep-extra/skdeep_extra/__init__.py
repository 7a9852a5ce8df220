"""Example skdeep plugins: plain Python scalar math, registered by hooks."""

import math

from skdeep import hookimpl
from skdeep.plugin_types import ActivationPlugin, OptimizerPlugin


def softsign(x):
    return x / (1.0 + abs(x))


def softsign_derivative(x, y):
    d = 1.0 + abs(x)
    return 1.0 / (d * d)


def adadelta(param, grad, mean_square, mean_step, lr, t, rho, epsilon):
    # Zeiler's Adadelta; lr scales the step (1.0 is the paper's method).
    mean_square = rho * mean_square + (1.0 - rho) * grad * grad
    step = math.sqrt(mean_step + epsilon) / math.sqrt(mean_square + epsilon) * grad
    mean_step = rho * mean_step + (1.0 - rho) * step * step
    return param - lr * step, mean_square, mean_step


def lion(param, grad, m, lr, t, beta_1, beta_2, weight_decay):
    # Sign of an interpolated momentum, with decoupled weight decay.
    c = beta_1 * m + (1.0 - beta_1) * grad
    sign = 1.0 if c > 0 else (-1.0 if c < 0 else 0.0)
    param = param - lr * (sign + weight_decay * param)
    return param, beta_2 * m + (1.0 - beta_2) * grad


@hookimpl
def skdeep_activations():
    return [ActivationPlugin("softsign", softsign, softsign_derivative,
                             description="x / (1 + |x|)")]


@hookimpl
def skdeep_optimizers():
    return [
        OptimizerPlugin("adadelta", adadelta, n_state=2,
                        hyperparameters={"rho": 0.95, "epsilon": 1e-6},
                        bounds={"rho": (0.0, 1.0, "left"),
                                "epsilon": (0.0, None, "neither")},
                        description="Adadelta (Zeiler, 2012)"),
        OptimizerPlugin("lion", lion, n_state=1,
                        hyperparameters={"beta_1": 0.9, "beta_2": 0.99,
                                         "weight_decay": 0.0},
                        bounds={"beta_1": (0.0, 1.0, "left"),
                                "beta_2": (0.0, 1.0, "left"),
                                "weight_decay": (0.0, None)},
                        description="Lion (Chen et al., 2023): sign momentum"),
    ]
