"""CUDA kernels generated from plugin scalar math.

The GPU counterpart of :mod:`skdeep._kernels.cpu.blocks`. The CUDA target
does not accept functions as kernel arguments, so each plugin combination
gets its own kernels: Python source generated here calls the plugin's very
scalar functions (the ones the CPU compiles with ``@njit``), compiled as
``cuda.jit(device=True)`` device functions. Kernels are memoized per
(plugin functions, dtype, launch configuration); hyperparameters stay
runtime arguments, so a new hyperparameter value never recompiles.

Kernels (all grid-stride loops unless stated):

- :func:`activation_blocks`: hidden activation forward
  (``A = value(Z, *hp)``) and backward (``D *= derivative(Z, A, *hp)``,
  plus the learnable parameter's gradient, one thread per unit);
- :func:`loss_block`: loss sum and output deltas of a batch (one block);
- :func:`optimizer_block`: the per-element update, with global-norm
  clipping and frozen ranges fused in;
- :func:`regularizer_block`: the penalty's gradient and per-block penalty
  sums, fused with frozen-range zeroing, clipping by value and per-block
  squared norms.
"""

from __future__ import annotations

import numpy as np

from ...plugin_types import OptimizerPlugin, RegularizerPlugin
from ..codegen import (
    activation_arguments,
    activation_functions,
    activation_groups,
    hp_lines,
    loss_functions,
    loss_row_source,
)
from ..layout import OUT_LOGISTIC, OUT_SOFTMAX
from . import compile as cuda_compile
from .compile import (
    S_LOSS,
    S_LOSS_TOTAL,
    S_PARTIAL,
    S_SCORE,
    S_SW,
    S_SW_TOTAL,
    S_TOTAL,
    DeviceKernel,
    block_sum_function,
    cuda_module,
    device_function,
    exec_source,
    launch_config,
    numba_type,
)

__all__ = [
    "activation_blocks",
    "as_optimizer_block",
    "as_regularizer_block",
    "loss_block",
    "optimizer_block",
    "regularizer_block",
]

_memo = {}


def _memoized(key, build):
    key = key + (launch_config(),)
    with cuda_compile._lock:
        value = _memo.get(key)
        if value is None:
            value = _memo[key] = build()
        return value


def _namespace(dtype, config, functions):
    """Globals of generated kernels: device functions and constants."""
    import math

    import numba

    namespace = {
        "cuda": cuda_module(),
        "math": math,
        "dt": numba_type(dtype),
        "float64": numba.float64,
        "zero": numba_type(dtype)(0.0),
        "one": numba_type(dtype)(1.0),
        "BLOCK": config.block,
        "block_sum": block_sum_function(config.block),
        "S_SW": S_SW, "S_LOSS": S_LOSS, "S_TOTAL": S_TOTAL, "S_SCORE": S_SCORE,
        "S_SW_TOTAL": S_SW_TOTAL, "S_LOSS_TOTAL": S_LOSS_TOTAL,
        "S_PARTIAL": S_PARTIAL,
    }
    namespace.update({k: device_function(f, dtype) for k, f in functions.items()})
    return namespace


def _hp_lines(n_hp, source, indent):
    return "".join(f"{indent}h{k} = dt({source}[{k}])\n" for k in range(n_hp))


def _types(dtype):
    import numba

    T = numba_type(dtype)
    return (T[::1], numba.float64[::1], numba.int64[::1], numba.int64,
            numba.float64, numba.boolean)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def activation_blocks(plugins, dtype):
    """Forward and backward kernels for per-layer hidden activations.

    Parameters
    ----------
    plugins : sequence of ActivationPlugin
        One per hidden layer (layers sharing a plugin share its code).
    dtype : numpy dtype

    Returns
    -------
    (act_fwd, act_bwd) : DeviceKernel, DeviceKernel
        ``act_fwd(layer, Z, A, off, m, n, hp, width, theta, p_off)`` writes
        ``A[off:off + m * n] = value(Z, *hp)`` for hidden layer ``layer``;
        ``hp`` is the float64 ``(n_hidden, width)`` hyperparameter matrix,
        flattened; a learnable hyperparameter is read per unit from
        ``theta[p_off + j]``.
        ``act_bwd(layer, Z, A, D, off, m, n, hp, width, theta, p_off, grad)``
        multiplies ``D[off:]`` in place by ``derivative(Z, A, *hp)``; for a
        learnable activation it first adds ``sum_i D[i, j] *
        parameter_derivative(Z, A, *hp)`` to ``grad[p_off + j]`` (one thread
        per unit). Both are ``(None, None)`` without hidden layers.
    """
    plugins = list(plugins)
    if not plugins:
        return None, None
    key = ("act", np.dtype(dtype).name, tuple(
        (p.name, p.value, p.derivative, p.parameter_derivative, p.learnable,
         tuple(p.hyperparameters)) for p in plugins))
    return _memoized(key, lambda: _build_activation_blocks(plugins, dtype))


