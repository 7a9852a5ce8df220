"""Prove that a plugin's scalar functions compile, and say why not.

A plugin function Numba cannot type used to surface at the first ``fit`` as
Numba's raw error about a generated block, naming neither the plugin nor a
fix. :func:`check_record` compiles each scalar function of a record alone,
for its declared arguments, and turns a failure into a
:class:`PluginCompileError` of a few lines: the plugin, the function, the
construct Numba refused, and the fix. ``register_plugin`` runs it at once;
entry-point plugins are checked only when a fit fails to compile
(:func:`plugin_compile_errors`), so loading them costs nothing.
"""

from __future__ import annotations

import contextlib
import re

ALLOWED = (
    "Plugin functions are compiled by Numba: they may use float arithmetic, "
    "comparisons, if/else, loops, the math module, and helper functions "
    "decorated with @numba.extending.register_jitable (see docs/plugins.md)."
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_GLOBAL = re.compile(r"(?:Untyped global name|NameError: name) '(\w+)'")


class PluginCompileError(ValueError):
    """A plugin's function cannot be compiled for skdeep's kernels."""


PluginCompileError.__module__ = "skdeep"  # public as skdeep.PluginCompileError


def _functions(kind, record):
    """``[(field, function, n_arguments)]`` of the compiled functions."""
    n_hp = len(record.hyperparameters)
    if kind == "activation":
        fields = [("value", 1), ("derivative", 2), ("parameter_derivative", 2)]
    elif kind == "optimizer":
        fields = [("update", 4 + record.n_state)]
    elif kind == "regularizer":
        fields = [("penalty", 1), ("gradient", 1)]
    elif kind == "loss":
        fields = [("loss", 2), ("gradient", 2), ("link_gradient", 2)]
    else:  # initializers run in NumPy
        fields = []
    return [(name, getattr(record, name), n + n_hp) for name, n in fields
            if getattr(record, name, None) is not None]


def _construct(message):
    """The first line of Numba's message that says what it refused, and
    where: ``(what, "file.py, line 3: source")``."""
    lines = [line.strip() for line in _ANSI.sub("", message).splitlines()]
    what = next((line for line in lines if line and not line.startswith(
        ("Failed in", "During:", "File "))), lines[0] if lines else "")
    where = ""
    for i, line in enumerate(lines):
        match = re.match(r'File "(.+)", line (\d+)', line)
        if match:
            source = next((s for s in lines[i + 1:] if s and s != "^"), "")
            # Numba shows the lines before the culprit too; the last one
            # before the caret is it.
            block = lines[i + 1:]
            if "^" in block:
                source = block[block.index("^") - 1]
            where = f"{match.group(1)}, line {match.group(2)}: {source}"
            break
    return what.rstrip(":"), where


def check_entries(entries):
    """:func:`check_record` for registry entries (one plugin's records)."""
    for entry in entries:
        check_record(entry.kind, entry.record, entry.source.split(":")[0])


def check_record(kind, record, plugin_name, dtypes=("float64",)):
    """Compile every scalar function of ``record`` for ``dtypes``.

    Raises
    ------
    PluginCompileError
        Naming the plugin, the function, the construct and the fix.
    """
    import numba
    import numpy as np
    from numba.core.errors import NumbaError

    from ._kernels.codegen import with_literals_as

    for field, fn, n_args in _functions(kind, record):
        if isinstance(fn, numba.core.dispatcher.Dispatcher):
            fn = fn.py_func
        for dtype in dtypes:
            scalar = getattr(numba, dtype)
            source = fn if dtype == "float64" else with_literals_as(fn, np.float32)
            try:
                dispatcher = numba.njit(source)
                dispatcher.compile((scalar,) * n_args)
            except NumbaError as exc:
                raise PluginCompileError(
                    _message(kind, record, plugin_name, field, fn, dtype, str(exc))
                ) from None
            returned = dispatcher.nopython_signatures[-1].return_type
            _check_returned(kind, record, plugin_name, field, fn, returned)


def _describe(kind, record, plugin_name, field, fn):
    name = getattr(fn, "__name__", field)
    return (f"skdeep cannot compile the {kind} {record.name!r} (plugin "
            f"{plugin_name!r}): its {field} function {name}()")


def _message(kind, record, plugin_name, field, fn, dtype, numba_message):
    what, where = _construct(numba_message)
    head = _describe(kind, record, plugin_name, field, fn)
    lines = [f"{head} fails to compile for {dtype} arguments: {what}."]
    if where:
        lines.append(f"  at {where}")
    helper = _GLOBAL.search(_ANSI.sub("", numba_message))
    if helper:
        lines.append(
            f"Fix: compiled code cannot call the Python function "
            f"{helper.group(1)!r}; decorate it with "
            "@numba.extending.register_jitable (it then runs compiled and in "
            f"Python alike), or write it into {fn.__name__}.")
    else:
        lines.append("Fix: rewrite that construct.")
    return "\n".join([*lines, ALLOWED])


def _check_returned(kind, record, plugin_name, field, fn, returned):
    from numba import types

    expected = 1 + record.n_state if kind == "optimizer" else None
    if expected is None:
        ok = isinstance(returned, (types.Float, types.Integer, types.Boolean))
        wanted = "one number"
    else:
        items = getattr(returned, "types", None)
        ok = (items is not None and len(items) == expected
              and all(isinstance(t, (types.Float, types.Integer)) for t in items))
        wanted = (f"a tuple of {expected} numbers (the new parameter and "
                  f"{record.n_state} state values)")
    if not ok:
        raise PluginCompileError(
            f"{_describe(kind, record, plugin_name, field, fn)} returns "
            f"{returned}; it must return {wanted}."
        )


@contextlib.contextmanager
def plugin_compile_errors(plan):
    """Turn a Numba error while compiling ``plan``'s plugins into the
    :class:`PluginCompileError` of the plugin that causes it."""
    try:
        yield
    except Exception as exc:
        if not type(exc).__module__.startswith("numba"):
            raise
        from ._registry import get_registry

        tables = get_registry().tables()
        used = [("activation", record) for record, _ in plan.activations]
        used += [("optimizer", plan.optimizer[0]), ("loss", plan.loss[0]),
                 ("regularizer", plan.regularizer[0])]
        for kind, record in used:
            entry = tables[kind].get(record.name)
            source = entry.source.split(":")[0] if entry is not None else "?"
            check_record(kind, record, source, dtypes=("float64", "float32"))
        raise
