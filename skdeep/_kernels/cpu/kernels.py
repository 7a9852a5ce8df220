"""Core training kernels for dense networks on the CPU (compiled code only).

The flat ``theta`` vector, the layer ``sizes`` and the ``off`` offset
matrix every kernel reads are described in :mod:`skdeep._kernels.layout`.
``out_kind`` selects the output activation (``OUT_*`` there). The loss and
its gradient with respect to the output pre-activations come from a loss
block (see :mod:`.blocks`).

Plugin math arrives as first-class function "blocks", so these kernels
compile once per dtype; :mod:`.compile` compiles or loads them (cached on
disk) and builds the blocks. This module holds compiled code, its
signatures and the Numba options every CPU function uses, nothing else.
"""

import math
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..layout import (
    CONTROL_DIVERGED,
    CONTROL_STEPS,
    CONTROL_STOP,
    OFF_A,
    OFF_B,
    OFF_BETA,
    OFF_GAMMA,
    OFF_LN_BETA,
    OFF_LN_GAMMA,
    OFF_P,
    OFF_R,
    OFF_V,
    OFF_W,
    OUT_EXP,
    OUT_IDENTITY,
    OUT_LOGISTIC,
    OUT_SOFTMAX,
    batch_length,
)

# Changed with any change to the layout constants compiled in above: Numba's
# cache only notices changes to this file.
KERNEL_VERSION = 6

# The Numba options of every CPU function (``compile.jit_options`` adds
# ``cache``): no GIL, so fits in threads run in parallel; NumPy's error
# model, so a division by zero gives inf/nan instead of raising.
JIT_OPTIONS = {"nogil": True, "error_model": "numpy"}

_inner = njit(**JIT_OPTIONS)


# Vectorizable float32 exp, tanh, expm1, erf, log and log1p, for the output
# activations and for plugins' math functions of those names (see
# compile.scalar_jit); the float64 versions follow below. math.exp compiles
# to a C-library call that
# LLVM cannot vectorize. exp, tanh and log are Cephes' expf (range reduction
# by ln 2, degree-6 polynomial, exponent built from bits), tanhf (an odd
# polynomial below 0.625, exp above) and logf (mantissa and exponent from
# bits, degree-8 polynomial) in plain arithmetic; log1p is log plus a
# rounding correction. They live here, not in a module of their own,
# because Numba's cache only notices changes to the kernel's own file
# (generated blocks hash this file for the same reason).
_F32 = np.float32
_LOG2E = _F32(1.44269504088896341)
_LN2_HI = _F32(0.693359375)  # ln 2 in two parts: exact product with n
_LN2_LO = _F32(-2.12194440e-4)
_P0, _P1, _P2 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_P3, _P4, _P5 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
# exp below this is not a normal float32 (it would be subnormal): 0.
_MIN_ARG = _F32(-87.33654)
# exp above 88.7228 overflows; clamping a little above keeps n <= 128.
_MAX_ARG = _F32(88.8)
_T0, _T1, _T2 = _F32(-5.70498872745e-3), _F32(2.06390887954e-2), _F32(-5.37397155531e-2)
_T3, _T4 = _F32(1.33314422036e-1), _F32(-3.33332819422e-1)
_TANH_POLY_MAX = _F32(0.625)
# expm1: Taylor coefficients 1/k!, k = 1..11 (truncation below 0.1 ulp for
# |x| < 1). Module globals, not closure values: Numba types those as float64.
(_E1, _E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10,
 _E11) = (_F32(1.0 / math.factorial(k)) for k in range(1, 12))
# erf: odd over even rational function on [-4, 4] (Eigen's fast float erf;
# beyond 4, erf rounds to +-1 in float32).
_A1, _A3, _A5, _A7 = _F32(-1.60960333262415e-02), _F32(-2.95459980854025e-03), \
    _F32(-7.34990630326855e-04), _F32(-5.69250639462346e-05)
_A9, _A11, _A13 = _F32(-2.10102402082508e-06), _F32(2.77068142495902e-08), \
    _F32(-2.72614225801306e-10)
_B0, _B2, _B4 = _F32(-1.42647390514189e-02), _F32(-7.37332916720468e-03), \
    _F32(-1.68282697438203e-03)