def _build_activation_blocks(plugins, dtype):
    config = launch_config()
    groups = activation_groups(plugins)
    fwd = ["def act_fwd(layer, Z, A, off, m, n, hp, width, theta, p_off):\n",
           "    i0 = cuda.grid(1)\n",
           "    stride = cuda.gridsize(1)\n"]
    bwd = ["def act_bwd(layer, Z, A, D, off, m, n, hp, width, theta, p_off, grad):\n",
           "    i0 = cuda.grid(1)\n",
           "    stride = cuda.gridsize(1)\n"]
    for k, plugin, head in groups:
        hp = hp_lines(len(plugin.hyperparameters), "hp[layer * width + {k}]",
                      "        ", "dt")
        # The learnable hyperparameter is read per unit from theta.
        args = activation_arguments(plugin, "pj")
        if plugin.learnable is None:
            fwd.append(head + hp)
            fwd.append(
                "        for idx in range(off + i0, off + m * n, stride):\n"
                f"            A[idx] = value{k}(Z[idx]{args})\n"
                "        return\n"
            )
            bwd.append(head + hp)
            bwd.append(
                "        for idx in range(off + i0, off + m * n, stride):\n"
                f"            D[idx] *= deriv{k}(Z[idx], A[idx]{args})\n"
                "        return\n"
            )
            continue
        fwd.append(head + hp)
        fwd.append(
            "        for idx in range(i0, m * n, stride):\n"
            "            pj = theta[p_off + idx % n]\n"
            f"            A[off + idx] = value{k}(Z[off + idx]{args})\n"
            "        return\n"
        )
        bwd.append(head + hp)
        bwd.append(
            "        for j in range(i0, n, stride):\n"
            "            pj = theta[p_off + j]\n"
            "            acc = grad[p_off + j]\n"
            "            for i in range(m):\n"
            "                idx = off + i * n + j\n"
            "                d = D[idx]\n"
            f"                acc = dt(acc + d * pderiv{k}(Z[idx], A[idx]{args}))\n"
            f"                D[idx] = d * deriv{k}(Z[idx], A[idx]{args})\n"
            "            grad[p_off + j] = acc\n"
            "        return\n"
        )
    functions = activation_functions(groups)
    namespace = _namespace(dtype, config, functions)
    label = "_".join(plugin.name for _, plugin, _ in groups)
    T1, F1, _, i8, _, _ = _types(dtype)
    from numba import void

    return (
        DeviceKernel(f"act_fwd_{label}",
                     exec_source("".join(fwd), namespace, "act_fwd", f"act_{label}"),
                     void(i8, T1, T1, i8, i8, i8, F1, i8, T1, i8)),
        DeviceKernel(f"act_bwd_{label}",
                     exec_source("".join(bwd), namespace, "act_bwd", f"dact_{label}"),
                     void(i8, T1, T1, T1, i8, i8, i8, F1, i8, T1, i8, T1)),
    )


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


def loss_block(plugin, out_kind, average_outputs, dtype):
    """The loss-and-output-delta kernel of a :class:`LossPlugin`.

    Same math as :func:`skdeep._kernels.cpu.blocks.loss_block`: the
    weighted loss sum of a batch, and in ``D`` the gradient of
    ``sample_weight * loss`` with respect to the output pre-activations
    (through ``link_gradient`` when the plugin has one, else the chain rule
    through the output activation); classification probabilities clipped to
    ``[eps, 1 - eps]``; logistic outputs scored as two-class distributions;
    rows divided by their number of outputs when ``average_outputs``.

    Parameters
    ----------
    plugin : LossPlugin
    out_kind : int
        Output activation (``OUT_*`` of :mod:`skdeep._kernels.layout`).
    average_outputs : bool
    dtype : numpy dtype

    Returns
    -------
    DeviceKernel
        ``loss(P, p_off, Y, y_off, sw, s_off, m, k, hp, D, d_off, S, train)``,
        launched as one block of ``config.block`` threads: ``P``, ``Y``
        (m, k) and ``sw`` (m,) start at their offsets, ``D`` (m, k) at
        ``d_off`` is overwritten. Into the float64 vector ``S`` go the
        batch weight sum (``S_SW``) and loss sum (``S_LOSS``), and both are
        added to the running sums; with ``train`` the deltas are divided by
        the batch weight sum (as the CPU epoch does) and the training score
        (``_score_sum`` of the CPU module) is added to ``S_SCORE``.
    """
    key = ("loss", np.dtype(dtype).name, plugin.name, plugin.loss,
           plugin.gradient, plugin.link_gradient, len(plugin.hyperparameters),
           int(out_kind), bool(average_outputs))
    return _memoized(
        key, lambda: _build_loss_block(plugin, out_kind, average_outputs, dtype))


