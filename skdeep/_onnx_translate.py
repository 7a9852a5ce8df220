"""Plugin scalar functions as ONNX nodes.

An activation plugin is one Python scalar function; skdeep compiles it for
the CPU and CUDA kernels, and this module turns the same function into an
elementwise ONNX graph by walking its syntax tree: each arithmetic
operation, comparison, branch and :mod:`math` call becomes the ONNX
operator that does the same to every element of a tensor. Branches
evaluate both sides and select with ``Where`` (the unselected side's
``inf``/``nan`` never reach the result). Numbers (literals, module
constants, hyperparameters) are folded in Python and enter the graph as
constants of the network's dtype.

Only :mod:`onnx` is needed here; the nodes are added through
:class:`OnnxGraph`, which wraps skl2onnx's scope and container.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import linecache
import math
from numbers import Number

import numpy as np

__all__ = ["OnnxGraph", "OnnxTranslationError", "activation_nodes"]


class OnnxTranslationError(ValueError):
    """A plugin function uses a construct that has no ONNX translation."""


class OnnxGraph:
    """The graph that activation functions are added to.

    A plugin's own ONNX builder (the ``onnx`` field of
    :class:`skdeep.plugin_types.ActivationPlugin`) receives one and calls
    :meth:`op` and :meth:`constant`.

    Parameters
    ----------
    scope, container : skl2onnx ``Scope`` and ``ModelComponentContainer``
        Where names are made unique and nodes and initializers go.
    dtype : numpy dtype
        float32 or float64: the element type of the network's tensors.
    """

    def __init__(self, scope, container, dtype):
        self._scope = scope
        self._container = container
        self.dtype = np.dtype(dtype)
        self._constants = {}

    @property
    def opset(self):
        """The target opset of the default ONNX domain."""
        return self._container.target_opset

    def initializer(self, array, seed="tensor"):
        """Add ``array`` as an initializer; returns its name.

        Numeric arrays keep their dtype; arrays of str become ONNX strings.
        """
        from onnx import TensorProto, numpy_helper

        name = self._scope.get_unique_variable_name(seed)
        array = np.asarray(array)
        if array.dtype.kind in "UO":
            values = [str(v).encode("utf-8") for v in array.ravel()]
            self._container.add_initializer(name, TensorProto.STRING,
                                            list(array.shape), values)
        else:
            tensor = numpy_helper.from_array(np.ascontiguousarray(array), name)
            self._container.add_initializer(name, tensor.data_type,
                                            list(array.shape), tensor)
        return name

    def constant(self, value, dtype=None):
        """A scalar constant, of the network's dtype unless ``dtype`` says
        otherwise; returns its name (one initializer per value)."""
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        array = np.asarray(value, dtype=dtype)
        key = (dtype.str, array.tobytes())
        if key not in self._constants:
            self._constants[key] = self.initializer(array, "c")
        return self._constants[key]

    def op(self, op_type, *inputs, domain="", **attributes):
        """Add a node with one output and return the output's name.

        Parameters
        ----------
        op_type : str
            ONNX operator, e.g. ``"Mul"``.
        *inputs : str or number
            Tensor names; numbers become constants of the network's dtype.
        domain : str, default=""
            Operator domain ("" is the default ONNX domain).
        **attributes
            Node attributes, e.g. ``to=`` for ``Cast``.
        """
        names = [self.constant(v) if isinstance(v, Number) else v for v in inputs]
        output = self._scope.get_unique_variable_name(op_type.lower())
        self._container.add_node(
            op_type, names, [output], op_domain=domain,
            name=self._scope.get_unique_operator_name(op_type), **attributes)
        return output


def activation_nodes(graph, record, hyperparameters, x, learned=None):
    """Nodes computing activation ``record`` elementwise over tensor ``x``.

    Parameters
    ----------
    graph : OnnxGraph
    record : ActivationPlugin
    hyperparameters : dict of str to float
        Resolved values, in the order the plugin's functions take them.
    x : str
        Name of the pre-activation tensor, shape (n_samples, n_units).
    learned : str, optional
        Name of the per-unit tensor of the learned hyperparameter
        (``record.learnable``), shape (n_units,).

    Returns
    -------
    str
        Name of the activation tensor.
    """
    args = [learned if name == record.learnable else value
            for name, value in hyperparameters.items()]
    builder = getattr(record, "onnx", None)
    owner = f"activation {record.name!r}"
    if builder is not None:
        result = builder(graph, x, *args)
        if not isinstance(result, str):
            raise OnnxTranslationError(
                f"The onnx builder of {owner} returned {result!r}; it must "
                "return the name of its output tensor (what graph.op returns)."
            )
        return result
    translator = _Translator(graph, owner)
    tensor_args = [_Tensor(a) if isinstance(a, str) else a for a in args]
    value = translator.function(record.value, [_Tensor(x), *tensor_args])
    if isinstance(value, _Tensor) and not value.boolean:
        return value.name
    if isinstance(value, _Tensor):
        return graph.op("Cast", value.name, to=_onnx_type(graph.dtype))
    # A constant function: broadcast it to the shape of x.
    return graph.op("Expand", graph.constant(float(value)), graph.op("Shape", x))


def _onnx_type(dtype):
    from onnx import TensorProto

    return TensorProto.DOUBLE if np.dtype(dtype) == np.float64 else TensorProto.FLOAT


class _Tensor:
    """A value known only at run time: a tensor name (real or boolean)."""

    __slots__ = ("name", "boolean")

    def __init__(self, name, boolean=False):
        self.name = name
        self.boolean = boolean


# math (and NumPy) functions by the operator that computes them.
_UNARY = {
    "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh", "erf": "Erf",
    "fabs": "Abs", "floor": "Floor", "ceil": "Ceil", "sin": "Sin",
    "cos": "Cos", "tan": "Tan", "asin": "Asin", "acos": "Acos",
    "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "asinh": "Asinh",
    "acosh": "Acosh", "atanh": "Atanh",
}
_COMPOSED = ("expm1", "log1p", "log2", "log10", "pow", "isnan", "isinf",
             "isfinite", "min", "max")
_FUNCTIONS = {getattr(math, name): name for name in (*_UNARY, *_COMPOSED)
              if hasattr(math, name)}
_FUNCTIONS.update({builtins.abs: "fabs", builtins.min: "min",
                   builtins.max: "max", builtins.pow: "pow",
                   builtins.float: "float"})
for _np_name, _name in {
    "exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh",
    "abs": "fabs", "absolute": "fabs", "fabs": "fabs", "floor": "floor",
    "ceil": "ceil", "sin": "sin", "cos": "cos", "tan": "tan",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh",
    "cosh": "cosh", "arcsinh": "asinh", "arccosh": "acosh",
    "arctanh": "atanh", "expm1": "expm1", "log1p": "log1p",
    "log2": "log2", "log10": "log10", "power": "pow", "isnan": "isnan",
    "isinf": "isinf", "isfinite": "isfinite", "minimum": "min",
    "maximum": "max",
}.items():
    _FUNCTIONS[getattr(np, _np_name)] = _name

SUPPORTED = (
    "arithmetic (+ - * / // % **), comparisons, and/or/not, if/else "
    "statements and conditional expressions, assignments, abs/min/max/"
    "float, calls of other plain Python functions, and the math functions "
    + ", ".join(sorted(n for n in {*_UNARY, *_COMPOSED} - {"min", "max"}))
)

_BINARY = {ast.Add: "Add", ast.Sub: "Sub", ast.Mult: "Mul", ast.Div: "Div"}
_COMPARE = {ast.Lt: "Less", ast.LtE: "LessOrEqual", ast.Gt: "Greater",
            ast.GtE: "GreaterOrEqual", ast.Eq: "Equal", ast.NotEq: "Equal"}
_FOLD = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
_MAX_DEPTH = 20  # nested helper calls; deeper means recursion


class _Translator:
    """Walks one plugin function (and the helpers it calls) into nodes."""

    def __init__(self, graph, owner, depth=0):
        self.graph = graph
        self.owner = owner
        self.depth = depth
        self._where = None  # (function name, file) for messages

    # -- errors --------------------------------------------------------------
    def fail(self, node, what):
        where = ""
        if self._where is not None:
            name, filename = self._where
            where = f" in {name} ({filename}, line {getattr(node, 'lineno', '?')})"
        code = ast.unparse(node) if isinstance(node, ast.AST) else ""
        if len(code) > 80:
            code = code[:77] + "..."
        raise OnnxTranslationError(
            f"Cannot export {self.owner} to ONNX: {what}{where}"
            + (f": `{code}`" if code else "") + f". Translatable: {SUPPORTED}."
            " Give the plugin record an onnx= builder to export it anyway."
        )

    # -- functions -----------------------------------------------------------
    def function(self, fn, args, keywords=None, node=None):
        """Translate a call of Python function ``fn`` with ``args``."""
        py = getattr(fn, "py_func", fn)  # a Numba dispatcher's function
        name = getattr(py, "__name__", repr(py))
        if self.depth > _MAX_DEPTH:
            self.fail(node, f"calls nest deeper than {_MAX_DEPTH} levels "
                            f"(recursion in {name}?)")
        if not inspect.isfunction(py):
            self.fail(node, f"{name} is not a Python function")
        definition = _definition(py)
        if definition is None:
            self.fail(node, f"the source of {name} is not available")
        inner = _Translator(self.graph, self.owner, self.depth + 1)
        inner._where = (name, inspect.getsourcefile(py) or "?")
        inner.namespace = inspect.getclosurevars(py)
        env = inner.bind(definition, py, args, keywords or {})
        if isinstance(definition, ast.Lambda):
            return inner.expr(definition.body, env)
        result = inner.block(definition.body, env)
        if result is None:
            inner.fail(definition, "a path through the function returns no value")
        return result

    def bind(self, definition, py, args, keywords):
        spec = definition.args
        if spec.vararg or spec.kwarg or spec.kwonlyargs or spec.posonlyargs:
            self.fail(definition, "*args, **kwargs and keyword-only or "
                                  "positional-only parameters are not supported")
        try:
            bound = inspect.signature(py).bind(*args, **keywords)
        except TypeError as exc:
            self.fail(definition, f"it is called with arguments it does not "
                                  f"accept ({exc})")
        bound.apply_defaults()
        env = dict(bound.arguments)
        for key, value in env.items():
            if not isinstance(value, (_Tensor, Number)):
                self.fail(definition, f"parameter {key!r} defaults to {value!r}, "
                                      "not a number")
        return env

    def lookup(self, node, name, env):
        if name in env:
            return env[name]
        ns = self.namespace
        for table in (ns.nonlocals, ns.globals, ns.builtins):
            if name in table:
                return table[name]
        self.fail(node, f"name {name!r} is not defined")

    # -- statements ----------------------------------------------------------
    def block(self, statements, env):
        """Run ``statements``: the value they return, or None when they
        end without returning (``env`` then holds the assignments)."""
        statements = list(statements)
        for i, stmt in enumerate(statements):
            if isinstance(stmt, ast.Return):
                if stmt.value is None:
                    self.fail(stmt, "`return` without a value")
                return self.expr(stmt.value, env)
            if isinstance(stmt, ast.If):
                condition = self.truth(stmt.test, self.expr(stmt.test, env))
                rest = statements[i + 1:]
                if isinstance(condition, bool):  # known at export time
                    return self.block((stmt.body if condition else stmt.orelse)
                                      + rest, env)
                if any(isinstance(n, ast.Return) for n in ast.walk(stmt)):
                    # Each side runs on to its own return; select between them.
                    chosen = self.block(stmt.body + rest, dict(env))
                    other = self.block(stmt.orelse + rest, dict(env))
                    if chosen is None or other is None:
                        return None
                    return self.where(condition, chosen, other)
                then_env, else_env = dict(env), dict(env)
                self.block(stmt.body, then_env)
                self.block(stmt.orelse, else_env)
                env.clear()
                for key in then_env.keys() & else_env.keys():
                    a, b = then_env[key], else_env[key]
                    env[key] = a if _same(a, b) else self.where(condition, a, b)
                continue
            if isinstance(stmt, ast.Assign):
                value = self.expr(stmt.value, env)
                for target in stmt.targets:
                    self.assign(target, value, stmt, env)
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                self.assign(stmt.target, self.expr(stmt.value, env), stmt, env)
            elif isinstance(stmt, ast.AugAssign):
                if not isinstance(stmt.target, ast.Name):
                    self.fail(stmt, "assignment to something other than a name")
                current = self.lookup(stmt, stmt.target.id, env)
                env[stmt.target.id] = self.binary(stmt, stmt.op, current,
                                                  self.expr(stmt.value, env))
            elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring
            elif isinstance(stmt, ast.Pass):
                continue
            else:
                self.fail(stmt, f"the statement {type(stmt).__name__} is not supported")
        return None

    def assign(self, target, value, stmt, env):
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif (isinstance(target, ast.Tuple) and isinstance(value, tuple)
              and len(target.elts) == len(value)):
            for element, item in zip(target.elts, value, strict=True):
                self.assign(element, item, stmt, env)
        else:
            self.fail(stmt, "assignment to something other than names")

    # -- expressions ---------------------------------------------------------
    def expr(self, node, env):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, Number):
                return node.value
            self.fail(node, f"the constant {node.value!r} is not a number")
        if isinstance(node, ast.Name):
            return self.lookup(node, node.id, env)
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value, env)
            if not inspect.ismodule(base):
                self.fail(node, "attribute access on something other than a module")
            return getattr(base, node.attr)
        if isinstance(node, ast.Tuple):
            return tuple(self.expr(e, env) for e in node.elts)
        if isinstance(node, ast.BinOp):
            return self.binary(node, node.op, self.expr(node.left, env),
                               self.expr(node.right, env))
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, self.expr(node.operand, env))
        if isinstance(node, ast.Compare):
            return self.compare(node, env)
        if isinstance(node, ast.BoolOp):
            return self.boolean(node, env)
        if isinstance(node, ast.IfExp):
            condition = self.truth(node.test, self.expr(node.test, env))
            if isinstance(condition, bool):
                return self.expr(node.body if condition else node.orelse, env)
            return self.where(condition, self.expr(node.body, env),
                              self.expr(node.orelse, env))
        if isinstance(node, ast.Call):
            return self.call(node, env)
        self.fail(node, f"the expression {type(node).__name__} is not supported")

    def value_check(self, node, value):
        if not isinstance(value, (_Tensor, Number)):
            self.fail(node, f"{getattr(value, '__name__', value)!r} is used as a number")
        return value

    def real(self, value):
        """Name of a tensor of the network's dtype holding ``value``."""
        if isinstance(value, _Tensor):
            if value.boolean:
                return self.graph.op("Cast", value.name,
                                     to=_onnx_type(self.graph.dtype))
            return value.name
        return self.graph.constant(float(value))

    def truth(self, node, value):
        """A condition: a Python bool, or a boolean tensor."""
        self.value_check(node, value)
        if isinstance(value, _Tensor):
            if value.boolean:
                return value
            zero = self.graph.constant(0.0)
            return _Tensor(self.graph.op("Not", self.graph.op("Equal", value.name, zero)),
                           boolean=True)
        return bool(value)

    def binary(self, node, op, a, b):
        self.value_check(node, a)
        self.value_check(node, b)
        if not isinstance(a, _Tensor) and not isinstance(b, _Tensor):
            try:
                return _FOLD[type(op)](a, b)
            except (KeyError, ArithmeticError) as exc:
                self.fail(node, f"the constant expression fails ({exc!r})")
        g = self.graph
        if type(op) in _BINARY:
            return _Tensor(g.op(_BINARY[type(op)], self.real(a), self.real(b)))
        if isinstance(op, ast.Pow):
            if not isinstance(b, _Tensor) and b == 2:
                x = self.real(a)
                return _Tensor(g.op("Mul", x, x))
            if not isinstance(b, _Tensor) and b == 1:
                return _Tensor(self.real(a))
            return _Tensor(g.op("Pow", self.real(a), self.real(b)))
        if isinstance(op, (ast.FloorDiv, ast.Mod)):
            x, y = self.real(a), self.real(b)
            quotient = g.op("Floor", g.op("Div", x, y))
            if isinstance(op, ast.FloorDiv):
                return _Tensor(quotient)
            return _Tensor(g.op("Sub", x, g.op("Mul", quotient, y)))
        self.fail(node, f"the operator {type(op).__name__} is not supported")

    def unary(self, node, value):
        self.value_check(node, value)
        if isinstance(node.op, ast.Not):
            condition = self.truth(node, value)
            if isinstance(condition, bool):
                return not condition
            return _Tensor(self.graph.op("Not", condition.name), boolean=True)
        if not isinstance(value, _Tensor):
            return -value if isinstance(node.op, ast.USub) else +value
        if isinstance(node.op, ast.USub):
            return _Tensor(self.graph.op("Neg", self.real(value)))
        if isinstance(node.op, ast.UAdd):
            return value
        self.fail(node, f"the operator {type(node.op).__name__} is not supported")

    def compare(self, node, env):
        left = self.value_check(node, self.expr(node.left, env))
        result = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.value_check(node, self.expr(right_node, env))
            if type(op) not in _COMPARE:
                self.fail(node, f"the comparison {type(op).__name__} is not supported")
            if isinstance(left, _Tensor) or isinstance(right, _Tensor):
                g = self.graph
                name = g.op(_COMPARE[type(op)], self.real(left), self.real(right))
                if isinstance(op, ast.NotEq):
                    name = g.op("Not", name)
                outcome = _Tensor(name, boolean=True)
            else:
                outcome = _FOLD[type(op)](left, right)
            result = self.conjunction(result, outcome, "And")
            left = right
        return result

    def conjunction(self, a, b, op):
        if isinstance(a, bool) and isinstance(b, bool):
            return (a and b) if op == "And" else (a or b)
        if isinstance(a, bool) or isinstance(b, bool):
            known, other = (a, b) if isinstance(a, bool) else (b, a)
            if op == "And":
                return other if known else False
            return True if known else other
        return _Tensor(self.graph.op(op, a.name, b.name), boolean=True)

    def boolean(self, node, env):
        op = "And" if isinstance(node.op, ast.And) else "Or"
        result = None
        for operand in node.values:
            value = self.expr(operand, env)
            if not isinstance(value, bool) and not (
                    isinstance(value, _Tensor) and value.boolean):
                self.fail(node, f"`{op.lower()}` between numbers (Python returns one "
                                "of the numbers); compare them first")
            result = value if result is None else self.conjunction(result, value, op)
        return result

    def where(self, condition, a, b):
        if _same(a, b):
            return a
        if isinstance(a, tuple) or isinstance(b, tuple):
            raise OnnxTranslationError(
                f"Cannot export {self.owner} to ONNX: a branch selects between "
                "tuples.")
        if (isinstance(a, _Tensor) and a.boolean and isinstance(b, _Tensor)
                and b.boolean):
            return _Tensor(self.graph.op("Where", condition.name, a.name, b.name),
                           boolean=True)
        return _Tensor(self.graph.op("Where", condition.name, self.real(a),
                                     self.real(b)))

    # -- calls ---------------------------------------------------------------
    def call(self, node, env):
        function = self.expr(node.func, env)
        args = [self.expr(a, env) for a in node.args]
        if any(isinstance(a, ast.Starred) for a in node.args):
            self.fail(node, "*args in a call is not supported")
        keywords = {k.arg: self.expr(k.value, env) for k in node.keywords}
        try:
            name = _FUNCTIONS.get(function)
        except TypeError:  # unhashable
            name = None
        if name is not None:
            if keywords:
                self.fail(node, f"keyword arguments to {name} are not supported")
            for a in args:
                self.value_check(node, a)
            return self.builtin(node, name, args)
        if inspect.isfunction(getattr(function, "py_func", function)):
            return self.function(function, args, keywords, node)
        self.fail(node, f"calling {getattr(function, '__name__', function)!r} "
                        "is not supported")

    def builtin(self, node, name, args):
        g = self.graph
        arity = {"min": None, "max": None, "pow": 2, "log": (1, 2)}.get(name, 1)
        if arity is None:
            if len(args) < 2:
                self.fail(node, f"{name} needs at least two numbers")
        elif len(args) not in ((arity,) if isinstance(arity, int) else arity):
            self.fail(node, f"{name} takes {arity} argument(s), got {len(args)}")
        if not any(isinstance(a, _Tensor) for a in args):
            folded = {"fabs": abs, "min": min, "max": max, "float": float,
                      "pow": math.pow}.get(name) or getattr(math, name)
            try:
                return folded(*args)
            except (ValueError, ArithmeticError) as exc:
                self.fail(node, f"the constant expression fails ({exc!r})")
        if name == "float":
            return _Tensor(self.real(args[0]))
        if name in ("min", "max"):
            return _Tensor(g.op(name.capitalize(), *[self.real(a) for a in args]))
        if name == "pow":
            return self.binary(node, ast.Pow(), *args)
        x = self.real(args[0])
        if name == "log" and len(args) == 2:
            return _Tensor(g.op("Div", g.op("Log", x),
                                g.op("Log", self.real(args[1]))))
        if name == "erf" and g.dtype == np.float64:
            return _Tensor(erf_float64(g, x))
        if name in _UNARY:
            return _Tensor(g.op(_UNARY[name], x))
        if name == "expm1":
            return _Tensor(expm1(g, x))
        if name == "log1p":
            return _Tensor(log1p(g, x))
        if name in ("log2", "log10"):
            return _Tensor(g.op("Mul", g.op("Log", x),
                                1.0 / math.log(2.0 if name == "log2" else 10.0)))
        if name in ("isnan", "isinf"):
            return _Tensor(g.op("IsNaN" if name == "isnan" else "IsInf", x),
                           boolean=True)
        if name == "isfinite":
            bad = g.op("Or", g.op("IsNaN", x), g.op("IsInf", x))
            return _Tensor(g.op("Not", bad), boolean=True)
        self.fail(node, f"{name} is not supported")  # pragma: no cover


