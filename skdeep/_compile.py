"""Turns plugin scalar math into compiled block functions.

Every Numba decorator default lives here. The core kernels in
``skdeep._kernels.cpu`` are compiled once per dtype with explicit signatures
and ``cache=True``; the plugin-dependent parts reach them as first-class
function arguments of a fixed type ("blocks": a loop over a whole layer or
parameter vector that inlines the plugin's scalar function). Passing plugins
as arguments keeps the big kernels cacheable on disk.

Blocks are generated as Python source. When the cache directory is writable
the source is written to a file whose name hashes the plugin's code, so
Numba's on-disk cache serves the compiled block in later processes and never
serves a block compiled from an older version of the plugin.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import marshal
import os
import sys
import tempfile
import textwrap
import threading
import types as pytypes

# Bump when a template or the literal rewriting changes, so stale cached
# blocks are not reused.
_TEMPLATE_VERSION = "5"

_lock = threading.RLock()
_blocks = {}
_blocks_by_identity = {}
_scalar_jits = {}

CACHE_ENV = "SKDEEP_CACHE_DIR"


def jit_options(cache=True):
    """Return the Numba options used for every CPU kernel."""
    return {"nogil": True, "cache": cache, "error_model": "numpy"}


def compile_cached(py_func, signature, cache=True):
    """``numba.njit(signature, cache=cache, ...)(py_func)``, loading faster.

    Before it reads a cached function, Numba sets up its whole compilation
    target (imports and registers every implementation it has: 0.3-0.5 s on
    the development machine) although loading machine code needs none of
    it. A cache hit here initializes only the runtime; a miss compiles as
    usual (the compiler does the full set-up). Where Numba's cache
    internals differ from what this expects, it is plain ``njit``.
    """
    import numba

    dispatcher = numba.njit(**jit_options(cache=cache))(py_func)
    cache_impl = getattr(dispatcher, "_cache", None)
    if cache and all(hasattr(cache_impl, name) for name in (
            "_load_overload", "_guard_against_spurious_io_errors")):
        try:
            # Unboxing first-class function arguments calls into this module.
            import numba.experimental.function_type  # noqa: F401
            from numba.core.runtime import rtsys
        except ImportError:
            rtsys = None
        if rtsys is not None:
            def load_overload(sig, target_context):
                rtsys.initialize(target_context)
                with cache_impl._guard_against_spurious_io_errors():
                    return cache_impl._load_overload(sig, target_context)

            cache_impl.load_overload = load_overload
            try:
                dispatcher.compile(signature)
            finally:
                del cache_impl.load_overload
    dispatcher.compile(signature)  # a no-op once loaded
    dispatcher.disable_compile()
    return dispatcher


def cache_dir():
    """Return a writable directory for generated block sources, or None.

    ``SKDEEP_CACHE_DIR`` wins; otherwise ``NUMBA_CACHE_DIR/skdeep``, then the
    user cache directory, then the temporary directory.
    """
    candidates = []
    if os.environ.get(CACHE_ENV):
        candidates.append(os.environ[CACHE_ENV])
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.append(os.path.join(os.environ["NUMBA_CACHE_DIR"], "skdeep"))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    candidates.append(os.path.join(xdg, "skdeep"))
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates.append(os.path.join(tempfile.gettempdir(), f"skdeep-cache-{uid}"))
    for path in candidates:
        try:
            os.makedirs(path, exist_ok=True)
            if os.access(path, os.W_OK | os.X_OK):
                return path
        except OSError:
            continue
    return None


def _function_fingerprint(fn, _seen=None):
    """A stable digest of what a scalar function computes."""
    seen = set() if _seen is None else _seen
    seen.add(fn)
    h = hashlib.sha256()
    h.update(f"{fn.__module__}:{fn.__qualname__}".encode())
    try:
        h.update(inspect.getsource(fn).encode())
    except (OSError, TypeError):
        h.update(marshal.dumps(fn.__code__))
    # Numeric module constants and closure values are compiled in as
    # constants, so they are part of the identity too.
    for name in fn.__code__.co_names:
        value = fn.__globals__.get(name)
        if isinstance(value, (int, float, complex, str, bytes)):
            h.update(f"{name}={value!r}".encode())
        elif isinstance(value, pytypes.FunctionType) and value not in seen:
            h.update(_function_fingerprint(value, seen).encode())
    for cell in fn.__closure__ or ():
        h.update(repr(cell.cell_contents).encode())
    return h.hexdigest()


def scalar_jit(fn, dtype=None):
    """Compile a plugin's scalar function for the CPU (memoized).

    For float32 the function's Python number literals (and the plain float
    constants of its module) are compiled as float32, as NumPy treats Python
    scalars next to float32 arrays (NEP 50): otherwise Numba would type
    ``1.0 - x`` as float64 and run float32 math at float64 speed. In
    float32 and float64 its ``math`` functions that have vectorizable
    versions (``skdeep._kernels.cpu.mlp.VECTOR_MATH``) become those: the C
    library's are a call per value that keeps the whole loop scalar.
    """
    import numba
    import numpy as np

    single = dtype is not None and np.dtype(dtype) == np.float32
    double = dtype is not None and np.dtype(dtype) == np.float64
    with _lock:
        jitted = _scalar_jits.get((fn, single, double))
        if jitted is None:
            if isinstance(fn, numba.core.dispatcher.Dispatcher):
                jitted = fn
            else:
                source_fn = (_with_literals_as(fn, np.float32, vector_math=True)
                             if single else _with_literals_as(fn, None, vector_math=True)
                             if double else fn)
                jitted = numba.njit(inline="always", error_model="numpy")(source_fn)
            _scalar_jits[(fn, single, double)] = jitted
        return jitted


# Binary operators whose integer literal operands adopt the float type.
_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod)


class _LiteralTyper(ast.NodeTransformer):
    """Replaces number literals in float positions by typed global names."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.constants = {}

    def typed(self, node):
        """A name bound to ``node``'s value in ``dtype``, or ``node`` itself."""
        if not isinstance(node, ast.Constant) or type(node.value) not in (int, float):
            return node
        value = _as_dtype(node.value, self.dtype)
        if value is None:
            return node
        name = f"_skdeep_literal_{len(self.constants)}"
        self.constants[name] = value
        return ast.copy_location(ast.Name(name, ast.Load()), node)

    def visit_Constant(self, node):
        # A float literal is float data wherever it appears; an int literal
        # only where the positions below say so (it may be an index).
        return self.typed(node) if type(node.value) is float else node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, _ARITHMETIC) and not (
            isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant)
        ):
            node.left, node.right = self.typed(node.left), self.typed(node.right)
        elif isinstance(node.op, ast.Pow):
            node.left = self.typed(node.left)
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        node.body, node.orelse = self.typed(node.body), self.typed(node.orelse)
        return node

    def visit_Return(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.Tuple):
            node.value.elts = [self.typed(e) for e in node.value.elts]
        elif node.value is not None:
            node.value = self.typed(node.value)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in ("min", "max", "abs"):
            node.args = [self.typed(a) for a in node.args]
        return node


