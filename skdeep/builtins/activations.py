"""Built-in hidden-layer activations.

Each function uses only arithmetic, comparisons and :mod:`math`, so the same
definition compiles for the CPU and for CUDA devices. Helpers are inlined by
hand for the same reason.
"""

import math

from ..hookspecs import hookimpl
from ..plugin_types import ActivationPlugin

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
_INV_SQRT2 = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_GELU_CDF_HALF_BELOW = 1e-30


def identity(x):
    return x


def identity_derivative(x, y):
    return 1.0


def logistic(x):
    # 1 / (1 + e) or e / (1 + e) with e = exp(-|x|) <= 1 (no overflow): one
    # exp for both signs, where branches would compute two in a vectorized
    # loop.
    e = math.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)


def logistic_derivative(x, y):
    return y * (1.0 - y)


def tanh(x):
    return math.tanh(x)


def tanh_derivative(x, y):
    return 1.0 - y * y


def relu(x):
    return x if x > 0 else 0.0


def relu_derivative(x, y):
    return 1.0 if x > 0 else 0.0


def leaky_relu(x, alpha):
    return x if x > 0 else alpha * x


def leaky_relu_derivative(x, y, alpha):
    return 1.0 if x > 0 else alpha


def leaky_relu_slope_derivative(x, y, alpha):
    return 0.0 if x > 0 else x


def elu(x, alpha):
    return x if x > 0 else alpha * math.expm1(x)


def elu_derivative(x, y, alpha):
    return 1.0 if x > 0 else y + alpha


def selu(x):
    return _SELU_SCALE * (x if x > 0 else _SELU_ALPHA * math.expm1(x))


def selu_derivative(x, y):
    return _SELU_SCALE if x > 0 else y + _SELU_SCALE * _SELU_ALPHA


def gelu(x):
    return 0.5 * x * (1.0 + math.erf(x * _INV_SQRT2))


def gelu_derivative(x, y):
    # Phi(x) = y / x: the forward value saves an erf (the most costly part).
    # Below 1e-30, where y may underflow, Phi(x) is 1/2 in either precision.
    cdf = y / x if abs(x) > _GELU_CDF_HALF_BELOW else 0.5
    return cdf + x * _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def swish(x, beta):
    z = beta * x
    e = math.exp(-abs(z))  # the sigmoid as in logistic
    s = (1.0 if z >= 0 else e) / (1.0 + e)
    return x * s


def swish_derivative(x, y, beta):
    z = beta * x
    e = math.exp(-abs(z))
    s = (1.0 if z >= 0 else e) / (1.0 + e)
    return s + z * s * (1.0 - s)


# Above this, tanh(softplus(x)) is 1 to double precision.
_MISH_LINEAR = 20.0


def mish(x):
    # tanh(log(1 + e)) = n / (n + 2) with n = e * (e + 2), e = exp(x): one
    # exp instead of exp, log1p and tanh.
    e = math.exp(min(x, _MISH_LINEAR))
    n = e * (e + 2.0)
    return x if x > _MISH_LINEAR else x * n / (n + 2.0)


def mish_derivative(x, y):
    # tanh(sp) + x * (1 - tanh(sp)**2) * sigmoid(x), sp = softplus(x), with
    # 1 - tanh(sp)**2 = 4 (n + 1) / (n + 2)**2 (no cancellation near 1).
    e = math.exp(min(x, _MISH_LINEAR))
    n = e * (e + 2.0)
    d = n + 2.0
    slope = n / d + x * (4.0 * (n + 1.0) / (d * d)) * (e / (1.0 + e))
    return 1.0 if x > _MISH_LINEAR else slope


def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def softplus_derivative(x, y):
    e = math.exp(-abs(x))  # the sigmoid as in logistic
    return (1.0 if x >= 0 else e) / (1.0 + e)


@hookimpl
def skdeep_activations():
    return [
        ActivationPlugin("identity", identity, identity_derivative,
                         description="f(x) = x"),
        ActivationPlugin("logistic", logistic, logistic_derivative,
                         description="logistic sigmoid 1 / (1 + exp(-x))"),
        ActivationPlugin("tanh", tanh, tanh_derivative,
                         description="hyperbolic tangent"),
        ActivationPlugin("relu", relu, relu_derivative, init_gain="he",
                         description="rectified linear unit max(x, 0)"),
        ActivationPlugin("leaky_relu", leaky_relu, leaky_relu_derivative,
                         {"alpha": 0.01}, init_gain="he",
                         bounds={"alpha": (0.0, 1.0)},
                         description="x if x > 0 else alpha * x"),
        ActivationPlugin("prelu", leaky_relu, leaky_relu_derivative,
                         {"alpha": 0.25}, init_gain="he", learnable="alpha",
                         bounds={"alpha": (-1.0, 1.0)},
                         parameter_derivative=leaky_relu_slope_derivative,
                         description="leaky ReLU with a learned slope per unit"),
        ActivationPlugin("elu", elu, elu_derivative, {"alpha": 1.0},
                         init_gain="he", bounds={"alpha": (0.0, None)},
                         description="x if x > 0 else alpha * (exp(x) - 1)"),
        ActivationPlugin("selu", selu, selu_derivative, init_gain="lecun",
                         description="scaled ELU (self-normalizing)"),
        ActivationPlugin("gelu", gelu, gelu_derivative, init_gain="he",
                         description="Gaussian error linear unit x * Phi(x)"),
        ActivationPlugin("swish", swish, swish_derivative, {"beta": 1.0},
                         init_gain="he", bounds={"beta": (0.0, None)},
                         description="x * sigmoid(beta * x)"),
        ActivationPlugin("silu", swish, swish_derivative, {"beta": 1.0},
                         init_gain="he", bounds={"beta": (0.0, None)},
                         description="alias of swish"),
        ActivationPlugin("mish", mish, mish_derivative, init_gain="he",
                         description="x * tanh(softplus(x))"),
        ActivationPlugin("softplus", softplus, softplus_derivative,
                         description="log(1 + exp(x))"),
    ]
