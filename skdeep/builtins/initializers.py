"""Built-in weight initializers (run once per fit, in NumPy)."""

import numpy as np

from ..hookspecs import hookimpl
from ..plugin_types import InitializerPlugin


def sklearn_init(rng, fan_in, fan_out, activation):
    # Exactly sklearn's MLP scheme and random draws: Glorot-uniform bounds
    # (factor 2 for logistic networks) for weights and intercepts alike.
    factor = 2.0 if activation == "logistic" else 6.0
    bound = np.sqrt(factor / (fan_in + fan_out))
    coef = rng.uniform(-bound, bound, (fan_in, fan_out))
    intercept = rng.uniform(-bound, bound, fan_out)
    return coef, intercept


def _uniform(limit):
    def init(rng, fan_in, fan_out, activation):
        bound = limit(fan_in, fan_out)
        return rng.uniform(-bound, bound, (fan_in, fan_out)), np.zeros(fan_out)

    return init


def _normal(std):
    def init(rng, fan_in, fan_out, activation):
        return (
            rng.normal(0.0, std(fan_in, fan_out), (fan_in, fan_out)),
            np.zeros(fan_out),
        )

    return init


@hookimpl
def skdeep_initializers():
    return [
        InitializerPlugin("sklearn", sklearn_init,
                          description="sklearn's scheme and random draws "
                          "(default)"),
        InitializerPlugin("glorot_uniform",
                          _uniform(lambda i, o: np.sqrt(6.0 / (i + o))),
                          description="U(-sqrt(6/(in+out)), +...), zero bias"),
        InitializerPlugin("glorot_normal",
                          _normal(lambda i, o: np.sqrt(2.0 / (i + o))),
                          description="N(0, 2/(in+out)), zero bias"),
        InitializerPlugin("he_uniform",
                          _uniform(lambda i, o: np.sqrt(6.0 / i)),
                          description="U(-sqrt(6/in), +...), zero bias"),
        InitializerPlugin("he_normal",
                          _normal(lambda i, o: np.sqrt(2.0 / i)),
                          description="N(0, 2/in), zero bias"),
        InitializerPlugin("lecun_uniform",
                          _uniform(lambda i, o: np.sqrt(3.0 / i)),
                          description="U(-sqrt(3/in), +...), zero bias"),
        InitializerPlugin("lecun_normal",
                          _normal(lambda i, o: np.sqrt(1.0 / i)),
                          description="N(0, 1/in), zero bias"),
    ]
