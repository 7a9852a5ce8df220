"""Compiled kernels: ``cpu`` (Numba ``@njit``) and, mirroring it, ``cuda``."""
