"""Device-neutral code generation shared by the CPU and CUDA backends.

- float32 literal rewriting: a copy of a plugin's scalar function whose
  number literals are float32, so Numba compiles float32 math (both
  backends compile plugin functions through :func:`with_literals_as`);
- :func:`function_fingerprint`: what a plugin function computes, for cache
  keys;
- the per-layer dispatch that both backends' generated activation code
  shares (:func:`activation_groups`, :func:`hp_lines`).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import marshal
import textwrap
import types as pytypes

from .layout import OUT_EXP, OUT_IDENTITY, OUT_LOGISTIC, OUT_SOFTMAX


def function_fingerprint(fn, _seen=None):
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
            h.update(function_fingerprint(value, seen).encode())
    for cell in fn.__closure__ or ():
        h.update(repr(cell.cell_contents).encode())
    return h.hexdigest()


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


def with_literals_as(fn, dtype, rewrite_namespace=None):
    """A copy of ``fn`` whose number literals are ``dtype`` constants.

    The literals stay as they are where ``fn``'s source is not available
    (built in a REPL, a lambda) or it is a closure, or ``dtype`` is None.
    ``rewrite_namespace(namespace, names)``, when given, may replace globals
    of the copy (the CPU points ``math`` functions at vectorizable versions)
    and returns whether it changed anything.
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
    replaced = (rewrite_namespace(namespace, code.co_names)
                if rewrite_namespace is not None else False)
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


def hp_lines(n_hp, element, indent, cast):
    """Source binding ``h0 .. h{n_hp - 1}`` to a plugin's hyperparameters.

    ``element`` is a template of the ``k``-th value's expression (for
    example ``"hp[{k}]"``); ``cast`` the float constructor of the target
    (``np.float32``, ``dt``).
    """
    return "".join(
        f"{indent}h{k} = {cast}({element.format(k=k)})\n" for k in range(n_hp)
    )


def activation_groups(plugins):
    """The distinct activations of per-layer ``plugins``, with their dispatch.

    Generated activation code serves every hidden layer: it branches on
    the layer index to the code of that layer's plugin.

    Returns
    -------
    list of (int, ActivationPlugin, str)
        Per distinct plugin: its number ``k`` (its functions are named
        ``value{k}``, ``deriv{k}``, ``pderiv{k}``), the plugin, and the
        ``if`` line selecting its layers (indented by 4 spaces).
    """
    distinct = []
    for plugin in plugins:
        if plugin not in distinct:
            distinct.append(plugin)
    groups = []
    for k, plugin in enumerate(distinct):
        layers = [i for i, p in enumerate(plugins) if p == plugin]
        cond = " or ".join(f"layer == {i}" for i in layers)
        head = f"    if {cond}:\n" if len(distinct) > 1 else "    if True:\n"
        groups.append((k, plugin, head))
    return groups


def activation_functions(groups):
    """The scalar functions generated activation code calls, by name."""
    functions = {}
    for k, plugin, _ in groups:
        functions[f"value{k}"] = plugin.value
        functions[f"deriv{k}"] = plugin.derivative
        if plugin.learnable is not None:
            functions[f"pderiv{k}"] = plugin.parameter_derivative
    return functions


def activation_arguments(plugin, learned):
    """The hyperparameter arguments of a call to an activation's functions.

    ``h{q}`` for each hyperparameter, except the learnable one, which is
    the expression ``learned`` (the unit's learned value).
    """
    return "".join(
        f", {learned}" if name == plugin.learnable else f", h{q}"
        for q, name in enumerate(plugin.hyperparameters)
    )


def loss_functions(plugin):
    """The scalar functions a loss block calls, by their names in its source."""
    functions = {"loss_fn": plugin.loss, "grad_fn": plugin.gradient}
    if plugin.link_gradient is not None:
        functions["link_fn"] = plugin.link_gradient
    return functions


def loss_row_source(plugin, out_kind, clip, p_at, y_at):
    """Source of the per-row math of a loss block, for the CPU and CUDA blocks.

    Inside the caller's loop over rows (after ``row = 0.0``), it opens the
    loop over outputs ``j`` and sets ``p``, ``y``, adds the loss to ``row``
    and leaves in ``g`` the gradient of the loss with respect to the output
    pre-activation: the plugin's ``link_gradient`` where it has one, else the
    chain rule through the output activation. The caller appends the rest
    of the loop body (indented by 12 spaces).

    Parameters
    ----------
    plugin : LossPlugin
    out_kind : int
        Output activation (``OUT_*`` of :mod:`skdeep._kernels.layout`).
    clip : str
        Expression clipping ``p`` away from 0 and 1 (classification losses
        take logs), in the target's casting syntax.
    p_at, y_at : str
        Expressions of the prediction and the target at output ``j``.
    """
    a = "".join(f", h{q}" for q in range(len(plugin.hyperparameters)))
    link = plugin.link_gradient is not None
    lines = []
    if out_kind == OUT_SOFTMAX and not link:
        lines.append("        dot = 0.0\n"
                     "        for j in range(k):\n"
                     f"            p = {p_at}\n"
                     f"            dot += grad_fn({clip}, {y_at}{a}) * p\n")
    lines.append("        for j in range(k):\n"
                 f"            p = {p_at}\n"
                 f"            y = {y_at}\n")
    if out_kind in (OUT_LOGISTIC, OUT_SOFTMAX):
        lines.append(f"            pc = {clip}\n")
        lines.append(f"            row += loss_fn(pc, y{a})\n")
        if out_kind == OUT_LOGISTIC:
            lines.append(f"            row += loss_fn(one - pc, one - y{a})\n")
    else:
        lines.append(f"            row += loss_fn(p, y{a})\n")
    if link:
        lines.append(f"            g = link_fn(p, y{a})\n")
    elif out_kind == OUT_SOFTMAX:
        lines.append(f"            g = p * (grad_fn(pc, y{a}) - dot)\n")
    elif out_kind == OUT_LOGISTIC:
        lines.append(f"            g = (grad_fn(pc, y{a}) - grad_fn(one - pc, one - y{a}))"
                     " * p * (one - p)\n")
    elif out_kind == OUT_EXP:
        lines.append(f"            g = grad_fn(p, y{a}) * p\n")
    else:
        assert out_kind == OUT_IDENTITY
        lines.append(f"            g = grad_fn(p, y{a})\n")
    return "".join(lines)