_B6, _B8 = _F32(-2.13374055278905e-04), _F32(-1.45660718464996e-05)
# log: polynomial in m - 1 for the mantissa m in [sqrt(0.5), sqrt(2)).
_L0, _L1, _L2 = _F32(7.0376836292e-2), _F32(-1.1514610310e-1), _F32(1.1676998740e-1)
_L3, _L4, _L5 = _F32(-1.2420140846e-1), _F32(1.4249322787e-1), _F32(-1.6668057665e-1)
_L6, _L7, _L8 = _F32(2.0000714765e-1), _F32(-2.4999993993e-1), _F32(3.3333331174e-1)
_SQRT_HALF = _F32(0.707106781186547524)
# 2**23 + 126: a float32 whose low mantissa bits hold a biased exponent e
# is 2**23 + e, so subtracting this leaves e - 126 without an int -> float
# conversion (which some vector units lack).
_EXPONENT_BIAS = _F32(8388734.0)
_INF = _F32(np.inf)
_NAN = _F32(np.nan)
_MIN_NORMAL = _F32(np.finfo(np.float32).tiny)
_TWO_POW_25 = _F32(2.0 ** 25)
_LOG_TWO_POW_25 = _F32(25 * math.log(2.0))
_FOUR = _F32(4.0)
_HALF = _F32(0.5)
_ONE = _F32(1.0)
_TWO = _F32(2.0)
_ZERO = _F32(0.0)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32's bits as a float32 (no conversion)."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def _float32_bits(typingctx, value):
    """Reinterpret a float32's bits as an int32 (no conversion)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


def _float32_version(python_function, math_function):
    """Register the decorated function as ``python_function``'s float32
    implementation in compiled code; float64 gets the one in
    ``_FLOAT64_VERSIONS``, other types ``math_function``."""
    def register(float32_implementation):
        @overload(python_function, jit_options={"error_model": "numpy", "forceinline": True})
        def _overload(x):
            if x == types.float64 and python_function in _FLOAT64_VERSIONS:
                return _FLOAT64_VERSIONS[python_function]
            if x != types.float32:
                return lambda x: math_function(x)
            return float32_implementation

        return float32_implementation

    return register


def vector_exp(x):
    """``math.exp(x)``, vectorizable in float32 and float64.

    float32: within 1.4 * 2**-24 of the exact value, 0 below -87.34 (where
    exp is no longer a normal float32), inf above 88.72, NaN stays NaN.
    float64: within 1 ulp of the C library's (subnormal results included).
    """
    return math.exp(x)


@_float32_version(vector_exp, math.exp)
def _float32_exp(x):
    clamped = min(max(x, _MIN_ARG), _MAX_ARG)
    n = np.floor(clamped * _LOG2E + _HALF)
    # NaN must not reach the float -> int conversion (poison in LLVM).
    n = n if n == n else _ZERO
    r = clamped - n * _LN2_HI - n * _LN2_LO
    poly = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5)
    y = poly * (r * r) + r + _ONE
    # 2**n in two normal factors: n reaches 128 just below overflow.
    whole = np.int64(n)
    half = whole >> 1
    scale = _float32_from_bits(np.int32((half + 127) << 23))
    rest = _float32_from_bits(np.int32((whole - half + 127) << 23))
    return _ZERO if x < _MIN_ARG else y * scale * rest


def vector_tanh(x):
    """``math.tanh(x)``, vectorizable in float32 and float64.

    float32: within 3 * 2**-24 of the exact value, odd (signed zeros
    included), NaN stays NaN. float64: within 3 ulp of the C library's.
    """
    return math.tanh(x)


@_float32_version(vector_tanh, math.tanh)
def _float32_tanh(x):
    z = abs(x)
    s = x * x
    poly = (((((_T0 * s + _T1) * s + _T2) * s + _T3) * s + _T4) * s) * z + z
    # exp(-2|x|) <= 0.29 here: no cancellation in 1 - e.
    e = vector_exp(-_TWO * z)
    t = poly if z <= _TANH_POLY_MAX else (_ONE - e) / (_ONE + e)
    return math.copysign(t, x)


def vector_expm1(x):
    """``math.expm1(x)``, vectorizable in float32 and float64.

    float32: within 3 * 2**-24 of the exact value, NaN stays NaN. float64:
    within 2 ulp of the C library's.
    """
    return math.expm1(x)


@_float32_version(vector_expm1, math.expm1)
def _float32_expm1(x):
    # The series where exp(x) - 1 would cancel, exp(x) - 1 elsewhere.
    poly = x * (_E1 + x * (_E2 + x * (_E3 + x * (_E4 + x * (_E5 + x * (
        _E6 + x * (_E7 + x * (_E8 + x * (_E9 + x * (_E10 + x * _E11))))))))))
    # Both computed, one selected: a branch here keeps LLVM from
    # vectorizing the caller's loop.
    shifted = vector_exp(x) - _ONE
    return poly if abs(x) < _ONE else shifted


def vector_erf(x):
    """``math.erf(x)``, vectorizable in float32 and float64.

    float32: within 4.5e-7 of the exact value (7.5 * 2**-24 relative, the
    most near |x| = 3.2), odd, NaN stays NaN. float64: within 2 ulp of the
    C library's.
    """
    return math.erf(x)


@_float32_version(vector_erf, math.erf)
def _float32_erf(x):
    c = min(max(x, -_FOUR), _FOUR)
    s = c * c
    p = ((((((_A13 * s + _A11) * s + _A9) * s + _A7) * s + _A5) * s + _A3) * s
         + _A1) * c
    q = (((_B8 * s + _B6) * s + _B4) * s + _B2) * s + _B0
    return p / q


@_inner
def _log_of_normal(u):
    """Cephes logf of a positive normal float32 ``u`` (plain arithmetic)."""
    bits = _float32_bits(u)
    mantissa = _float32_from_bits(np.int32((bits & 0x007FFFFF) | 0x3F000000))
    exponent = _float32_from_bits(np.int32(((bits >> 23) & 0xFF) | 0x4B000000))
    exponent -= _EXPONENT_BIAS
    low = mantissa < _SQRT_HALF
    m = (mantissa + mantissa if low else mantissa) - _ONE
    e = exponent - _ONE if low else exponent
    z = m * m
    poly = ((((((((_L0 * m + _L1) * m + _L2) * m + _L3) * m + _L4) * m + _L5) * m
              + _L6) * m + _L7) * m + _L8) * m * z
    return m + (poly + e * _LN2_LO - _HALF * z) + e * _LN2_HI


@_inner
def _log_or_special(u, result):
    """``result`` for a positive finite ``u``; else log(u): -inf at 0, inf
    at inf, NaN below 0 and for NaN (which fails every comparison)."""
    special = -_INF if u == _ZERO else (_INF if u == _INF else _NAN)
    return result if _ZERO < u < _INF else special


def vector_log(x):
    """``math.log(x)``, vectorizable in float32 and float64.

    float32: within 1.5 * 2**-24 of the exact value (subnormal ``x``
    included), -inf at 0, NaN below 0, inf at inf, NaN stays NaN. float64:
    within 1 ulp of the C library's, the same special values.
    """
    return math.log(x)


@_float32_version(vector_log, math.log)
def _float32_log(x):
    # Subnormals are scaled into the normal range first.
    tiny = x < _MIN_NORMAL
    result = _log_of_normal(x * _TWO_POW_25 if tiny else x)
    return _log_or_special(x, result - _LOG_TWO_POW_25 if tiny else result)


def vector_log1p(x):
    """``math.log1p(x)``, vectorizable in float32 and float64.

    float32: within 2.5 * 2**-24 of the exact value, -inf at -1, NaN below -1,
    inf at inf, NaN stays NaN. float64: within 1 ulp of the C library's,
    the same special values.
    """
    return math.log1p(x)


@_float32_version(vector_log1p, math.log1p)
def _float32_log1p(x):
    u = _ONE + x
    # log(u) + (x - (u - 1)) / u: the second term restores what rounding
    # 1 + x lost. Where 1 + x rounds to 1, log1p(x) is x (signed zeros kept).
    correction = (x - (u - _ONE)) / u
    result = x if u == _ONE else _log_of_normal(u) + correction
    # u is never subnormal (x > -1 makes it at least 2**-24).
    return _log_or_special(u, result)


# What the plugin rewrite (compile.scalar_jit) replaces, by math name.
VECTOR_MATH = {"exp": vector_exp, "expm1": vector_expm1, "tanh": vector_tanh,
               "erf": vector_erf, "log": vector_log, "log1p": vector_log1p}


# float64 versions of the same functions, branch-free so that loops over
# arrays vectorize (the C library's take about 15 ns per call, so a float64
# tanh layer cost more than its matrix product). The algorithms are the
# textbook ones: exp and expm1 reduce by ln 2 (x = n ln 2 + r, |r| <= ln 2 / 2)
# and sum the Taylor series of expm1(r); tanh is -expm1(-2|x|) /
# (expm1(-2|x|) + 2); log splits off the exponent so that the mantissa m is
# in [sqrt(1/2), sqrt(2)) and sums the series of log(m) = 2 atanh(s), s =
# (m - 1) / (m + 1); log1p is log(1 + x) plus the rounding correction; erf
# is x P(x**2) below 0.84375 and 1 - exp(-x**2) t G(t), t = 1 / (1 + x / 2),
# above (P, G: Chebyshev fits, ``mpmath.chebyfit``, of erf(x) / x in x**2
# on [0, 0.84375**2], degree 10, and of erfc(x) exp(x**2) / t in t on
# [1/4, 1 / (1 + 0.84375 / 2)], degree 15). Errors measured against the C
# library are in tests/test_vector_math.py.
_LOG2E_64 = 1.4426950408889634
# ln 2 in two parts; the high part has 32 significant bits, so its product
# with any exponent n (|n| < 2**11) is exact.
_LN2_HI_64 = 0.6931471803691238
_LN2_LO_64 = 1.9082149292705877e-10
# Adding 1.5 * 2**52 rounds a float64 of magnitude below 2**51 to an integer
# that then sits in the low bits of the sum's mantissa: the rounding and the
# float -> int conversion in two plain additions (no conversion instruction,
# no poison for NaN).
_ROUNDER_64 = 6755399441055744.0
_ROUNDER_64_BITS = 0x4338000000000000
# expm1(r) = r + r**2 (1/2! + r/3! + ... + r**11/13!): truncation below
# 2**-57 for |r| <= ln 2 / 2. Coefficient tuples start at the highest power.
_EXPM1_POLY = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))
# Beyond these, exp is 0 (after rounding) or inf, expm1 -1 or exp.
_EXP_MIN_64 = -746.0
_EXP_MAX_64 = 710.0
_EXPM1_MIN_64 = -40.0
_EXPM1_EXP_64 = 40.0
# log: 2 atanh(s) = 2 s + s R(s**2), R = sum 2 s**(2k) / (2k + 1), k = 1..10
# (truncation below 2**-60 for |s| <= 3 - 2 sqrt(2)).
_ATANH_POLY = tuple(2.0 / (2 * k + 1) for k in range(10, 0, -1))
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
# k + 2**52 + 2048 as a float64's bits, minus 2**52 + 2048: an int64 k
# (|k| < 2048) as float64 without a conversion instruction (older vector
# units have none for int64).
_INT_BITS_64 = 0x4330000000000800
_INT_OFFSET_64 = 4503599627372544.0
_MIN_NORMAL_64 = float(np.finfo(np.float64).tiny)
_TWO_POW_54 = 2.0 ** 54
_ERF_SMALL_MAX = 0.84375
_ERF_ONE_AT = 6.0  # erf rounds to +-1 beyond 5.93
_ERF_SMALL_POLY = (
    1.0726571432176348e-08, -1.571446067260244e-07, 1.640162967934702e-06,
    -1.4922121574443055e-05, 0.00012055199941321885, -0.000854832379116413,
    0.005223977576377844, -0.02686617064077985, 0.11283791670935311,
    -0.376126389031834, 1.1283791670955126)
_ERF_LARGE_POLY = (
    -0.07391523654519835, 0.5537809794707031, -1.8678077413931162,
    3.701250960003523, -4.711517770112301, 3.981376347633192,
    -2.3145693934295086, 1.0602309266387835, -0.41743570810576847,
    0.0381865876111357, -0.023125408379356227, 0.08647789553713374,
    0.1760255935754338, 0.24685252129545976, 0.2820940052900364,
    0.28209480502761713)
_FLOAT64_VERSIONS = {}


def _float64_version(python_function):
    """Register the decorated function as ``python_function``'s float64
    implementation in compiled code (see :func:`_float32_version`)."""
    def register(float64_implementation):
        _FLOAT64_VERSIONS[python_function] = float64_implementation
        return float64_implementation

    return register


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (no conversion)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float64_bits(typingctx, value):
    """Reinterpret a float64's bits as an int64 (no conversion)."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _mul_add(typingctx, a, b, c):
    """``a * b + c`` for float64, one fused multiply-add where the CPU has
    them (``llvm.fmuladd``): half the instructions of a polynomial."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(double, [double] * 3), "llvm.fmuladd.f64")
        return builder.call(function, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@_inner
def _polynomial(x, coefficients):
    """Horner's rule over a tuple of coefficients, highest power first."""
    p = coefficients[0]
    for k in range(1, len(coefficients)):
        p = _mul_add(p, x, coefficients[k])
    return p


