"""Generated block functions: plugin scalar math looped over arrays.

A block inlines one plugin's scalar function in a loop over a whole layer or
parameter vector; the core kernels call it through a first-class function
argument, once per layer per batch.
"""

import numpy as np

from ..codegen import (
    activation_arguments,
    activation_functions,
    activation_groups,
    hp_lines,
    loss_functions,
    loss_row_source,
)
from .compile import build_block, signatures


def _cast(dtype):
    return "np.float32" if np.dtype(dtype) == np.float32 else "np.float64"


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
    groups = activation_groups(plugins)
    # The forward block also adds the layer's intercepts to Z when given
    # them, and the derivative block sums the deltas into the intercept
    # gradient when given it: one pass over the batch less each.
    fwd = ["def block(layer, Z, A, hp, params, bias):\n",
           "    n, m = Z.shape\n",
           "    add = bias.shape[0] > 0\n"]
    bwd = ["def block(layer, Z, A, D, hp, params, pgrad, gbias):\n",
           "    n, m = Z.shape\n",
           "    add = gbias.shape[0] > 0\n"]
    for k, plugin, head in groups:
        # A learnable hyperparameter is read per unit from ``params``.
        args = activation_arguments(plugin, "params[j]")
        hp = hp_lines(len(plugin.hyperparameters), "hp[layer][{k}]", "        ", cast)
        # Row views keep the inner loops vectorizable.
        fwd.append(head + hp)
        fwd.append(
            "        for i in range(n):\n"
            "            z_row, a_row = Z[i], A[i]\n"
            "            if add:\n"
            "                for j in range(m):\n"
            "                    z = z_row[j] + bias[j]\n"
            "                    z_row[j] = z\n"
            f"                    a_row[j] = value{k}(z{args})\n"
            "            else:\n"
            "                for j in range(m):\n"
            f"                    a_row[j] = value{k}(z_row[j]{args})\n"
            "        return\n"
        )
        bwd.append(head + hp)
        bwd.append("        for i in range(n):\n"
                   "            z_row, a_row, d_row = Z[i], A[i], D[i]\n"
                   "            for j in range(m):\n")
        if plugin.learnable is not None:
            bwd.append(
                "                d = d_row[j]\n"
                f"                pgrad[j] += d * pderiv{k}(z_row[j], a_row[j]{args})\n"
                f"                d_row[j] = d * deriv{k}(z_row[j], a_row[j]{args})\n"
            )
        else:
            bwd.append(
                f"                d_row[j] *= deriv{k}(z_row[j], a_row[j]{args})\n"
            )
        bwd.append("            if add:\n"
                   "                for j in range(m):\n"
                   "                    gbias[j] += d_row[j]\n"
                   "        return\n")
    functions = activation_functions(groups)
    sigs = signatures(dtype)
    name = "_".join(plugin.name for _, plugin, _ in groups)
    return (
        build_block("".join(fwd), functions, sigs["act_fwd"], f"act_{name}", dtype),
        build_block("".join(bwd), functions, sigs["act_bwd"], f"dact_{name}", dtype),
    )


def loss_block(plugin, out_kind, average_outputs, dtype):
    """The loss-and-output-delta block of a :class:`LossPlugin`.

    The block computes the weighted loss sum of a batch and writes to ``D``
    the gradient of ``sample_weight * loss`` with respect to the output
    pre-activations. Logistic outputs are scored as two-class distributions
    ``(p, 1 - p)``. The plugin's ``link_gradient``, when it has one, gives
    the delta directly (it is only valid for the output activation the
    estimators pair the loss with); otherwise the chain rule through the
    output activation.

    Parameters
    ----------
    plugin : LossPlugin
    out_kind : int
        Output activation (``OUT_*`` of :mod:`skdeep._kernels.layout`).
    average_outputs : bool
        Divide the loss (and gradient) of each row by its number of outputs.
    dtype : numpy dtype
    """
    cast = _cast(dtype)
    eps = float(np.finfo(dtype).eps)
    n_hp = len(plugin.hyperparameters)
    lines = [
        "def block(P, Y, sw, hp, D):\n",
        hp_lines(n_hp, "hp[{k}]", "    ", cast),
        "    m, k = P.shape\n",
        f"    one = {cast}(1.0)\n",
        f"    scale = {cast}(1.0 / k) if {average_outputs} else {cast}(1.0)\n",
        "    total = 0.0\n",
        "    for i in range(m):\n",
        "        row = 0.0\n",
        loss_row_source(plugin, out_kind,
                        f"min(max(p, {cast}({eps!r})), {cast}({1.0 - eps!r}))",
                        "P[i, j]", "Y[i * k + j]"),
    ]
    lines.append("            D[i, j] = g * sw[i] * scale\n"
                 "        total += sw[i] * row * scale\n"
                 "    return total\n")
    sig = signatures(dtype)["loss"]
    label = f"loss_{plugin.name}_{out_kind}{'_avg' if average_outputs else ''}"
    return build_block("".join(lines), loss_functions(plugin), sig, label, dtype)


