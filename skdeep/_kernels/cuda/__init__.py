"""CUDA kernels mirroring :mod:`skdeep._kernels.cpu` (``numba.cuda``).

Importing this package does not import :mod:`numba.cuda`; the kernels are
built on first use. The files mirror ``cpu/``: ``kernels.py``
(device code), ``network.py`` (host side), ``blocks.py`` (plugin kernels),
``compile.py`` (compiler glue); ``ptx.py`` checks kernels compile for a real
GPU.
"""