def _as_dtype(value, dtype):
    """``value`` as a ``dtype`` scalar, or None where that would lose range."""
    import numpy as np

    with np.errstate(over="ignore", under="ignore"):
        typed = dtype(value)
    if value == 0 or (np.isfinite(typed) and abs(typed) >= np.finfo(dtype).tiny):
        return typed
    return None


def _with_literals_as(fn, dtype, vector_math=False):
    """A copy of ``fn`` whose number literals are ``dtype`` constants.

    The literals stay as they are where ``fn``'s source is not available
    (built in a REPL, a lambda) or it is a closure, or ``dtype`` is None.
    With ``vector_math``, the ``math`` functions in
    ``skdeep._kernels.cpu.mlp.VECTOR_MATH`` (however ``fn`` reaches them)
    become their vectorizable versions.
    """
    if not isinstance(fn, pytypes.FunctionType):
        return fn
    code, constants = (_code_with_typed_literals(fn, dtype) if dtype is not None
                       else (fn.__code__, {}))
    namespace = dict(fn.__globals__)
    if code is not fn.__code__:
        # Numba freezes globals at compile time: a snapshot is what it would see.
        for name in code.co_names:
            value = namespace.get(name)
            if type(value) is float and _as_dtype(value, dtype) is not None:
                namespace[name] = _as_dtype(value, dtype)
        namespace.update(constants)
    replaced = _use_vector_math(namespace, code.co_names) if vector_math else False
    if code is fn.__code__ and not replaced:
        return fn
    typed = pytypes.FunctionType(code, namespace, fn.__name__, fn.__defaults__,
                                 fn.__closure__ if code is fn.__code__ else None)
    typed.__kwdefaults__ = fn.__kwdefaults__
    typed.__qualname__ = fn.__qualname__
    typed.__module__ = fn.__module__
    return typed


def _code_with_typed_literals(fn, dtype):
    """``fn``'s code rewritten by :class:`_LiteralTyper` and the constants it
    names, or ``fn.__code__`` and ``{}`` where that is not possible."""
    unchanged = fn.__code__, {}
    if fn.__closure__:
        return unchanged
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return unchanged
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return unchanged
    definition = tree.body[0]
    definition.decorator_list = []
    typer = _LiteralTyper(dtype)
    definition.body = [typer.visit(statement) for statement in definition.body]
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    module_code = compile(tree, fn.__code__.co_filename, "exec")
    code = next((c for c in module_code.co_consts
                 if isinstance(c, pytypes.CodeType) and c.co_name == fn.__name__), None)
    if code is None or code.co_freevars:
        return unchanged
    return code, typer.constants


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

    from ._kernels.cpu import mlp

    vectors = mlp.VECTOR_MATH
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
        from ._kernels.cpu import mlp

        with open(mlp.__file__, "rb") as fh:
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
    import numpy as np

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
        digest.update(_function_fingerprint(functions[name]).encode())
    key = f"{label}_{digest.hexdigest()[:20]}"
    with _lock:
        block = _blocks.get(key)
        if block is not None:
            _blocks_by_identity[fast_key] = block
            return block
        namespace = {"np": np}
        namespace.update({k: scalar_jit(f, dtype) for k, f in functions.items()})
        directory = cache_dir()
        filename = None
        if directory is not None:
            filename = os.path.join(directory, f"skdeep_block_{key}.py")
            if not os.path.exists(filename):
                tmp = f"{filename}.{os.getpid()}.{threading.get_ident()}.tmp"
                try:
                    with open(tmp, "w") as fh:
                        fh.write(f"# Generated by skdeep ({label}); safe to delete.\n")
                        fh.write(source)
                    os.replace(tmp, filename)
                except OSError:
                    filename = None
        module = pytypes.ModuleType(f"skdeep_block_{key}")
        module.__dict__.update(namespace)
        if filename is not None:
            module.__file__ = filename
            with open(filename) as fh:
                code = compile(fh.read(), filename, "exec")
        else:
            code = compile(source, f"<skdeep {label} block>", "exec")
        sys.modules.setdefault(module.__name__, module)
        exec(code, module.__dict__)
        block = CompiledBlock(
            compile_cached(module.block, signature, cache=filename is not None),
            signature,
        )
        _blocks[key] = block
        _blocks_by_identity[fast_key] = block
        return block
