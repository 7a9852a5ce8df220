"""Where training runs: the CPU, or an NVIDIA GPU through numba-cuda, and
the backend network for it (the one module that decides the device).

``numba.cuda`` is imported only when a GPU is asked for.
"""

from __future__ import annotations

import functools

CUDA_INSTALL_HINT = 'pip install "skdeep-mlp[cuda]"'


@functools.lru_cache(maxsize=1)
def cuda_status():
    """Whether a GPU is usable, and why not.

    Returns
    -------
    usable : bool
    reason : str
        Empty when usable; otherwise what is missing and what to do.
    """
    try:
        from numba import cuda
    except ImportError as exc:  # numba without its CUDA target
        return False, (f"numba.cuda cannot be imported ({exc}); install "
                       f"numba-cuda: {CUDA_INSTALL_HINT}")
    try:
        import numba_cuda  # noqa: F401  (the maintained CUDA target)
    except ImportError:
        from numba import config

        if not config.ENABLE_CUDASIM:
            return False, ("the numba-cuda package is not installed (Numba's "
                           "built-in CUDA target is deprecated): "
                           f"{CUDA_INSTALL_HINT}")
    try:
        usable = cuda.is_available()
    except Exception as exc:  # a broken driver or toolkit install
        return False, f"numba.cuda failed to start: {exc}"
    if not usable:
        return False, ("numba-cuda found no usable NVIDIA GPU (no device, or "
                       "no driver); use device='cpu' or 'auto'")
    return True, ""


def resolve_device(device, report=None):
    """Map the ``device`` parameter to ``"cpu"`` or ``"cuda"``.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
    report : callable, optional
        Receives a message when ``"auto"`` falls back to the CPU.

    Raises
    ------
    RuntimeError
        ``device="cuda"`` without a usable GPU, saying what is missing.
    """
    if device == "cpu":
        return "cpu"
    usable, reason = cuda_status()
    if usable:
        return "cuda"
    if device == "cuda":
        raise RuntimeError(f"device='cuda' is not available: {reason}.")
    if report is not None:
        report(f"device='auto': training on the CPU ({reason}).")
    return "cpu"


def make_network(device, layer_units, activations, out_activation, dtype,
                 loss=None, batch_norm=None, layer_norm=None,
                 layer_norm_epsilon=1e-5):
    """The backend network for ``device`` (``"cpu"`` or ``"cuda"``).

    Both backends take the same arguments and offer the same methods
    (:class:`skdeep._kernels.cpu.network.CpuNetwork`,
    :class:`skdeep._kernels.cuda.network.CudaNetwork`). Without ``loss``,
    the network trains with the canonical loss of ``out_activation``.
    """
    from ._kernels.layout import DEFAULT_LOSSES

    if loss is None:
        from ._spec import resolve

        loss = resolve("loss", DEFAULT_LOSSES[out_activation])
    if device == "cuda":
        from ._kernels.cuda.network import CudaNetwork as network
    else:
        from ._kernels.cpu.network import CpuNetwork as network
    return network(layer_units, activations, out_activation, dtype, loss=loss,
                   batch_norm=batch_norm, layer_norm=layer_norm,
                   layer_norm_epsilon=layer_norm_epsilon)
