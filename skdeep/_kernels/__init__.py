"""The backends: ``cpu`` (Numba ``@njit``) and, mirroring it file for file,
``cuda`` (numba-cuda), over the device-neutral ``layout`` and ``codegen``."""
