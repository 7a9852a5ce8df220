"""The float64 vector math (skdeep._kernels.cpu.kernels) against the C library.

Each function is compared with :mod:`math` (the C library) in units in the
last place over random bit patterns (the whole float64 range, subnormals and
both signs included), dense sweeps around the points where an algorithm
switches or a result over- or underflows, and the special values, which
must match exactly (signed zeros included).
"""

import math
import re

import numpy as np
import pytest
from numba import njit

from skdeep._kernels.cpu import kernels as mlp

# Largest error measured against glibc (exp, log, log1p 1 ulp, expm1 and
# erf 2, tanh 3), plus one ulp for another C library's own error.
MAX_ULP = {"exp": 2, "expm1": 3, "tanh": 4, "log": 2, "log1p": 2, "erf": 3}

_loops = {}


def _elementwise(name):
    """The compiled loop ``out[i] = vector_<name>(x[i])`` (built once)."""
    if name not in _loops:
        function = mlp.VECTOR_MATH[name]

        @njit(error_model="numpy")
        def apply(x, out):
            for i in range(x.shape[0]):
                out[i] = function(x[i])

        _loops[name] = apply
    apply = _loops[name]

    def call(x):
        x = np.asarray(x, dtype=np.float64)
        out = np.empty_like(x)
        apply(x, out)
        return out

    return call, apply


def _reference(name, x):
    """``math.<name>`` per value, with the IEEE results where it raises."""
    function = getattr(math, name)
    out = np.empty_like(x)
    for i, v in enumerate(x.tolist()):
        try:
            out[i] = function(v)
        except OverflowError:
            out[i] = math.inf
        except ValueError:  # log of 0 or less, log1p of -1 or less
            pole = 0.0 if name == "log" else -1.0
            out[i] = -math.inf if v == pole else math.nan
    return out


def _ulp_distance(a, b):
    """|a - b| in float64 steps (0 for two NaNs, inf for NaN vs a number)."""
    ia, ib = (np.where(v.view(np.int64) < 0, np.int64(-2**63) - v.view(np.int64),
                       v.view(np.int64)) for v in (a, b))
    with np.errstate(over="ignore"):
        distance = np.abs(ia - ib).astype(np.float64)
    # opposite signs: the int64 difference may wrap; zeros of either sign agree
    distance[np.signbit(a) != np.signbit(b)] = np.inf
    distance[(a == 0) & (b == 0)] = 0.0
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    distance[nan_a & nan_b] = 0.0
    distance[nan_a != nan_b] = np.inf
    return distance


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324,
                    2.2250738585072014e-308, -2.2250738585072014e-308,
                    1.7976931348623157e308, -1.7976931348623157e308])
# Results that are exact too: zeros and poles, overflow and underflow,
# saturation.
EXACT = {"exp": [-745.2, -1000.0, 709.79, 1000.0],
         "expm1": [-38.0, -1000.0, 709.79, 1000.0],
         "tanh": [20.0, -20.0, 1e300],
         "log": [1.0],
         "log1p": [-1.0, -2.0, 1e-300],
         "erf": [6.0, -6.0, 1e300]}


def _sample(name):
    rng = np.random.default_rng(1)
    bits = rng.integers(-2**63, 2**63 - 1, 60_000, dtype=np.int64).view(np.float64)
    magnitudes = np.geomspace(1e-320, 1e308, 20_001)
    parts = [bits, magnitudes, -magnitudes, SPECIAL,
             np.linspace(-1.0, 1.0, 20_001), np.linspace(-40.0, 40.0, 20_001)]
    # where exp overflows, becomes subnormal, and rounds to 0
    parts += [np.linspace(c - 0.05, c + 0.05, 5_001)
              for c in (709.78, -708.4, -745.13)]
    if name in ("log", "log1p"):
        parts += [np.abs(bits), np.linspace(0.5, 1.5, 20_001),
                  np.linspace(-1.0, -0.99, 5_001)]
    if name == "erf":  # both sides of the switch at 0.84375, and the tail
        parts += [np.linspace(0.83, 0.86, 5_001), np.linspace(-7.0, 7.0, 20_001)]
    return np.concatenate(parts)


@pytest.mark.parametrize("name", sorted(MAX_ULP))
def test_float64_vector_math_matches_the_c_library(name):
    vector, _ = _elementwise(name)
    x = _sample(name)
    distance = _ulp_distance(vector(x), _reference(name, x))
    worst = int(np.argmax(distance))
    assert distance[worst] <= MAX_ULP[name], (x[worst], distance[worst])


@pytest.mark.parametrize("name", sorted(MAX_ULP))
def test_float64_vector_math_special_values_are_exact(name):
    vector, _ = _elementwise(name)
    x = np.concatenate([SPECIAL, EXACT[name]])
    got, expected = vector(x), _reference(name, x)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got[expected == 0]),
                                  np.signbit(expected[expected == 0]))


@pytest.mark.parametrize("name", ["expm1", "tanh", "erf", "log1p"])
def test_float64_vector_math_keeps_relative_accuracy_near_zero(name):
    # Where the result is about x (or 2x / sqrt(pi)), a formula that
    # subtracts from 1 would lose every digit.
    vector, _ = _elementwise(name)
    tiny = np.geomspace(1e-300, 1e-3, 5_001)
    x = np.concatenate([tiny, -tiny])
    got, expected = vector(x), _reference(name, x)
    np.testing.assert_allclose(got, expected, rtol=MAX_ULP[name] * 2.0 ** -52, atol=0)


@pytest.mark.parametrize("name", sorted(MAX_ULP))
def test_float64_vector_math_vectorizes(name):
    # No C-library call or LLVM math intrinsic left in the loop, and SIMD
    # vectors of doubles.
    vector, apply = _elementwise(name)
    vector(np.linspace(0.5, 2.0, 8))
    llvm = next(iter(apply.inspect_llvm().values()))
    assert not re.search(r"call [^(]*@[\w.]*(exp|tanh|erf|log)", llvm)
    assert re.search(r"<\d+ x double>", llvm)