@_inner
def _exp_parts(x):
    """``(n, q)`` with ``x = n ln 2 + r`` and ``q = expm1(r)``, for a number
    ``x`` in [-746, 710]."""
    shifted = x * _LOG2E_64 + _ROUNDER_64
    n = shifted - _ROUNDER_64
    r = (x - n * _LN2_HI_64) - n * _LN2_LO_64
    return (_float64_bits(shifted) - _ROUNDER_64_BITS,
            _mul_add(r * r, _polynomial(r, _EXPM1_POLY), r))


@_inner
def _two_factors(n):
    """2**n as two normal float64 factors (n in [-1076, 1024])."""
    half = n >> 1
    return (_float64_from_bits((half + 1023) << 52),
            _float64_from_bits((n - half + 1023) << 52))


@_float64_version(vector_exp)
def _float64_exp(x):
    clamped = min(max(x, _EXP_MIN_64), _EXP_MAX_64)
    n, q = _exp_parts(clamped if clamped == clamped else 0.0)
    scale, rest = _two_factors(n)
    # Correctly rounded to 0 below the subnormals, inf above the largest.
    y = (1.0 + q) * scale * rest
    return y if x == x else x


@_float64_version(vector_expm1)
def _float64_expm1(x):
    clamped = min(max(x, _EXPM1_MIN_64), _EXP_MAX_64)
    n, q = _exp_parts(clamped if clamped == clamped else 0.0)
    scale, rest = _two_factors(n)
    # 2**n (1 + q) - 1 = (2**n - 1) + 2**n q: both terms exact up to n = 58.
    power = scale * rest
    y = (power - 1.0) + power * q
    y = (1.0 + q) * scale * rest if x > _EXPM1_EXP_64 else y
    # x itself at zeros (their sign) and NaN.
    return x if x == 0.0 or x != x else y


@_float64_version(vector_tanh)
def _float64_tanh(x):
    # e in (-1, 0]: no cancellation anywhere, and near 0 e is -2|x| to
    # expm1's relative accuracy.
    e = vector_expm1(-2.0 * abs(x))
    return math.copysign(-e / (e + 2.0), x)


@_inner
def _log_of_normal_64(u, exponent_shift, correction):
    """log(u * 2**exponent_shift) + correction for a positive normal
    float64 ``u`` (or inf: garbage) and a small ``correction``."""
    bits = _float64_bits(u)
    k = (bits - _SQRT_HALF_BITS) >> 52
    f = _float64_from_bits(bits - (k << 52)) - 1.0  # m - 1, exact
    e = _float64_from_bits(k + _INT_BITS_64) - _INT_OFFSET_64 + exponent_shift
    s = f / (2.0 + f)
    z = s * s
    R = _polynomial(z, _ATANH_POLY) * z
    # 2 s = f - s f, so log(m) = f - f**2 / 2 + s (f**2 / 2 + R): the big
    # terms first, the small ones summed before they meet them.
    half_square = 0.5 * f * f
    low = s * (half_square + R) + (e * _LN2_LO_64 + correction)
    return e * _LN2_HI_64 + (f - (half_square - low))


