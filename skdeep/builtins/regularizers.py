"""Built-in weight penalties, scaled by the estimator's ``alpha``."""

from ..hookspecs import hookimpl
from ..plugin_types import RegularizerPlugin


def l2(w):
    return 0.5 * w * w


def l2_gradient(w):
    return w


def l1(w):
    return abs(w)


def l1_gradient(w):
    if w > 0:
        return 1.0
    if w < 0:
        return -1.0
    return 0.0


def l1_l2(w, l1_ratio):
    return l1_ratio * abs(w) + (1.0 - l1_ratio) * 0.5 * w * w


def l1_l2_gradient(w, l1_ratio):
    sign = 1.0 if w > 0 else (-1.0 if w < 0 else 0.0)
    return l1_ratio * sign + (1.0 - l1_ratio) * w


@hookimpl
def skdeep_regularizers():
    return [
        RegularizerPlugin("l2", l2, l2_gradient,
                          description="0.5 * alpha * ||W||^2 (sklearn's alpha)"),
        RegularizerPlugin("l1", l1, l1_gradient,
                          description="alpha * |W| (sparse weights)"),
        RegularizerPlugin("l1_l2", l1_l2, l1_l2_gradient, {"l1_ratio": 0.5},
                          bounds={"l1_ratio": (0.0, 1.0)},
                          description="elastic net mix of l1 and l2"),
    ]
