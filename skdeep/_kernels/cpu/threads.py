"""BLAS thread control and the thread pool of the CPU backend.

The CPU kernels call BLAS (``np.dot`` inside ``@njit``) from GIL-free code:
these helpers keep small products on one BLAS thread and split a small
network's prediction over threads. The GPU has no counterpart.
"""

from __future__ import annotations

import contextlib
import os
import threading

# Matrix products below this many FLOPs run on one BLAS thread: OpenBLAS
# splits them over threads whose start-up and spin-waiting cost more than
# the product (measured on 2 cores: a 256x64x64 float32 product per batch
# ran 190x slower with 2 threads on a busy machine, 1.1x slower on an idle
# one).
SMALL_PRODUCT_FLOPS = 2 ** 25

_controller_lock = threading.Lock()
_blas_libraries = None
_lowered = None
_limit_users = 0
# OpenBLAS (0.3.30 at least) ignores a count set from any thread but the
# first one that set a count, while that thread lives. With fits side by
# side on threads (joblib's threading backend) one of them lowers the count
# for all; a restore between their fits would let the next fit on another
# thread run unlimited. So once several threads have shared the limit, only
# the main thread restores it (a search's refit, once the pool's threads are
# gone); until then the counts to restore wait here, as do the counts of a
# restore OpenBLAS ignored.
_unrestored = None
_sharing_threads = set()


def blas_threads(layout, rows):
    """Context limiting BLAS to one thread for a small network.

    The limit only ever lowers the thread count, so a ``threadpoolctl``
    limit the user set stays in force; large products keep the BLAS
    default.
    """
    if not is_small(layout, rows):
        return contextlib.nullcontext()
    return _one_blas_thread()


def is_small(layout, rows):
    """Whether every matrix product of a ``rows``-row batch is small."""
    largest = max(2 * rows * fan_in * fan_out for fan_in, fan_out in layout.shapes)
    return largest < SMALL_PRODUCT_FLOPS


# OpenBLAS runs a product of fewer than 4 * 65536 multiply-adds on one
# thread whatever its setting, so a prediction whose products all stay under
# half that needs no thread limit; setting one (threadpoolctl calls under a
# lock) cost 6 us of a 1-row predict that takes 30 us in all.
TINY_PRODUCT_MULTIPLY_ADDS = 2 ** 17


def is_tiny(layout, rows):
    """Whether every matrix product of a ``rows``-row batch is tiny."""
    largest = max(rows * fan_in * fan_out for fan_in, fan_out in layout.shapes)
    return largest < TINY_PRODUCT_MULTIPLY_ADDS


@contextlib.contextmanager
def _one_blas_thread():
    # One limit shared by concurrent fits (threads, nogil kernels): the
    # first to enter lowers it, the last to leave restores it (only on the
    # main thread once several threads have shared it, see _unrestored). The BLAS
    # libraries are looked up once; threadpoolctl's own limiter would
    # inspect every loaded library on each kernel call (15-25 us).
    global _lowered, _limit_users, _unrestored
    with _controller_lock:
        _find_blas_libraries()
        if _limit_users == 0:
            _lowered = _unrestored or [(lib, lib.num_threads) for lib in _blas_libraries]
            _unrestored = None
            for lib, _ in _lowered:
                lib.set_num_threads(1)
        _limit_users += 1
        _sharing_threads.add(threading.get_ident())
    try:
        yield
    finally:
        with _controller_lock:
            _limit_users -= 1
            if _limit_users == 0:
                if (len(_sharing_threads) > 1
                        and threading.current_thread() is not threading.main_thread()):
                    _unrestored = _lowered
                else:
                    for lib, threads in _lowered:
                        lib.set_num_threads(threads)
                    if any(lib.num_threads != threads for lib, threads in _lowered):
                        _unrestored = _lowered
                    else:
                        _sharing_threads.clear()
                _lowered = None


def blas_thread_count():
    """How many threads BLAS may use now (a ``threadpoolctl`` limit counts)."""
    with _controller_lock:
        _find_blas_libraries()
        return max([lib.num_threads for lib in _blas_libraries], default=1)


def _find_blas_libraries():
    # Called under _controller_lock, after a kernel has loaded, so it sees
    # the BLAS the kernels call (SciPy's, next to NumPy's).
    global _blas_libraries
    if _blas_libraries is None:
        from threadpoolctl import ThreadpoolController

        _blas_libraries = [lib for lib in ThreadpoolController().lib_controllers
                           if lib.user_api == "blas"]


_pool = None
_pool_pid = None
_pool_lock = threading.Lock()


def run_parallel(task, argument_tuples):
    """``task(*args)`` for every tuple, the first here, the rest on threads.

    Worth it only for GIL-free work. Exceptions propagate; every task has
    finished when this returns.
    """
    global _pool, _pool_pid
    if len(argument_tuples) > 1:
        with _pool_lock:
            # A pool inherited through fork has no threads behind it.
            if _pool is None or _pool_pid != os.getpid():
                from concurrent.futures import ThreadPoolExecutor

                _pool = ThreadPoolExecutor(thread_name_prefix="skdeep")
                _pool_pid = os.getpid()
            pool = _pool
        futures = [pool.submit(task, *args) for args in argument_tuples[1:]]
    else:
        futures = []
    try:
        task(*argument_tuples[0])
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
