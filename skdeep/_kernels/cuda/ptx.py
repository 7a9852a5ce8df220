"""Compile the CUDA kernels to PTX without a GPU.

The CUDA simulator runs kernels as plain Python and accepts code the real
target rejects (non-constant shared-array shapes, Python objects, closures
over modules...). :func:`compile_all` compiles every kernel of
:mod:`skdeep._kernels.cuda.kernels` and the plugin kernels of
:mod:`skdeep._kernels.cuda.blocks` for the real target with
``numba.cuda.compile_ptx``. It needs NVVM (``pip install
"numba-cuda[cu13]"``) but no driver, and must run in a process where the
simulator is off.
"""

from __future__ import annotations

import contextlib
import types

import numpy as np

from .compile import simulator_enabled

__all__ = ["compile_all", "compile_kernel"]


@contextlib.contextmanager
def _without_driver(cc):
    """Let device functions compile where no driver can report a device.

    Device-function dispatchers ask the current device for its compute
    capability while a kernel that calls them is being typed; with no
    driver that lookup fails, so it is answered with ``cc`` meanwhile.
    """
    from numba import cuda
    from numba.cuda import dispatcher

    if cuda.is_available():
        yield
        return
    original = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: types.SimpleNamespace(
        compute_capability=cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = original


def compile_kernel(kernel, cc=(9, 0)):
    """PTX of one :class:`~skdeep._kernels.cuda.compile.DeviceKernel`.

    Parameters
    ----------
    kernel : DeviceKernel
    cc : tuple of int, default=(9, 0)
        Compute capability to compile for.

    Returns
    -------
    str
        The PTX text.
    """
    from numba import cuda

    if simulator_enabled():
        raise RuntimeError("compile_ptx needs the simulator off "
                           "(NUMBA_ENABLE_CUDASIM unset).")
    with _without_driver(cc):
        ptx, _ = cuda.compile_ptx(kernel.py_func, kernel.signature, cc=cc)
    return ptx


def compile_all(dtype, activations, losses, optimizers, regularizers,
                cc=(9, 0)):
    """Compile the core kernels and the given plugins' kernels to PTX.

    Parameters
    ----------
    dtype : numpy dtype
    activations : sequence of ActivationPlugin
        Compiled together, as the hidden layers of one network.
    losses : sequence of (LossPlugin, out_kind, average_outputs)
    optimizers : sequence of OptimizerPlugin
    regularizers : sequence of RegularizerPlugin
    cc : tuple of int, default=(9, 0)

    Returns
    -------
    dict of str to str
        Kernel name to PTX.
    """
    from . import blocks
    from .kernels import core_kernels

    dtype = np.dtype(dtype)
    kernels = []
    core = core_kernels(dtype)
    kernels += [value for value in vars(core).values() if hasattr(value, "py_func")]
    if activations:
        kernels += list(blocks.activation_blocks(activations, dtype))
    kernels += [blocks.loss_block(plugin, kind, avg, dtype)
                for plugin, kind, avg in losses]
    kernels += [blocks.optimizer_block(plugin, dtype) for plugin in optimizers]
    kernels += [blocks.regularizer_block(plugin, dtype) for plugin in regularizers]
    return {kernel.name: compile_kernel(kernel, cc) for kernel in kernels}
