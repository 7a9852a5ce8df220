"""Compilation of plugin scalar math: float32 literals and block caching."""

import math

import numpy as np
import pytest

from skdeep._kernels.cpu.compile import scalar_jit

_HALF = 0.5
_HUGE = 1e300


def _affine(x):
    return 1.0 - 2 * x + _HALF


def _clipped(x):
    return max(x, 0) if x < 3 else 3


def _pair(x, y):
    return 1 - x, x * y + 1


def _out_of_range(x):
    # Neither constant is representable in float32: they stay float64.
    return x * 1e-300 * _HUGE


def _indexing(x):
    values = (x, 2.0 * x)
    return values[1] ** 2


def _returned_types(jitted, *args):
    jitted(*args)
    (signature,) = jitted.nopython_signatures
    return signature.return_type


@pytest.mark.parametrize("fn, args, numpy_fn", [
    (_affine, (0.3,), lambda x: np.float32(1.0) - np.float32(2) * x + np.float32(0.5)),
    (_clipped, (0.3,), lambda x: max(x, np.float32(0))),
    (_indexing, (0.3,), lambda x: (np.float32(2.0) * x) ** 2),
])
def test_float32_math_stays_float32_like_numpy(fn, args, numpy_fn):
    # NumPy treats Python scalars next to float32 as float32 (NEP 50); the
    # compiled plugin math must too, or it runs at float64 speed.
    from numba import types

    x = np.float32(args[0])
    jitted = scalar_jit(fn, np.float32)
    assert _returned_types(jitted, x) == types.float32
    assert jitted(x) == numpy_fn(x)
    # float64 compilation is the plain function, literals untouched.
    assert scalar_jit(fn, np.float64)(0.3) == fn(0.3)


def test_tuples_and_ints_in_arithmetic_are_float32():
    from numba import types

    jitted = scalar_jit(_pair, np.float32)
    result = _returned_types(jitted, np.float32(0.25), np.float32(2.0))
    assert result == types.UniTuple(types.float32, 2)
    assert jitted(np.float32(0.25), np.float32(2.0)) == (0.75, 1.5)


def test_literals_beyond_float32_range_keep_their_value():
    jitted = scalar_jit(_out_of_range, np.float32)
    assert math.isclose(jitted(np.float32(2.0)), 2.0, rel_tol=1e-6)


def test_closures_compile_unchanged():
    scale = 3.0

    def scaled(x):
        return scale * x

    assert scalar_jit(scaled, np.float32)(np.float32(2.0)) == 6.0


def test_blocks_reach_kernels_by_a_cached_address(monkeypatch):
    # Kernels take blocks as first-class functions; a plain dispatcher would
    # have its address looked up again on every kernel call.
    import numba
    from numba.core.dispatcher import Dispatcher
    from numba.core.types import FunctionType

    from skdeep._device import make_network
    from skdeep._registry import get_registry

    relu = get_registry().get("activation", "relu")
    net = make_network("cpu", (3, 4, 2), [(relu, {})], "softmax", np.float64)
    assert isinstance(numba.typeof(net.act_fwd), FunctionType)
    assert numba.typeof(net.act_fwd) is numba.typeof(net.act_fwd)  # built once
    theta = np.random.default_rng(0).normal(size=net.layout.n_params)
    X = np.ones((5, 3))
    first = net.predict(theta, X)
    lookups = []
    original = Dispatcher.get_compile_result
    monkeypatch.setattr(Dispatcher, "get_compile_result",
                        lambda *a: lookups.append(a) or original(*a))
    np.testing.assert_array_equal(net.predict(theta, X), first)
    assert lookups == []


_FRESH_FIT = """
import numpy as np
from numba.core import base
from skdeep import MLPClassifier

set_ups = []
original = base.BaseContext.refresh
base.BaseContext.refresh = lambda self: (set_ups.append(1), original(self))[1]
X = np.random.RandomState(0).normal(size=(60, 4))
y = (X[:, 0] > 0).astype(int)
clf = MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
print(len(set_ups), clf.predict_proba(X[:3]).tolist())
"""


def test_cached_kernels_load_without_numbas_full_set_up():
    # Numba sets up its whole compiler (0.3-0.5 s) before reading a cache
    # entry; skdeep's loader skips that for hits. The first process may
    # compile; the second must load everything and train identically.
    import subprocess
    import sys

    runs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-W", "ignore", "-c", _FRESH_FIT],
                              capture_output=True, text=True, check=True)
        count, proba = proc.stdout.strip().split(" ", 1)
        runs.append((int(count), proba))
    assert runs[1][0] == 0
    assert runs[0][1] == runs[1][1]
