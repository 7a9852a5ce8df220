"""Compiler glue of the CUDA backend: launch sizes, lazy imports, codegen.

Nothing here imports :mod:`numba.cuda` at module import time; every function
that needs it imports it when called, so ``import skdeep`` never does.
"""

from __future__ import annotations

import math
import threading
import types as pytypes
from typing import NamedTuple

import numpy as np

from ..codegen import with_literals_as

_lock = threading.RLock()
# numba.cuda once a device function is built: a module global, because the
# simulator swaps its fake module into globals (not closure cells).
cuda = None
_device_functions = {}
_block_sums = {}


class LaunchConfig(NamedTuple):
    """Launch sizes the kernels are built and launched with.

    Attributes
    ----------
    tile : int
        Edge of the matrix-multiply tile; its blocks have ``tile * tile``
        threads and two ``tile * (tile + 1)`` shared arrays.
    block : int
        Threads per block of the one-dimensional kernels (a power of two:
        the shared-memory tree reductions need it).
    max_blocks : int
        Largest grid of the grid-stride elementwise kernels.
    red_blocks : int
        Largest grid of the kernels that leave one partial sum per block
        (the number of partial sums the next kernel adds up).
    rng_blocks : int
        Grid of the dropout and noise kernels: ``rng_blocks * block``
        random generator states, one per thread.
    """

    tile: int
    block: int
    max_blocks: int
    red_blocks: int
    rng_blocks: int


# The simulator runs every thread as a Python thread (about 1 ms each per
# launch): tiny blocks keep its tests fast and still exercise every
# multi-tile, multi-block and grid-stride path.
REAL = LaunchConfig(tile=16, block=256, max_blocks=1024, red_blocks=128,
                    rng_blocks=16)
SIMULATOR = LaunchConfig(tile=2, block=4, max_blocks=2, red_blocks=2,
                         rng_blocks=2)

# Layout of the float64 scalar vector ``S`` each workspace keeps on the
# device: per-batch values, running sums, then two partial sums per block
# of the gradient-preparation kernel (penalty, squared norm).
S_SW, S_LOSS, S_TOTAL, S_SCORE, S_SW_TOTAL, S_LOSS_TOTAL = range(6)
S_PARTIAL = 8


def simulator_enabled():
    """Whether Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def launch_config():
    """The :class:`LaunchConfig` for the current target."""
    return SIMULATOR if simulator_enabled() else REAL


def cuda_module():
    """Import and return :mod:`numba.cuda`."""
    from numba import cuda

    return cuda


def numba_type(dtype):
    """The Numba scalar type of ``dtype`` (float32 or float64)."""
    import numba

    return numba.float32 if np.dtype(dtype) == np.float32 else numba.float64


def grid_1d(n, config, cap=None):
    """Blocks for a grid-stride kernel over ``n`` items (at least one)."""
    cap = config.max_blocks if cap is None else cap
    return max(1, min(cap, math.ceil(max(n, 1) / config.block)))


def device_function(fn, dtype=None):
    """``cuda.jit(device=True)`` of a plugin's plain scalar function (memoized).

    A function that is already a CPU Numba dispatcher is compiled from its
    Python source (``py_func``). For float32 its number literals become
    float32, as on the CPU (see :func:`skdeep._kernels.codegen.with_literals_as`).
    """
    import numpy as np

    fn = getattr(fn, "py_func", fn)
    single = dtype is not None and np.dtype(dtype) == np.float32
    with _lock:
        compiled = _device_functions.get((fn, single))
        if compiled is None:
            source_fn = with_literals_as(fn, np.float32) if single else fn
            compiled = cuda_module().jit(device=True)(source_fn)
            _device_functions[(fn, single)] = compiled
        return compiled


def block_sum_function(block):
    """A device function summing one float64 per thread over a block.

    ``block_sum(buf, value, tid)``: ``buf`` is a float64 shared array of
    ``block`` entries and ``tid`` the thread index. Every thread of the block
    must call it (it synchronizes); all receive the sum. The tree order is
    fixed, so the result is deterministic.
    """
    global cuda
    with _lock:
        fn = _block_sums.get(block)
        if fn is not None:
            return fn
        cuda = cuda_module()
        half = block // 2

        def block_sum(buf, value, tid):
            cuda.syncthreads()
            buf[tid] = value
            cuda.syncthreads()
            s = half
            while s > 0:
                if tid < s:
                    buf[tid] += buf[tid + s]
                cuda.syncthreads()
                s //= 2
            return buf[0]

        fn = _block_sums[block] = cuda.jit(device=True)(block_sum)
        return fn


class DeviceKernel:
    """A CUDA kernel with the Python function and signature it came from.

    Launch it like a Numba kernel: ``kernel[grid, block](*args)``. The
    signature serves :func:`.ptx.compile_all`, which
    compiles the Python function for the real target without a GPU.

    Parameters
    ----------
    name : str
    py_func : function
        Plain Python kernel source (as generated or written).
    signature : callable
        ``signature(dtype) -> numba signature`` of the launch arguments.
    """

    def __init__(self, name, py_func, signature):
        self.name = name
        self.py_func = py_func
        self.signature = signature
        self._jitted = None

    @property
    def jitted(self):
        """The lazily compiled ``cuda.jit`` dispatcher."""
        if self._jitted is None:
            with _lock:
                if self._jitted is None:
                    self._jitted = cuda_module().jit(self.py_func)
        return self._jitted

    def __getitem__(self, launch):
        return self.jitted[launch]

    def __repr__(self):
        return f"DeviceKernel({self.name!r})"


def exec_source(source, namespace, name, label):
    """Execute generated kernel ``source`` and return the function ``name``.

    Parameters
    ----------
    source : str
        Python source of the kernel.
    namespace : dict
        Globals the source needs (device functions, constants, ``cuda``,
        ``math``).
    name : str
        The function to return.
    label : str
        Used in the pseudo file name of tracebacks.
    """
    module = pytypes.ModuleType(f"skdeep_cuda_{label}")
    module.__dict__.update(namespace)
    code = compile(source, f"<skdeep cuda {label}>", "exec")
    exec(code, module.__dict__)
    fn = module.__dict__[name]
    fn.__skdeep_source__ = source
    return fn