@_float64_version(vector_log)
def _float64_log(x):
    u = x if x > 0.0 else 1.0  # keeps special values out of the bit tricks
    tiny = u < _MIN_NORMAL_64
    result = _log_of_normal_64(u * _TWO_POW_54 if tiny else u,
                               -54.0 if tiny else 0.0, 0.0)
    return _log_or_special(x, result)


@_float64_version(vector_log1p)
def _float64_log1p(x):
    u = 1.0 + x
    v = u if u > 0.0 else 1.0
    # log(v) + (x - (v - 1)) / v: the second term restores what rounding
    # 1 + x lost. Where 1 + x rounds to 1, log1p(x) is x (signed zeros kept).
    result = _log_of_normal_64(v, 0.0, (x - (v - 1.0)) / v)
    return _log_or_special(u, x if u == 1.0 else result)


@_float64_version(vector_erf)
def _float64_erf(x):
    z = x * x
    small = x * _polynomial(z, _ERF_SMALL_POLY)
    a = min(abs(x), _ERF_ONE_AT)
    t = 1.0 / (1.0 + 0.5 * a)
    # 1 - erfc(|x|), erfc(a) = exp(-a**2) t G(t): the rounding of a**2 costs
    # erfc at most 36 * 2**-53 of itself, far below erf's ulp.
    large = math.copysign(1.0 - vector_exp(-(a * a)) * t * _polynomial(t, _ERF_LARGE_POLY), x)
    y = small if abs(x) < _ERF_SMALL_MAX else large
    return y if x == x else x


@_inner
def _matrix(flat, offset, rows, cols):
    return flat[offset : offset + rows * cols].reshape((rows, cols))


@_inner
def _vector(flat, offset, n):
    """``flat[offset:offset + n]``, or an empty view when ``offset < 0``."""
    if offset < 0:
        return flat[:0]
    return flat[offset : offset + n]


@_inner
def _gather(X, Y, sw, order, start, m, Xb, Yb, swb):
    """Copy rows ``order[start:start + m]`` into the batch buffers."""
    d = X.shape[1]
    k = Y.shape[1]
    sw_sum = 0.0
    for i in range(m):
        r = order[start + i]
        x_row, x_dst = X[r], Xb[i * d:(i + 1) * d]
        for j in range(d):
            x_dst[j] = x_row[j]
        y_row, y_dst = Y[r], Yb[i * k:(i + 1) * k]
        for j in range(k):
            y_dst[j] = y_row[j]
        swb[i] = sw[r]
        sw_sum += sw[r]
    return sw_sum


@_inner
def _add_intercepts(Z, bias):
    # Loops over slices and row views vectorize; indexing the flat
    # ``theta[offset + j]`` did not (3 us of a 30 us step, 64-64-64-5).
    for i in range(Z.shape[0]):
        row = Z[i]
        for j in range(Z.shape[1]):
            row[j] += bias[j]


@_inner
def _sum_rows_into(D, total):
    for i in range(D.shape[0]):
        row = D[i]
        for j in range(D.shape[1]):
            total[j] += row[j]


@_inner
def _output_activation(Z, A, out_kind):
    # Flat passes and vector_exp, not row loops and math.exp: a
    # C-library call per output, in loops over 10 outputs, kept the float32
    # softmax scalar (8 -> 3 us for 200 x 10).
    n, k = Z.shape
    a_flat = A.reshape(n * k)
    z_flat = Z.reshape(n * k)
    if out_kind == OUT_SOFTMAX:
        for i in range(n):
            z, a = Z[i], A[i]
            zmax = z[0]
            for j in range(1, k):
                zmax = max(zmax, z[j])
            for j in range(k):
                a[j] = z[j] - zmax
        for t in range(n * k):
            a_flat[t] = vector_exp(a_flat[t])
        for i in range(n):
            a = A[i]
            total = 0.0
            for j in range(k):
                total += a[j]
            inv = 1.0 / total  # one division per row, not per output
            for j in range(k):
                a[j] *= inv
    elif out_kind == OUT_IDENTITY:
        for t in range(n * k):
            a_flat[t] = z_flat[t]
    elif out_kind == OUT_EXP:
        for t in range(n * k):
            a_flat[t] = math.exp(z_flat[t])
    else:
        for t in range(n * k):
            # exp(-|z|) <= 1 cannot overflow; each branch is exact.
            z = z_flat[t]
            e = vector_exp(-abs(z))
            a_flat[t] = 1.0 / (1.0 + e) if z >= 0 else e / (1.0 + e)


@_inner
def _batch_norm_forward(Z, H, stats, running, gamma, beta, train, momentum,
                        bn_eps):
    """Normalize ``Z`` (m, n) in place to ``gamma * H + beta``.

    ``H`` receives the normalized values. Training uses the batch mean and
    variance and moves the running statistics towards them (``running =
    momentum * running + (1 - momentum) * batch``, unbiased variance);
    inference uses the running statistics. ``stats`` receives the mean and
    the inverse standard deviation used, for the backward pass.
    """
    m, n = Z.shape
    mean = stats[:n]
    inv = stats[n:]
    run_mean = running[:n]
    run_var = running[n:]
    if train:
        for j in range(n):
            mean[j] = 0.0
            inv[j] = 0.0
        for i in range(m):
            for j in range(n):
                mean[j] += Z[i, j]
        for j in range(n):
            mean[j] /= m
        for i in range(m):
            for j in range(n):
                c = Z[i, j] - mean[j]
                inv[j] += c * c
        unbias = m / (m - 1.0) if m > 1 else 1.0
        for j in range(n):
            var = inv[j] / m
            run_mean[j] = momentum * run_mean[j] + (1.0 - momentum) * mean[j]
            run_var[j] = momentum * run_var[j] + (1.0 - momentum) * var * unbias
            inv[j] = 1.0 / math.sqrt(var + bn_eps)
    else:
        for j in range(n):
            mean[j] = run_mean[j]
            inv[j] = 1.0 / math.sqrt(run_var[j] + bn_eps)
    for i in range(m):
        for j in range(n):
            h = (Z[i, j] - mean[j]) * inv[j]
            H[i, j] = h
            Z[i, j] = gamma[j] * h + beta[j]