def _build_loss_block(plugin, out_kind, average_outputs, dtype):
    from numba import void


    config = launch_config()
    eps = float(np.finfo(dtype).eps)
    n_hp = len(plugin.hyperparameters)
    clip = f"min(max(p, dt({eps!r})), dt({1.0 - eps!r}))"
    lines = [
        "def loss(P, p_off, Y, y_off, sw, s_off, m, k, hp, D, d_off, S, train):\n",
        "    buf = cuda.shared.array(BLOCK, float64)\n",
        "    tid = cuda.threadIdx.x\n",
        _hp_lines(n_hp, "hp", "    "),
        "    part = 0.0\n",
        "    for i in range(tid, m, BLOCK):\n",
        "        part += sw[s_off + i]\n",
        "    sw_sum = block_sum(buf, part, tid)\n",
        "    inv = 1.0 / sw_sum\n",
        "    scale = dt(1.0 / k)\n" if average_outputs else "    scale = dt(1.0)\n",
        "    total = 0.0\n",
        "    score = 0.0\n",
        "    for i in range(tid, m, BLOCK):\n",
        "        w = sw[s_off + i]\n",
        "        pi = p_off + i * k\n",
        "        yi = y_off + i * k\n",
        "        row = 0.0\n",
    ]
    lines.append(loss_row_source(plugin, out_kind, clip, "P[pi + j]", "Y[yi + j]"))
    lines.append("            dv = dt(g * w * scale)\n"
                 "            if train:\n"
                 "                dv = dt(dv * inv)\n"
                 "            D[d_off + i * k + j] = dv\n"
                 "        total += w * row * scale\n"
                 "        if train:\n")
    if out_kind == OUT_SOFTMAX:
        lines.append("            bp = 0\n"
                     "            bt = 0\n"
                     "            for j in range(1, k):\n"
                     "                if P[pi + j] > P[pi + bp]:\n"
                     "                    bp = j\n"
                     "                if Y[yi + j] > Y[yi + bt]:\n"
                     "                    bt = j\n"
                     "            if bp == bt:\n"
                     "                score += w\n")
    elif out_kind == OUT_LOGISTIC:
        lines.append("            hit = True\n"
                     "            for j in range(k):\n"
                     "                if (P[pi + j] > 0.5) != (Y[yi + j] > 0.5):\n"
                     "                    hit = False\n"
                     "            if hit:\n"
                     "                score += w\n")
    else:
        lines.append("            for j in range(k):\n"
                     "                r = P[pi + j] - Y[yi + j]\n"
                     "                score += w * r * r\n")
    lines.append("    total = block_sum(buf, total, tid)\n"
                 "    score = block_sum(buf, score, tid)\n"
                 "    if tid == 0:\n"
                 "        S[S_SW] = sw_sum\n"
                 "        S[S_LOSS] = total\n"
                 "        S[S_SW_TOTAL] += sw_sum\n"
                 "        S[S_LOSS_TOTAL] += total\n"
                 "        S[S_SCORE] += score\n")
    label = f"loss_{plugin.name}_{out_kind}{'_avg' if average_outputs else ''}"
    fn = exec_source("".join(lines),
                     _namespace(dtype, config, loss_functions(plugin)), "loss", label)
    T1, F1, _, i8, _, b1 = _types(dtype)
    return DeviceKernel(label, fn,
                        void(T1, i8, T1, i8, T1, i8, i8, i8, F1, T1, i8, F1, b1))


# ---------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------


