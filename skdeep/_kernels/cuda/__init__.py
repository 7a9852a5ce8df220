"""CUDA kernels mirroring :mod:`skdeep._kernels.cpu` (``numba.cuda``).

Importing this package does not import :mod:`numba.cuda`; the kernels are
built on first use. See :mod:`skdeep._kernels.cuda.mlp`.
"""