@_inner
def _batch_norm_backward(D, H, stats, gamma, g_gamma, g_beta, train, scratch):
    """Turn deltas w.r.t. the normalized output into deltas w.r.t. ``Z``.

    Adds the scale and shift gradients to ``g_gamma`` and ``g_beta``. In
    training mode the batch statistics depend on ``Z`` too; in inference
    mode the normalization is a fixed affine map. ``scratch`` (at least
    ``2 * n`` values) holds this batch's sums.
    """
    m, n = D.shape
    inv = stats[n:]
    dgamma = scratch[:n]
    dbeta = scratch[n:2 * n]
    for j in range(n):
        dgamma[j] = 0.0
        dbeta[j] = 0.0
    for i in range(m):
        for j in range(n):
            dgamma[j] += D[i, j] * H[i, j]
            dbeta[j] += D[i, j]
    for j in range(n):
        g_gamma[j] += dgamma[j]
        g_beta[j] += dbeta[j]
    for i in range(m):
        for j in range(n):
            if train:
                D[i, j] = gamma[j] * inv[j] / m * (
                    m * D[i, j] - dbeta[j] - H[i, j] * dgamma[j]
                )
            else:
                D[i, j] = gamma[j] * inv[j] * D[i, j]


# Sums along a row are one chain of dependent additions unless LLVM may
# reorder them: with "reassoc" it vectorizes them (the sum's rounding then
# depends on the vector width, never on the run).
_reassociating = njit(**JIT_OPTIONS, fastmath={"reassoc"})


@_reassociating
def _layer_norm_forward(Z, H, inv, gamma, beta, eps):
    """Normalize each row of ``Z`` (m, n) in place to ``gamma * H + beta``.

    ``H`` receives the normalized values ``(z - mean) / sqrt(var + eps)``
    (mean and biased variance over the row's ``n`` units), ``inv`` (m) the
    inverse standard deviation of each row, for the backward pass. The same
    at training and prediction.
    """
    m, n = Z.shape
    # Scalars in the array's dtype (an int64 n or float64 sums would make
    # float32 rows compute in float64, 2.5x slower: 40 -> 16 us, 128 x 256).
    width = Z.dtype.type(n)
    for i in range(m):
        z, h = Z[i], H[i]
        total = z[0] - z[0]
        for j in range(n):
            total += z[j]
        mean = total / width
        squares = total - total
        for j in range(n):
            c = z[j] - mean
            squares += c * c
        inv[i] = 1.0 / math.sqrt(squares / width + eps)
        r = inv[i]
        for j in range(n):
            hj = (z[j] - mean) * r
            h[j] = hj
            z[j] = gamma[j] * hj + beta[j]


@_reassociating
def _layer_norm_backward(D, H, inv, gamma, g_gamma, g_beta):
    """Turn deltas w.r.t. the normalized output into deltas w.r.t. ``Z``.

    Adds the scale and shift gradients to ``g_gamma`` and ``g_beta``; with
    ``g = gamma * D`` a row's deltas become
    ``inv / n * (n * g - sum(g) - H * sum(g * H))``.
    """
    m, n = D.shape
    width = D.dtype.type(n)
    for i in range(m):
        d, h = D[i], H[i]
        s1 = d[0] - d[0]
        s2 = d[0] - d[0]
        for j in range(n):
            g_gamma[j] += d[j] * h[j]
            g_beta[j] += d[j]
            g = gamma[j] * d[j]
            s1 += g
            s2 += g * h[j]
        r = inv[i] / width
        for j in range(n):
            d[j] = r * (width * gamma[j] * d[j] - s1 - h[j] * s2)


@_inner
def _forward(theta, sizes, off, Xb, m, Zbuf, Abuf, Hbuf, Vbuf, running,
             act_fwd, act_hp, out_kind, drop, Mbuf, Obuf, train, bn_momentum,
             bn_eps, ln_eps):
    """Forward pass of ``m`` rows; fills ``Z`` and ``A`` of every layer.

    Hidden layers: dense, then batch or layer normalization where enabled
    (``Z`` then holds its output and ``H`` the normalized values), activation,
    then inverted dropout where ``drop[l] > 0`` (training only: the mask, 0
    or ``1 / (1 - p)``, goes to ``Mbuf`` and the masked output fed forward
    to ``Obuf``). ``train`` selects batch statistics (and updates the
    running ones) rather than the running statistics.
    """
    n_layers = sizes.shape[0] - 1
    A_in = _matrix(Xb, 0, m, sizes[0])
    for layer in range(n_layers):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        W = _matrix(theta, off[OFF_W, layer], n_in, n_out)
        Z = _matrix(Zbuf, off[OFF_A, layer], m, n_out)
        A = _matrix(Abuf, off[OFF_A, layer], m, n_out)
        np.dot(A_in, W, Z)
        bias = theta[off[OFF_B, layer]:off[OFF_B, layer] + n_out]
        if layer == n_layers - 1:
            _add_intercepts(Z, bias)
            _output_activation(Z, A, out_kind)
            return A
        # The activation block adds the intercepts in its pass over Z (one
        # pass less), unless a normalization comes between them.
        if off[OFF_GAMMA, layer] >= 0:
            _add_intercepts(Z, bias)
            bias = bias[:0]
            v0 = off[OFF_V, layer]
            _batch_norm_forward(
                Z, _matrix(Hbuf, off[OFF_A, layer], m, n_out),
                Vbuf[v0 : v0 + 2 * n_out], running[v0 : v0 + 2 * n_out],
                _vector(theta, off[OFF_GAMMA, layer], n_out),
                _vector(theta, off[OFF_BETA, layer], n_out),
                train, bn_momentum, bn_eps,
            )
        elif off[OFF_LN_GAMMA, layer] >= 0:
            _add_intercepts(Z, bias)
            bias = bias[:0]
            _layer_norm_forward(
                Z, _matrix(Hbuf, off[OFF_A, layer], m, n_out),
                Vbuf[off[OFF_R, layer]:off[OFF_R, layer] + m],
                _vector(theta, off[OFF_LN_GAMMA, layer], n_out),
                _vector(theta, off[OFF_LN_BETA, layer], n_out), ln_eps,
            )
        act_fwd(layer, Z, A, act_hp, _vector(theta, off[OFF_P, layer], n_out), bias)
        A_in = A
        if train and layer < drop.shape[0] and drop[layer] > 0.0:
            rate = drop[layer]
            scale = 1.0 / (1.0 - rate)
            M = _matrix(Mbuf, off[OFF_A, layer], m, n_out)
            dropped = _matrix(Obuf, off[OFF_A, layer], m, n_out)
            for i in range(m):
                for j in range(n_out):
                    M[i, j] = scale if np.random.random() >= rate else 0.0
                    dropped[i, j] = A[i, j] * M[i, j]
            A_in = dropped
    return A_in