def optimizer_block(plugin, dtype):
    """The per-step update kernel of an :class:`OptimizerPlugin`.

    Parameters
    ----------
    plugin : OptimizerPlugin
    dtype : numpy dtype

    Returns
    -------
    DeviceKernel
        ``opt(theta, grad, state, n, hp, lrs, step, t, S, n_part, m, alpha,
        clip_norm, frozen, n_frozen, theta_frozen)`` updates ``theta`` (n,)
        and ``state`` (n_state * n, flat, state ``s`` of parameter ``i`` at
        ``s * n + i``) in place with ``update(param, grad, *state,
        lr=lrs[step], t, *hp)``; ``t`` is the float64 step count, state
        values below the dtype's smallest normal are flushed to 0, as on
        the CPU. Before updating, thread 0 of each block adds the ``n_part``
        partial sums left by the regularizer kernel in ``S``: block 0 adds
        ``(loss * inv + penalty * alpha * inv) * m`` (``inv`` = 1 / batch
        weight sum) to ``S[S_TOTAL]``; if the global gradient norm exceeds
        ``clip_norm > 0`` the gradient is scaled (and written back) before
        the update. Parameters in the ``[start, stop)`` ranges of
        ``frozen`` (flat, 2 * n_frozen) are restored from ``theta_frozen``
        afterwards.
    """
    key = ("opt", np.dtype(dtype).name, plugin.name, plugin.update,
           plugin.n_state, len(plugin.hyperparameters))
    return _memoized(key, lambda: _build_optimizer_block(plugin, dtype))


def _build_optimizer_block(plugin, dtype):
    from numba import void

    config = launch_config()
    n_hp = len(plugin.hyperparameters)
    n_state = plugin.n_state
    hp_args = "".join(f", h{q}" for q in range(n_hp))
    state_args = "".join(
        ", state[i]" if s == 0 else f", state[{s} * n + i]" for s in range(n_state)
    )
    lines = [
        "def opt(theta, grad, state, n, hp, lrs, step, t, S, n_part, m, alpha,\n"
        "        clip_norm, frozen, n_frozen, theta_frozen):\n",
        "    shared = cuda.shared.array(1, float64)\n",
        "    if cuda.threadIdx.x == 0:\n",
        "        pen = 0.0\n",
        "        sq = 0.0\n",
        "        for b in range(n_part):\n",
        "            pen += S[S_PARTIAL + 2 * b]\n",
        "            sq += S[S_PARTIAL + 2 * b + 1]\n",
        "        inv = 1.0 / S[S_SW]\n",
        "        if cuda.blockIdx.x == 0:\n",
        "            S[S_TOTAL] += (S[S_LOSS] * inv + pen * (alpha * inv)) * m\n",
        "        cs = 1.0\n",
        "        if clip_norm > 0.0:\n",
        "            norm = math.sqrt(sq)\n",
        "            if norm > clip_norm:\n",
        "                cs = clip_norm / norm\n",
        "        shared[0] = cs\n",
        "    cuda.syncthreads()\n",
        "    cs = shared[0]\n",
        _hp_lines(n_hp, "hp", "    "),
        "    lr_ = dt(lrs[step])\n",
        "    t_ = dt(t)\n",
        f"    tiny = dt({float(np.finfo(dtype).tiny)!r})\n",
        "    for i in range(cuda.grid(1), n, cuda.gridsize(1)):\n",
        "        g = grad[i]\n",
        "        if cs != 1.0:\n",
        "            g = dt(g * cs)\n",
        "            grad[i] = g\n",
        f"        r = update(theta[i], g{state_args}, lr_, t_{hp_args})\n",
    ]
    if n_state == 0:
        lines.append("        theta[i] = r\n")
    else:
        lines.append("        theta[i] = r[0]\n")
        for s in range(n_state):
            index = "i" if s == 0 else f"{s} * n + i"
            lines.append(f"        v = r[{s + 1}]\n"
                         f"        state[{index}] = v if abs(v) >= tiny else zero\n")
    lines.append("        for q in range(n_frozen):\n"
                 "            if frozen[2 * q] <= i and i < frozen[2 * q + 1]:\n"
                 "                theta[i] = theta_frozen[i]\n")
    label = f"opt_{plugin.name}"
    fn = exec_source("".join(lines),
                     _namespace(dtype, config, {"update": plugin.update}),
                     "opt", label)
    T1, F1, I1, i8, f64, _ = _types(dtype)
    return DeviceKernel(label, fn, void(T1, T1, T1, i8, F1, F1, i8, f64, F1, i8,
                                        i8, f64, f64, I1, i8, T1))


# ---------------------------------------------------------------------------
# Regularizers (and the rest of the gradient preparation)
# ---------------------------------------------------------------------------