@functools.lru_cache(maxsize=64)
def _parse(source):
    return ast.parse(source)


def _definition(py):
    """The ``def`` or ``lambda`` node of function ``py``, found in its whole
    source file (a lambda's own lines may not parse alone, and one line may
    hold several lambdas), or None."""
    try:
        filename = inspect.getsourcefile(py) or inspect.getfile(py)
        tree = _parse("".join(linecache.getlines(filename, py.__globals__)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return None
    code = py.__code__
    if py.__name__ == "<lambda>":
        # The lambda whose body spans every instruction of its code.
        spans = [((l1, c1), (l2, c2)) for l1, l2, c1, c2 in code.co_positions()
                 if None not in (l1, l2, c1, c2) and (l1, c1) != (l2, c2)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda) and spans and all(
                    (node.body.lineno, node.body.col_offset) <= start
                    and end <= (node.body.end_lineno, node.body.end_col_offset)
                    for start, end in spans):
                return node
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == py.__name__:
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if first == code.co_firstlineno:
                return node
    return None


def _same(a, b):
    if isinstance(a, _Tensor) and isinstance(b, _Tensor):
        return a.name == b.name and a.boolean == b.boolean
    if isinstance(a, _Tensor) or isinstance(b, _Tensor):
        return False
    return type(a) is type(b) and a == b


# -- functions without an exact operator ---------------------------------------
def expm1(g, x):
    """exp(x) - 1 without cancellation near 0 (Kahan: (u - 1) * x / log(u)
    with u = exp(x) is exact to a few ulps where u - 1 is not 0 or -1)."""
    u = g.op("Exp", x)
    um1 = g.op("Sub", u, 1.0)
    ratio = g.op("Div", g.op("Mul", um1, x), g.op("Log", u))
    ratio = g.op("Where", g.op("IsInf", u), u, ratio)
    ratio = g.op("Where", g.op("Equal", um1, -1.0), um1, ratio)
    return g.op("Where", g.op("Equal", um1, 0.0), x, ratio)


def log1p(g, x):
    """log(1 + x) without cancellation near 0 (Kahan: log(u) * x / (u - 1)
    with u = 1 + x)."""
    u = g.op("Add", x, 1.0)
    um1 = g.op("Sub", u, 1.0)
    log_u = g.op("Log", u)
    ratio = g.op("Div", g.op("Mul", log_u, x), um1)
    ratio = g.op("Where", g.op("IsInf", u), log_u, ratio)
    return g.op("Where", g.op("Equal", um1, 0.0), x, ratio)


# erf in float64 from exp and arithmetic: onnxruntime's Erf has no float64
# kernel. Below _ERF_SPLIT the series erf(a) = 2/sqrt(pi) exp(-a^2)
# sum 2^k a^(2k+1) / (1*3*...*(2k+1)) (positive terms, no cancellation);
# above, the continued fraction of erfc. 40 terms and depth 25 are within
# 6e-16 of math.erf on a 4001-point grid of [0, 7].
_ERF_SPLIT = 2.5
_ERF_TERMS = 40
_ERFC_DEPTH = 25


def erf_float64(g, x):
    """erf(x) for float64 tensors, accurate to a few ulps."""
    a = g.op("Abs", x)
    small = g.op("Min", a, _ERF_SPLIT)
    y = g.op("Mul", g.op("Mul", small, small), 2.0)
    t = g.constant(1.0)
    for k in range(_ERF_TERMS, 0, -1):
        t = g.op("Add", g.op("Mul", g.op("Mul", t, y), 1.0 / (2 * k + 1)), 1.0)
    gauss = g.op("Exp", g.op("Neg", g.op("Mul", small, small)))
    series = g.op("Mul", g.op("Mul", g.op("Mul", small, t), gauss),
                  2.0 / math.sqrt(math.pi))
    large = g.op("Max", a, _ERF_SPLIT)
    fraction = large
    for k in range(_ERFC_DEPTH, 0, -1):
        fraction = g.op("Add", large, g.op("Div", g.constant(k / 2.0), fraction))
    tail = g.op("Div", g.op("Exp", g.op("Neg", g.op("Mul", large, large))),
                g.op("Mul", fraction, math.sqrt(math.pi)))
    magnitude = g.op("Where", g.op("Less", a, _ERF_SPLIT), series,
                     g.op("Sub", 1.0, tail))
    return g.op("Where", g.op("Less", x, 0.0), g.op("Neg", magnitude), magnitude)