@_inner
def _backward(theta, grad, sizes, off, n_core, Xb, m, Zbuf, Abuf, Dbuf, Hbuf,
              Vbuf, act_bwd, act_hp, tmp, accumulate, drop, Mbuf, Obuf, train):
    """Backpropagate the output deltas into ``grad`` (sums over rows).

    Without ``accumulate`` the gradient is overwritten, else added to.
    ``theta[n_core:]`` holds the extra (normalization, activation)
    parameters.
    """
    n_layers = sizes.shape[0] - 1
    if not accumulate:
        for i in range(n_core, grad.shape[0]):
            grad[i] = 0.0
    for layer in range(n_layers - 1, -1, -1):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        D = _matrix(Dbuf, off[OFF_A, layer], m, n_out)
        prev = layer - 1
        dropped = layer > 0 and prev < drop.shape[0] and drop[prev] > 0.0
        if layer == 0:
            A_in = _matrix(Xb, 0, m, n_in)
        elif dropped:
            A_in = _matrix(Obuf, off[OFF_A, prev], m, n_in)
        else:
            A_in = _matrix(Abuf, off[OFF_A, prev], m, n_in)
        gW = _matrix(grad, off[OFF_W, layer], n_in, n_out)
        if accumulate:
            T = _matrix(tmp, 0, n_in, n_out)
            np.dot(A_in.T, D, T)
            for i in range(n_in):
                for j in range(n_out):
                    gW[i, j] += T[i, j]
        else:
            np.dot(A_in.T, D, gW)
        # A hidden layer without normalization had its intercept gradient
        # summed by the activation-derivative block already.
        if (layer == n_layers - 1 or off[OFF_GAMMA, layer] >= 0
                or off[OFF_LN_GAMMA, layer] >= 0):
            g_bias = grad[off[OFF_B, layer]:off[OFF_B, layer] + n_out]
            if not accumulate:
                g_bias[:] = 0.0
            _sum_rows_into(D, g_bias)
        if layer == 0:
            continue
        W = _matrix(theta, off[OFF_W, layer], n_in, n_out)
        a0 = off[OFF_A, prev]
        D_prev = _matrix(Dbuf, a0, m, n_in)
        np.dot(D, W.T, D_prev)
        if dropped:
            M = _matrix(Mbuf, a0, m, n_in)
            for i in range(m):
                for j in range(n_in):
                    D_prev[i, j] *= M[i, j]
        p0 = off[OFF_P, prev]
        g_bias = grad[off[OFF_B, prev]:off[OFF_B, prev] + n_in]
        if off[OFF_GAMMA, prev] >= 0 or off[OFF_LN_GAMMA, prev] >= 0:
            g_bias = g_bias[:0]
        elif not accumulate:
            g_bias[:] = 0.0
        act_bwd(prev, _matrix(Zbuf, a0, m, n_in), _matrix(Abuf, a0, m, n_in),
                D_prev, act_hp, _vector(theta, p0, n_in), _vector(grad, p0, n_in),
                g_bias)
        if off[OFF_GAMMA, prev] >= 0:
            v0 = off[OFF_V, prev]
            _batch_norm_backward(
                D_prev, _matrix(Hbuf, a0, m, n_in), Vbuf[v0 : v0 + 2 * n_in],
                _vector(theta, off[OFF_GAMMA, prev], n_in),
                _vector(grad, off[OFF_GAMMA, prev], n_in),
                _vector(grad, off[OFF_BETA, prev], n_in), train, tmp,
            )
        elif off[OFF_LN_GAMMA, prev] >= 0:
            r0 = off[OFF_R, prev]
            _layer_norm_backward(
                D_prev, _matrix(Hbuf, a0, m, n_in), Vbuf[r0:r0 + m],
                _vector(theta, off[OFF_LN_GAMMA, prev], n_in),
                _vector(grad, off[OFF_LN_GAMMA, prev], n_in),
                _vector(grad, off[OFF_LN_BETA, prev], n_in),
            )


@_inner
def _finalize(theta, grad, n_weights, reg, reg_hp, alpha, sw_sum):
    """Add the penalty gradient, divide by ``sw_sum``; return the penalty."""
    penalty = 0.0
    if alpha != 0.0:
        penalty = reg(theta[:n_weights], grad[:n_weights], reg_hp, alpha)
    scale = 1.0 / sw_sum
    for i in range(grad.shape[0]):
        grad[i] *= scale
    return penalty * scale


@_inner
def _augment(Xb, Yb, swb, m, d, k, noise_std, mixup_alpha, mix, perm):
    """Mixup within the batch, then Gaussian input noise; returns sw sum.

    ``perm`` (``m`` or more int64 values) receives the mixup partners.
    """
    if mixup_alpha > 0.0 and m > 1:
        lam = np.random.beta(mixup_alpha, mixup_alpha)
        # np.random.permutation(m)'s shuffle, without allocating.
        for i in range(m):
            perm[i] = i
        for i in range(m - 1, 0, -1):
            j = np.random.randint(0, i + 1)
            perm[i], perm[j] = perm[j], perm[i]
        n_x = m * d
        n_y = m * k
        for idx in range(n_x):
            mix[idx] = Xb[idx]
        for idx in range(n_y):
            mix[n_x + idx] = Yb[idx]
        for i in range(m):
            mix[n_x + n_y + i] = swb[i]
        for i in range(m):
            p = perm[i]
            for j in range(d):
                Xb[i * d + j] = lam * Xb[i * d + j] + (1.0 - lam) * mix[p * d + j]
            for j in range(k):
                Yb[i * k + j] = lam * Yb[i * k + j] + (1.0 - lam) * mix[n_x + p * k + j]
            swb[i] = lam * swb[i] + (1.0 - lam) * mix[n_x + n_y + p]
    if noise_std > 0.0:
        for idx in range(m * d):
            Xb[idx] += np.random.normal(0.0, noise_std)
    total = 0.0
    for i in range(m):
        total += swb[i]
    return total


@_inner
def _clip(grad, clip_value, clip_norm):
    """Clip each gradient entry to +-clip_value, then the global L2 norm."""
    if clip_value > 0.0:
        for i in range(grad.shape[0]):
            grad[i] = min(max(grad[i], -clip_value), clip_value)
    if clip_norm > 0.0:
        total = 0.0
        for i in range(grad.shape[0]):
            total += grad[i] * grad[i]
        norm = math.sqrt(total)
        if norm > clip_norm:
            scale = clip_norm / norm
            for i in range(grad.shape[0]):
                grad[i] *= scale