def optimizer_block(plugin, dtype):
    """The per-step update block of an :class:`OptimizerPlugin`."""
    cast = _cast(dtype)
    n_hp = len(plugin.hyperparameters)
    n_state = plugin.n_state
    hp_args = "".join(f", h{q}" for q in range(n_hp))
    state_args = "".join(f", state[{s}, i]" for s in range(n_state))
    # The step count goes in as a float of the block's type so that
    # ``beta ** t`` becomes a pure pow the compiler hoists out of the loop (an
    # integer power is a loop it re-runs per element, and reaches subnormal
    # floats in float32), without promoting float32 updates to float64.
    lines = [
        "def block(theta, grad, state, hp, lr, t):\n",
        hp_lines(n_hp, "hp[{k}]", "    ", cast),
        f"    lr_ = {cast}(lr)\n",
        f"    t_ = {cast}(t)\n",
        f"    tiny = {cast}({float(np.finfo(dtype).tiny)!r})\n",
        "    for i in range(theta.shape[0]):\n",
        f"        r = update(theta[i], grad[i]{state_args}, lr_, t_{hp_args})\n",
    ]
    if n_state == 0:
        lines.append("        theta[i] = r\n")
    else:
        lines.append("        theta[i] = r[0]\n")
        # State that decays towards zero (momentum of a dead unit) would
        # turn subnormal, which is 10-100x slower on x86: flush it to 0.
        for s in range(n_state):
            lines.append(f"        v = r[{s + 1}]\n"
                         f"        state[{s}, i] = v if abs(v) >= tiny else {cast}(0.0)\n")
    sig = signatures(dtype)["opt"]
    return build_block(
        "".join(lines), {"update": plugin.update}, sig, f"opt_{plugin.name}",
        dtype,
    )


def regularizer_block(plugin, dtype):
    """The penalty-and-gradient block of a :class:`RegularizerPlugin`."""
    cast = _cast(dtype)
    n_hp = len(plugin.hyperparameters)
    hp_args = "".join(f", h{q}" for q in range(n_hp))
    terms = "".join(
        f"        t{q} += penalty(w[i + {q}]{hp_args})\n" for q in range(8))
    source = (
        "def block(w, gw, hp, scale):\n"
        + hp_lines(n_hp, "hp[{k}]", "    ", cast)
        + f"    s = {cast}(scale)\n"
        "    n = w.shape[0]\n"
        "    for i in range(n):\n"
        f"        gw[i] += s * gradient(w[i]{hp_args})\n"
        # Eight running sums: one would make every addition wait for the
        # previous one (the sum took twice as long as the gradient pass).
        "    t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = 0.0\n"
        "    stop = n - n % 8\n"
        "    for i in range(0, stop, 8):\n"
        + terms
        + "    for i in range(stop, n):\n"
        f"        t0 += penalty(w[i]{hp_args})\n"
        "    total = ((t0 + t1) + (t2 + t3)) + ((t4 + t5) + (t6 + t7))\n"
        "    return total * scale\n"
    )
    sig = signatures(dtype)["reg"]
    return build_block(
        source,
        {"penalty": plugin.penalty, "gradient": plugin.gradient},
        sig,
        f"reg_{plugin.name}",
        dtype,
    )
