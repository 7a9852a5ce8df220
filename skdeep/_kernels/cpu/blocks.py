"""Generated block functions: plugin scalar math looped over arrays.

A block inlines one plugin's scalar function in a loop over a whole layer or
parameter vector; the core kernels call it through a first-class function
argument, once per layer per batch.
"""

import numpy as np

from ..._compile import build_block
from .mlp import signatures


def _cast(dtype):
    return "np.float32" if np.dtype(dtype) == np.float32 else "np.float64"


def _hp_lines(n_hp, source, indent, cast):
    return "".join(
        f"{indent}h{k} = {cast}({source}[{k}])\n" for k in range(n_hp)
    )


_activation_memo = {}


def activation_blocks(plugins, dtype):
    """Forward and derivative blocks for per-layer hidden activations.

    Parameters
    ----------
    plugins : sequence of ActivationPlugin
        One per hidden layer.
    dtype : numpy dtype

    Returns
    -------
    (act_fwd, act_bwd) : compiled blocks
    """
    # Memoized on the functions themselves: predict calls this every time and
    # fingerprinting plugin sources is far slower than a small prediction.
    memo_key = (np.dtype(dtype).name,
                tuple((p.name, p.value, p.derivative) for p in plugins))
    blocks = _activation_memo.get(memo_key)
    if blocks is None:
        blocks = _activation_memo[memo_key] = _build_activation_blocks(plugins, dtype)
    return blocks


def _build_activation_blocks(plugins, dtype):
    cast = _cast(dtype)
    distinct = []
    for p in plugins:
        if p not in distinct:
            distinct.append(p)
    fwd = ["def block(layer, Z, A, hp):\n", "    n, m = Z.shape\n"]
    bwd = ["def block(layer, Z, A, D, hp):\n", "    n, m = Z.shape\n"]
    functions = {}
    for k, plugin in enumerate(distinct):
        functions[f"value{k}"] = plugin.value
        functions[f"deriv{k}"] = plugin.derivative
        layers = [i for i, p in enumerate(plugins) if p == plugin]
        n_hp = len(plugin.hyperparameters)
        args = "".join(f", h{q}" for q in range(n_hp))
        cond = " or ".join(f"layer == {i}" for i in layers)
        head = f"    if {cond}:\n" if len(distinct) > 1 else "    if True:\n"
        hp = _hp_lines(n_hp, "hp[layer]", "        ", cast)
        fwd.append(head + hp)
        fwd.append(
            "        for i in range(n):\n"
            "            for j in range(m):\n"
            f"                A[i, j] = value{k}(Z[i, j]{args})\n"
            "        return\n"
        )
        bwd.append(head + hp)
        bwd.append(
            "        for i in range(n):\n"
            "            for j in range(m):\n"
            f"                D[i, j] *= deriv{k}(Z[i, j], A[i, j]{args})\n"
            "        return\n"
        )
    sigs = signatures(dtype)
    name = "_".join(p.name for p in distinct)
    return (
        build_block("".join(fwd), functions, sigs["act_fwd"], f"act_{name}"),
        build_block("".join(bwd), functions, sigs["act_bwd"], f"dact_{name}"),
    )


def optimizer_block(plugin, dtype):
    """The per-step update block of an :class:`OptimizerPlugin`."""
    cast = _cast(dtype)
    n_hp = len(plugin.hyperparameters)
    n_state = plugin.n_state
    hp_args = "".join(f", h{q}" for q in range(n_hp))
    state_args = "".join(f", state[{s}, i]" for s in range(n_state))
    lines = [
        "def block(theta, grad, state, hp, lr, t):\n",
        _hp_lines(n_hp, "hp", "    ", cast),
        f"    lr_ = {cast}(lr)\n",
        "    for i in range(theta.shape[0]):\n",
        f"        r = update(theta[i], grad[i]{state_args}, lr_, t{hp_args})\n",
    ]
    if n_state == 0:
        lines.append("        theta[i] = r\n")
    else:
        lines.append("        theta[i] = r[0]\n")
        lines.extend(f"        state[{s}, i] = r[{s + 1}]\n" for s in range(n_state))
    sig = signatures(dtype)["opt"]
    return build_block(
        "".join(lines), {"update": plugin.update}, sig, f"opt_{plugin.name}"
    )


def regularizer_block(plugin, dtype):
    """The penalty-and-gradient block of a :class:`RegularizerPlugin`."""
    cast = _cast(dtype)
    n_hp = len(plugin.hyperparameters)
    hp_args = "".join(f", h{q}" for q in range(n_hp))
    source = (
        "def block(w, gw, hp, scale):\n"
        + _hp_lines(n_hp, "hp", "    ", cast)
        + f"    s = {cast}(scale)\n"
        "    total = 0.0\n"
        "    for i in range(w.shape[0]):\n"
        "        x = w[i]\n"
        f"        total += penalty(x{hp_args})\n"
        f"        gw[i] += s * gradient(x{hp_args})\n"
        "    return total * scale\n"
    )
    sig = signatures(dtype)["reg"]
    return build_block(
        source,
        {"penalty": plugin.penalty, "gradient": plugin.gradient},
        sig,
        f"reg_{plugin.name}",
    )