@_inner
def _score_sum(P, Yb, swb, m, out_kind):
    """Weighted count of rows whose prediction matches the target.

    Softmax: arg-max agreement; logistic outputs: every output on the same
    side of 1/2. Regression (no notion of a hit) returns the weighted sum of
    squared errors instead, from which the caller forms R².
    """
    k = P.shape[1]
    total = 0.0
    for i in range(m):
        if out_kind == OUT_SOFTMAX:
            # Running maxima with selects rather than branches: arg-max
            # branches mispredict on every other row.
            p_row, y_row = P[i], Yb[i * k:(i + 1) * k]
            best_p = 0
            best_y = 0
            p_max = p_row[0]
            y_max = y_row[0]
            for j in range(1, k):
                p, y = p_row[j], y_row[j]
                best_p = j if p > p_max else best_p
                p_max = max(p, p_max)
                best_y = j if y > y_max else best_y
                y_max = max(y, y_max)
            if best_p == best_y:
                total += swb[i]
        elif out_kind == OUT_LOGISTIC:
            hit = True
            for j in range(k):
                if (P[i, j] > 0.5) != (Yb[i * k + j] > 0.5):
                    hit = False
            if hit:
                total += swb[i]
        else:
            for j in range(k):
                r = P[i, j] - Yb[i * k + j]
                total += swb[i] * r * r
    return total


# The minibatch boundaries the CUDA host loop uses too.
_batch_length = _inner(batch_length)


class Buffers(NamedTuple):
    """The kernels' work buffers, as one argument (see ``network.Workspace``).

    Flat arrays of the network's dtype except ``perm`` (int64); every call
    overwrites them. ``grad`` (n_params) receives gradients; ``Xb``,
    ``Yb``, ``swb`` a batch's rows; ``Z``, ``A``, ``D``, ``H`` the per-layer
    pre-activations, activations, deltas and normalized values (``OFF_A``
    offsets); ``V`` batch statistics (per unit, ``OFF_V``, then per row,
    ``OFF_R``); ``tmp`` a layer's
    weight-gradient product; ``M``, ``O`` dropout masks and outputs;
    ``mix``, ``perm`` mixup's copies and partners.
    """

    grad: np.ndarray
    Xb: np.ndarray
    Yb: np.ndarray
    swb: np.ndarray
    Z: np.ndarray
    A: np.ndarray
    D: np.ndarray
    H: np.ndarray
    V: np.ndarray
    tmp: np.ndarray
    M: np.ndarray
    O: np.ndarray  # noqa: E741
    mix: np.ndarray
    perm: np.ndarray


def train_epoch(theta, X, Y, sw, order, batch_size, shuffle, seed,
                sizes, off, n_weights, n_core,
                act_fwd, act_bwd, act_hp, out_kind, loss, loss_hp,
                opt_step, opt_state, opt_hp, lrs, t0,
                reg, reg_hp, alpha, clip_value, clip_norm,
                drop, noise_std, mixup_alpha, running, bn_momentum, bn_eps,
                ln_eps, frozen, theta_frozen, totals, control, merge_single,
                buffers):
    """Run one epoch of minibatch training in place.

    Parameters
    ----------
    theta : ndarray (n_params,), float32 or float64
        Flat parameters, updated in place.
    X : ndarray (n_samples, n_features), same dtype, C-contiguous
    Y : ndarray (n_samples, n_outputs), same dtype
    sw : ndarray (n_samples,), same dtype
        Sample weights (ones when unweighted).
    order : ndarray (n_samples,), int64
        Sample order; shuffled in place (cumulatively) when ``shuffle``.
    batch_size : int
    shuffle : bool
    seed : int
        Seeds Numba's generator (shuffling, dropout, noise, mixup).
    sizes, off : ndarray, int64
        Layout (see the module docstring).
    n_weights, n_core : int
        Number of connection weights, and of weights plus intercepts.
    act_fwd, act_bwd, act_hp : block, block, ndarray (n_hidden, n_hp)
        Hidden activation blocks and their per-layer hyperparameters.
    out_kind : int
    loss, loss_hp : block, ndarray
        Loss block (loss sum and output deltas) and its hyperparameters.
    opt_step, opt_state, opt_hp : block, ndarray (k, n_params), ndarray
        Optimizer block, its state (updated in place) and hyperparameters.
    lrs : ndarray (n_batches,), float64
        Learning rate for each step of this epoch.
    t0 : int
        Optimizer steps taken before this epoch.
    reg, reg_hp, alpha : block, ndarray, float
        Regularizer block, its hyperparameters and strength.
    clip_value, clip_norm : float
        Gradient clipping by value and by global norm (0 disables each).
    drop : ndarray (n_hidden,), float64
        Dropout rate of each hidden layer (0 disables).
    noise_std, mixup_alpha : float
        Gaussian input noise and mixup's Beta parameter (0 disables each).
    running : ndarray, same dtype
        Batch-norm running statistics, updated in place.
    bn_momentum, bn_eps : float
    ln_eps : float
        Layer-norm variance epsilon.
    frozen : ndarray (n_segments, 2), int64
        ``[start, stop)`` ranges of ``theta`` that must not change.
    theta_frozen : ndarray (n_params,), same dtype
        Values the frozen ranges are held at.
    totals : ndarray (2,), float64
        Receives the weighted training-score sum of the epoch's batches
        (hits, or squared errors for regression) and the weight sum.
    control : ndarray (CONTROL_SIZE,), int64
        Read before every minibatch: a nonzero ``control[CONTROL_STOP]``
        (set by another thread) ends the epoch there. Receives the number
        of minibatches completed, and ``control[CONTROL_DIVERGED] = 1`` when
        a minibatch's loss was not finite (the epoch then ends before that
        minibatch's update).
    merge_single : bool
        A last minibatch of one row joins the one before it.
    buffers : Buffers
        Work buffers, overwritten.

    Returns
    -------
    float
        Sum over batches of ``batch_loss * batch_length``.
    """
    (grad, Xb, Yb, swb, Zbuf, Abuf, Dbuf, Hbuf, Vbuf, tmp, Mbuf, Obuf, mix,
     perm) = buffers
    n = X.shape[0]
    np.random.seed(seed)
    if shuffle:
        np.random.shuffle(order)
    total = 0.0
    step = 0
    totals[0] = 0.0
    totals[1] = 0.0
    augment = noise_std > 0.0 or mixup_alpha > 0.0
    n_layers = sizes.shape[0] - 1
    n_out = sizes[n_layers]
    control[CONTROL_STEPS] = 0
    control[CONTROL_DIVERGED] = 0
    start = 0
    while start < n and control[CONTROL_STOP] == 0:
        m = _batch_length(start, n, batch_size, merge_single)
        sw_sum = _gather(X, Y, sw, order, start, m, Xb, Yb, swb)
        if augment:
            sw_sum = _augment(Xb, Yb, swb, m, X.shape[1], Y.shape[1],
                              noise_std, mixup_alpha, mix, perm)
        P = _forward(theta, sizes, off, Xb, m, Zbuf, Abuf, Hbuf, Vbuf, running,
                     act_fwd, act_hp, out_kind, drop, Mbuf, Obuf, True,
                     bn_momentum, bn_eps, ln_eps)
        D = _matrix(Dbuf, off[OFF_A, n_layers - 1], m, n_out)
        loss_sum = loss(P, Yb, swb, loss_hp, D)
        if not np.isfinite(loss_sum):
            control[CONTROL_DIVERGED] = 1
            break
        totals[0] += _score_sum(P, Yb, swb, m, out_kind)
        totals[1] += sw_sum
        # Scale the output deltas, not the whole gradient, by 1 / sw_sum.
        inv = 1.0 / sw_sum
        for i in range(m):
            for j in range(n_out):
                D[i, j] *= inv
        _backward(theta, grad, sizes, off, n_core, Xb, m, Zbuf, Abuf, Dbuf,
                  Hbuf, Vbuf, act_bwd, act_hp, tmp, False, drop, Mbuf, Obuf, True)
        penalty = 0.0
        if alpha != 0.0:
            penalty = reg(theta[:n_weights], grad[:n_weights], reg_hp, alpha * inv)
        total += (loss_sum * inv + penalty) * m
        for s in range(frozen.shape[0]):
            for i in range(frozen[s, 0], frozen[s, 1]):
                grad[i] = 0.0
        _clip(grad, clip_value, clip_norm)
        opt_step(theta, grad, opt_state, opt_hp, lrs[step], t0 + step + 1)
        # Decoupled weight decay and momentum would still move frozen
        # parameters: put them back so they stay bit-identical.
        for s in range(frozen.shape[0]):
            for i in range(frozen[s, 0], frozen[s, 1]):
                theta[i] = theta_frozen[i]
        step += 1
        control[CONTROL_STEPS] = step
        start += m
    return total


