"""CPU backend (Numba ``@njit``): ``kernels.py`` (compiled code),
``network.py`` (host side), ``blocks.py`` (plugin blocks), ``compile.py``
(compiler and cache glue), ``threads.py`` (BLAS threads)."""
