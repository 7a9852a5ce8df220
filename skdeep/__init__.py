"""skdeep: scikit-learn compatible neural networks on compiled kernels.

Importing ``skdeep`` is cheap: the estimators (and scikit-learn, NumPy and
Numba behind them) load on first attribute access, and nothing is compiled
until the first ``fit``.
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY = {
    "MLPClassifier": "skdeep._mlp",
    "MLPRegressor": "skdeep._mlp",
    "Activation": "skdeep._spec",
    "Initializer": "skdeep._spec",
    "Optimizer": "skdeep._spec",
    "Regularizer": "skdeep._spec",
    "Loss": "skdeep._spec",
    "register_plugin": "skdeep._api",
    "PluginConflictError": "skdeep._registry",
    "PluginWarning": "skdeep._registry",
    "PluginCompileError": "skdeep._compile_check",
    "list_plugins": "skdeep._api",
    "TrainingCurveDisplay": "skdeep._display",
    "TrainingState": "skdeep._training",
    "LearningRateSchedule": "skdeep._schedules",
    "ScheduleState": "skdeep._schedules",
    "ConstantSchedule": "skdeep._schedules",
    "ExponentialDecay": "skdeep._schedules",
    "InverseTimeDecay": "skdeep._schedules",
    "StepDecay": "skdeep._schedules",
    "CyclicLR": "skdeep._schedules",
    "CosineWarmRestarts": "skdeep._schedules",
    "ReduceLROnPlateau": "skdeep._schedules",
}

__all__ = ["hookimpl", *_LAZY]


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'skdeep' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