def loss_grad(theta, X, Y, sw, chunk, sizes, off, n_weights, n_core,
              act_fwd, act_bwd, act_hp, out_kind, loss, loss_hp, reg, reg_hp,
              alpha, running, bn_eps, ln_eps, train, buffers):
    """Full-data loss and its gradient (written to ``grad``).

    Processes ``chunk`` rows at a time so memory stays that of one batch.
    Batch normalization uses the running statistics unless ``train`` (batch
    statistics of each chunk, as on a training batch; the running
    statistics are then updated with momentum 0.9). Arguments are as for
    :func:`train_epoch`.

    Returns
    -------
    float
        The regularized, sample-weighted mean loss.
    """
    grad, Xb, Yb, swb, Zbuf, Abuf, Dbuf, Hbuf, Vbuf, tmp = buffers[:10]
    n = X.shape[0]
    order = np.arange(n)
    no_drop = np.zeros(0)
    loss_sum = 0.0
    sw_total = 0.0
    n_layers = sizes.shape[0] - 1
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        sw_total += _gather(X, Y, sw, order, start, m, Xb, Yb, swb)
        P = _forward(theta, sizes, off, Xb, m, Zbuf, Abuf, Hbuf, Vbuf, running,
                     act_fwd, act_hp, out_kind, no_drop, Abuf, Abuf, train,
                     0.9, bn_eps, ln_eps)
        D = _matrix(Dbuf, off[OFF_A, n_layers - 1], m, sizes[n_layers])
        loss_sum += loss(P, Yb, swb, loss_hp, D)
        _backward(theta, grad, sizes, off, n_core, Xb, m, Zbuf, Abuf, Dbuf,
                  Hbuf, Vbuf, act_bwd, act_hp, tmp, start > 0, no_drop, Abuf,
                  Abuf, train)
    penalty = _finalize(theta, grad, n_weights, reg, reg_hp, alpha, sw_total)
    return loss_sum / sw_total + penalty


def predict(theta, X, chunk, sizes, off, act_fwd, act_hp, out_kind, running,
            bn_eps, ln_eps, buffers, out):
    """Network outputs for every row of ``X`` into ``out`` (n, n_outputs)."""
    Xb, Zbuf, Abuf, Hbuf, Vbuf = (buffers.Xb, buffers.Z, buffers.A, buffers.H,
                                  buffers.V)
    n = X.shape[0]
    d = X.shape[1]
    k = out.shape[1]
    no_drop = np.zeros(0)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        for i in range(m):
            x_row, x_dst = X[start + i], Xb[i * d:(i + 1) * d]
            for j in range(d):
                x_dst[j] = x_row[j]
        P = _forward(theta, sizes, off, Xb, m, Zbuf, Abuf, Hbuf, Vbuf, running,
                     act_fwd, act_hp, out_kind, no_drop, Abuf, Abuf, False,
                     0.0, bn_eps, ln_eps)
        for i in range(m):
            for j in range(k):
                out[start + i, j] = P[i, j]
    return out


def signatures(dtype):
    """The Numba signatures of the kernels and of the blocks for ``dtype``."""
    T = types.float32 if np.dtype(dtype) == np.float32 else types.float64
    f64, i64, b1 = types.float64, types.int64, types.boolean
    A1, A2 = T[::1], T[:, ::1]
    # Training data may be read-only (memory maps); mutable arrays convert.
    R1 = types.Array(T, 1, "C", readonly=True)
    R2 = types.Array(T, 2, "C", readonly=True)
    I1, I2 = i64[::1], i64[:, ::1]
    H1, H2 = f64[::1], f64[:, ::1]
    B = types.NamedTuple([A1] * 13 + [I1], Buffers)
    act_fwd = types.FunctionType(types.void(i64, A2, A2, H2, A1, A1))
    act_bwd = types.FunctionType(types.void(i64, A2, A2, A2, H2, A1, A1, A1))
    loss = types.FunctionType(f64(A2, A1, A1, H1, A2))
    opt = types.FunctionType(types.void(A1, A1, A2, H1, f64, i64))
    reg = types.FunctionType(f64(A1, A1, H1, f64))
    return {
        "act_fwd": act_fwd.signature,
        "act_bwd": act_bwd.signature,
        "loss": loss.signature,
        "opt": opt.signature,
        "reg": reg.signature,
        "train_epoch": f64(A1, R2, R2, R1, I1, i64, b1, i64,
                           I1, I2, i64, i64,
                           act_fwd, act_bwd, H2, i64, loss, H1,
                           opt, A2, H1, H1, i64,
                           reg, H1, f64, f64, f64,
                           H1, f64, f64, A1, f64, f64, f64,
                           I2, A1, H1, I1, b1, B),
        "loss_grad": f64(A1, R2, R2, R1, i64, I1, I2, i64, i64,
                         act_fwd, act_bwd, H2, i64, loss, H1, reg, H1, f64,
                         A1, f64, f64, b1, B),
        "predict": A2(A1, R2, i64, I1, I2, act_fwd, H2, i64, A1, f64, f64, B, A2),
    }
