"""Compiler and cache glue of the CPU backend.

The core kernels of :mod:`.kernels` are compiled once per dtype with
explicit signatures and ``cache=True`` (:func:`kernel`); the
plugin-dependent parts reach them as first-class function arguments of a
fixed type ("blocks": a loop over a whole layer or parameter vector that
inlines the plugin's scalar function, generated in :mod:`.blocks`).
Passing plugins as arguments keeps the big kernels cacheable on disk. The
Numba options of every CPU function come from ``kernels.JIT_OPTIONS``.

Blocks are generated as Python source and compiled from that text in
memory. With a cache directory (:mod:`..cache`: private, checked, atomic)
the source is also written to a file whose name hashes the plugin's code,
for people to read and for Numba's cache to be keyed on, so later processes
load the compiled block and never one compiled from an older version of the
plugin; the file itself is never executed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import types as pytypes

import numpy as np

from .. import cache as disk_cache
from ..codegen import function_fingerprint, with_literals_as
from . import kernels as cpu_kernels

# Bump when a template or the literal rewriting changes, so stale cached
# blocks are not reused.
_TEMPLATE_VERSION = "6"

_lock = threading.RLock()
_blocks = {}
_blocks_by_identity = {}
_scalar_jits = {}

def jit_options(cache=True):
    """The Numba options of every CPU kernel, with ``cache``."""
    return {**cpu_kernels.JIT_OPTIONS, "cache": cache}


def compile_cached(py_func, signature, cache=True):
    """``numba.njit(signature, cache=cache, ...)(py_func)``, loading faster.

    The cache is skdeep's private one (:func:`..cache.numba_cache`: checked
    directory, atomic sealed entries, damaged entries recompiled), not
    Numba's default next to the source file. Before it reads a cached
    function, Numba sets up its whole compilation target (imports and
    registers every implementation it has: 0.3-0.5 s on the development
    machine) although loading machine code needs none of it. A cache hit
    here initializes only the runtime; a miss compiles as usual (the
    compiler does the full set-up). Without a safe cache directory, or
    where Numba's internals differ from what this expects, it compiles in
    memory.
    """
    import numba

    dispatcher = numba.njit(**jit_options(cache=False))(py_func)
    private = disk_cache.numba_cache(py_func) if cache else None
    if private is not None and hasattr(dispatcher, "_cache"):
        dispatcher._cache = private
        try:
            # Unboxing first-class function arguments calls into this module.
            import numba.experimental.function_type  # noqa: F401
            from numba.core.runtime import rtsys
        except ImportError:
            rtsys = None
        if rtsys is not None:
            private.load_set_up = rtsys.initialize
            try:
                dispatcher.compile(signature)
            finally:
                private.load_set_up = None
    dispatcher.compile(signature)  # a no-op once loaded
    dispatcher.disable_compile()
    return dispatcher


def cache_dir():
    """The private directory for generated block sources, or None.

    See :func:`..cache.cache_root` (``SKDEEP_CACHE_DIR``, else
    ``NUMBA_CACHE_DIR/skdeep``, else the user cache directory, else a
    checked per-user temporary directory).
    """
    return disk_cache.cache_root()


def scalar_jit(fn, dtype=None):
    """Compile a plugin's scalar function for the CPU (memoized).

    For float32 the function's Python number literals (and the plain float
    constants of its module) are compiled as float32, as NumPy treats Python
    scalars next to float32 arrays (NEP 50): otherwise Numba would type
    ``1.0 - x`` as float64 and run float32 math at float64 speed. In
    float32 and float64 its ``math`` functions that have vectorizable
    versions (``kernels.VECTOR_MATH``) become those: the C library's are a
    call per value that keeps the whole loop scalar.
    """
    import numba

    single = dtype is not None and np.dtype(dtype) == np.float32
    double = dtype is not None and np.dtype(dtype) == np.float64
    with _lock:
        jitted = _scalar_jits.get((fn, single, double))
        if jitted is None:
            if isinstance(fn, numba.core.dispatcher.Dispatcher):
                jitted = fn
            else:
                source_fn = (with_literals_as(fn, np.float32, _use_vector_math)
                             if single else with_literals_as(fn, None, _use_vector_math)
                             if double else fn)
                jitted = numba.njit(inline="always",
                                    error_model=cpu_kernels.JIT_OPTIONS["error_model"])(
                    source_fn)
            _scalar_jits[(fn, single, double)] = jitted
        return jitted


_vector_math = None

# math functions that keep a loop vectorizable without a replacement: LLVM
# intrinsics and constants.
_INTRINSIC_MATH = {"sqrt", "fabs", "copysign", "floor", "ceil", "trunc", "isnan",
                   "isinf", "isfinite", "inf", "nan", "pi", "e", "tau"}


def _use_vector_math(namespace, names):
    """Point ``namespace``'s ``math`` module and its functions that have
    vectorizable versions at those; return whether anything changed.

    Nothing changes where the function also calls a C-library function
    without a vectorizable version (``math.pow``, ...): its loop stays
    scalar, where the C library's ``exp`` is faster than the polynomial.
    """
    global _vector_math
    import math

    vectors = cpu_kernels.VECTOR_MATH
    if any(name in vars(math) and name not in _INTRINSIC_MATH and name not in vectors
           for name in names):
        return False
    if _vector_math is None:
        module = pytypes.ModuleType("skdeep_vector_math")
        module.__dict__.update(math.__dict__)
        module.__dict__.update(vectors, __name__="skdeep_vector_math")
        _vector_math = module
    replacements = [(math, _vector_math)]
    replacements += [(getattr(math, name), vector) for name, vector in vectors.items()]
    replaced = False
    for name in names:
        value = namespace.get(name)
        for original, vector in replacements:
            if value is original:
                namespace[name] = vector
                replaced = True
    return replaced


_kernel_digest = None


def _kernel_source_digest():
    """Digest of the CPU kernel module, whose vector math blocks inline."""
    global _kernel_digest
    if _kernel_digest is None:
        with open(cpu_kernels.__file__, "rb") as fh:
            _kernel_digest = hashlib.sha256(fh.read()).digest()
    return _kernel_digest


class CompiledBlock:
    """A compiled block whose machine-code address and type are built once.

    Kernels take blocks as first-class functions. Handed a Numba dispatcher,
    every kernel call would look the address up again and build its type
    (about 0.1 ms per block, which adds up over the many short epochs of a
    small data set); Numba's wrapper address protocol and ``_numba_type_``
    let the block answer from a cache. Calling the block calls the compiled
    function.
    """

    __slots__ = ("dispatcher", "_signature", "_address", "_numba_type_")

    def __init__(self, dispatcher, signature):
        from numba.core.types import FunctionType

        self.dispatcher = dispatcher
        self._signature = signature
        self._address = None
        # Numba types an argument by this attribute before anything else;
        # built once, it spares a new FunctionType per kernel call.
        self._numba_type_ = FunctionType(signature)

    def __wrapper_address__(self):
        if self._address is None:
            from numba.experimental.function_type import _get_wrapper_address

            self._address = _get_wrapper_address(self.dispatcher, self._signature)
        return self._address

    def signature(self):
        return self._signature

    def __call__(self, *args):
        return self.dispatcher(*args)


def build_block(source, functions, signature, label, dtype):
    """Compile generated block source into a :class:`CompiledBlock`.

    Parameters
    ----------
    source : str
        Python source defining a function named ``block``. It may use
        ``np`` and the names in ``functions``.
    functions : dict of str to callable
        Plain-Python scalar functions the source calls, by local name.
    signature : numba signature
        The explicit signature to compile ``block`` for.
    label : str
        Short name used in the generated file name.
    dtype : numpy dtype
        The block's float type; see :func:`scalar_jit`.

    Returns
    -------
    CompiledBlock
        Compiled for exactly ``signature``; pass it to a core kernel as a
        first-class function.
    """
    # Fingerprinting reads the plugins' source; skip it for blocks this
    # process already built from the very same function objects.
    fast_key = (source, str(signature), label, np.dtype(dtype).name,
                tuple(sorted(functions.items(), key=lambda kv: kv[0])))
    block = _blocks_by_identity.get(fast_key)
    if block is not None:
        return block
    digest = hashlib.sha256()
    digest.update(_TEMPLATE_VERSION.encode())
    digest.update(_kernel_source_digest())
    digest.update(source.encode())
    digest.update(str(signature).encode())
    for name in sorted(functions):
        digest.update(name.encode())
        digest.update(function_fingerprint(functions[name]).encode())
    key = f"{label}_{digest.hexdigest()[:20]}"
    with _lock:
        block = _blocks.get(key)
        if block is not None:
            _blocks_by_identity[fast_key] = block
            return block
        namespace = {"np": np}
        namespace.update({k: scalar_jit(f, dtype) for k, f in functions.items()})
        # The text compiled is always the one generated here; the file only
        # names it for Numba's cache (and shows it to people), and is
        # rewritten when anything else is found there.
        text = f"# Generated by skdeep ({label}); safe to delete.\n{source}"
        directory = cache_dir()
        filename = None
        if directory is not None:
            filename = os.path.join(directory, f"skdeep_block_{key}.py")
            if disk_cache.ensure_file(filename, text.encode()):
                disk_cache.register_source(filename, text)
            else:
                filename = None
        module = pytypes.ModuleType(f"skdeep_block_{key}")
        module.__dict__.update(namespace)
        if filename is not None:
            module.__file__ = filename
        code = compile(text, filename or f"<skdeep {label} block>", "exec")
        sys.modules.setdefault(module.__name__, module)
        exec(code, module.__dict__)
        block = CompiledBlock(
            compile_cached(module.block, signature, cache=filename is not None),
            signature,
        )
        _blocks[key] = block
        _blocks_by_identity[fast_key] = block
        return block


_compiled = {}


def signatures(dtype):
    """Return the Numba signatures of kernels and blocks for ``dtype``."""
    key = np.dtype(dtype).name
    if key not in _compiled:
        _compiled[key] = {"signatures": cpu_kernels.signatures(dtype)}
    return _compiled[key]["signatures"]


def kernel(name, dtype):
    """Return the core kernel ``name`` compiled for ``dtype``.

    Compiled on first use with an explicit signature, or loaded from Numba's
    on-disk cache.
    """
    sigs = signatures(dtype)
    table = _compiled[np.dtype(dtype).name]
    if name not in table:
        table[name] = compile_cached(getattr(cpu_kernels, name), sigs[name])
    return table[name]