def regularizer_block(plugin, dtype):
    """The penalty kernel of a :class:`RegularizerPlugin`, fused with the
    gradient preparation that follows it on the CPU.

    Parameters
    ----------
    plugin : RegularizerPlugin
    dtype : numpy dtype

    Returns
    -------
    DeviceKernel
        ``reg(theta, grad, n_weights, n, hp, alpha, S, mode, frozen,
        n_frozen, clip_value)``, one partial sum per block: for ``i <
        n_weights`` (when ``alpha != 0``) adds ``s * gradient(theta[i])``
        to ``grad[i]`` and sums ``penalty(theta[i])``. ``mode`` 0 (a
        training batch): ``s = alpha / batch weight sum``, then the
        ``frozen`` ranges get a zero gradient, entries are clipped to
        ``+-clip_value`` (when positive) and squared norms summed. ``mode``
        1 (end of ``loss_grad``): ``s = alpha``, then the whole gradient is
        divided by the total weight sum. Block ``b`` writes its penalty sum
        and squared-norm sum to ``S[S_PARTIAL + 2b]`` and
        ``S[S_PARTIAL + 2b + 1]``.
    """
    key = ("reg", np.dtype(dtype).name, plugin.name, plugin.penalty,
           plugin.gradient, len(plugin.hyperparameters))
    return _memoized(key, lambda: _build_regularizer_block(plugin, dtype))


def _build_regularizer_block(plugin, dtype):
    from numba import void

    config = launch_config()
    n_hp = len(plugin.hyperparameters)
    a = "".join(f", h{q}" for q in range(n_hp))
    source = (
        "def reg(theta, grad, n_weights, n, hp, alpha, S, mode, frozen,\n"
        "        n_frozen, clip_value):\n"
        "    buf = cuda.shared.array(BLOCK, float64)\n"
        "    tid = cuda.threadIdx.x\n"
        + _hp_lines(n_hp, "hp", "    ")
        + "    if mode == 0:\n"
        "        inv = 1.0 / S[S_SW]\n"
        "        s = dt(alpha * inv)\n"
        "    else:\n"
        "        inv = 1.0 / S[S_SW_TOTAL]\n"
        "        s = dt(alpha)\n"
        "    use_reg = alpha != 0.0\n"
        "    pen = 0.0\n"
        "    sq = 0.0\n"
        "    for i in range(cuda.grid(1), n, cuda.gridsize(1)):\n"
        "        g = grad[i]\n"
        "        if use_reg and i < n_weights:\n"
        "            x = theta[i]\n"
        f"            pen += penalty(x{a})\n"
        f"            g = dt(g + s * gradient(x{a}))\n"
        "        if mode == 1:\n"
        "            g = dt(g * inv)\n"
        "        else:\n"
        "            for q in range(n_frozen):\n"
        "                if frozen[2 * q] <= i and i < frozen[2 * q + 1]:\n"
        "                    g = zero\n"
        "            if clip_value > 0.0:\n"
        "                g = dt(min(max(g, -clip_value), clip_value))\n"
        "            sq += g * g\n"
        "        grad[i] = g\n"
        "    pen = block_sum(buf, pen, tid)\n"
        "    sq = block_sum(buf, sq, tid)\n"
        "    if tid == 0:\n"
        "        S[S_PARTIAL + 2 * cuda.blockIdx.x] = pen\n"
        "        S[S_PARTIAL + 2 * cuda.blockIdx.x + 1] = sq\n"
    )
    label = f"reg_{plugin.name}"
    fn = exec_source(source, _namespace(
        dtype, config, {"penalty": plugin.penalty, "gradient": plugin.gradient}),
        "reg", label)
    T1, F1, I1, i8, f64, _ = _types(dtype)
    return DeviceKernel(label, fn, void(T1, T1, i8, i8, F1, f64, F1, i8, I1, i8,
                                        f64))


def as_optimizer_block(block, dtype):
    """An optimizer kernel from a kernel or an :class:`OptimizerPlugin`."""
    if isinstance(block, DeviceKernel):
        return block
    if isinstance(block, OptimizerPlugin):
        return optimizer_block(block, dtype)
    raise TypeError(
        "the CUDA network needs an optimizer kernel from "
        "skdeep._kernels.cuda.blocks.optimizer_block (or the OptimizerPlugin), "
        f"got {type(block).__name__}; CPU blocks cannot run on the GPU."
    )


def as_regularizer_block(block, dtype):
    """A regularizer kernel from a kernel or a :class:`RegularizerPlugin`."""
    if isinstance(block, DeviceKernel):
        return block
    if isinstance(block, RegularizerPlugin):
        return regularizer_block(block, dtype)
    raise TypeError(
        "the CUDA network needs a regularizer kernel from "
        "skdeep._kernels.cuda.blocks.regularizer_block (or the "
        f"RegularizerPlugin), got {type(block).__name__}; CPU blocks cannot run "
        "on the GPU."
    )
