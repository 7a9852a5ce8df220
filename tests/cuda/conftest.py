"""The CUDA kernels' tests: run under Numba's CUDA simulator or on a GPU.

Every test here is skipped unless ``NUMBA_ENABLE_CUDASIM=1`` is set in the
environment before Numba is imported, or a real CUDA device is usable, and
unless :mod:`numba.cuda` (the ``numba-cuda`` package) imports. Run them in
their own process::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda -q -p no:cacheprovider
"""

import os
import sys

import numpy as np
import pytest

_reason = None


def _skip_reason():
    """Why the CUDA tests cannot run here, or None when they can."""
    global _reason
    if _reason is None:
        _reason = ""
        try:
            from numba import cuda
        except ImportError as exc:  # pragma: no cover - numba-cuda missing
            _reason = f"numba.cuda does not import: {exc}"
        else:
            simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
            if not simulated and not cuda.is_available():
                _reason = "no CUDA device and NUMBA_ENABLE_CUDASIM is not 1"
    return _reason or None


@pytest.fixture(autouse=True)
def _require_cuda():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("numba.cuda")


@pytest.fixture(autouse=True, scope="session")
def _fast_simulator():
    """Hand the GIL over more often while simulated kernels run.

    The simulator runs each CUDA thread as a Python thread while the main
    thread polls them; with the default 5 ms switch interval the threads
    mostly wait for the poller (measured 5x slower).
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        yield
        return
    previous = sys.getswitchinterval()
    sys.setswitchinterval(5e-4)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture
def rng():
    return np.random.RandomState(0)
