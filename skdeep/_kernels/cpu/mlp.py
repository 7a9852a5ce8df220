"""Core training kernels for dense networks on the CPU.

Layout shared by every kernel
-----------------------------
``theta`` is one flat parameter vector: all weight matrices first (layer by
layer, row-major ``(n_in, n_out)``), then all intercepts, exactly like
sklearn's ``_pack``. ``sizes[l]`` is the width of layer ``l`` (``sizes[0]``
the number of features). ``w_off[l]`` and ``b_off[l]`` locate layer ``l``'s
weights and intercept in ``theta`` (and in ``grad``). Per-batch work buffers
are flat too: the block of weight layer ``l`` (its pre-activations ``Z``,
activations ``A`` and deltas ``D``) starts at ``a_off[l]`` and holds up to
``batch_size * sizes[l + 1]`` values.

``out_kind`` selects the output activation and its canonical loss:
0 identity / half squared error, 1 exp / half Poisson deviance,
2 logistic / binary log-loss, 3 softmax / categorical log-loss. With these
pairings the output delta is ``(prediction - target) * sample_weight``
(divided by the number of outputs for the squared error, whose loss
averages over outputs).

Plugin math arrives as first-class function "blocks" (see
``skdeep._compile``), so these kernels compile once per dtype and are cached
on disk.
"""

import math

import numpy as np
from numba import njit

from ..._compile import jit_options

OUT_IDENTITY, OUT_EXP, OUT_LOGISTIC, OUT_SOFTMAX = 0, 1, 2, 3

_inner = njit(nogil=True, error_model="numpy")


@_inner
def _matrix(flat, offset, rows, cols):
    return flat[offset : offset + rows * cols].reshape((rows, cols))


@_inner
def _gather(X, Y, sw, order, start, m, Xb, Yb, swb):
    """Copy rows ``order[start:start + m]`` into the batch buffers."""
    d = X.shape[1]
    k = Y.shape[1]
    sw_sum = 0.0
    for i in range(m):
        r = order[start + i]
        for j in range(d):
            Xb[i * d + j] = X[r, j]
        for j in range(k):
            Yb[i * k + j] = Y[r, j]
        swb[i] = sw[r]
        sw_sum += sw[r]
    return sw_sum


@_inner
def _output_activation(Z, A, out_kind):
    n, k = Z.shape
    for i in range(n):
        if out_kind == OUT_SOFTMAX:
            zmax = Z[i, 0]
            for j in range(1, k):
                zmax = max(zmax, Z[i, j])
            total = 0.0
            for j in range(k):
                e = math.exp(Z[i, j] - zmax)
                A[i, j] = e
                total += A[i, j]
            for j in range(k):
                A[i, j] = A[i, j] / total
        else:
            for j in range(k):
                z = Z[i, j]
                if out_kind == OUT_IDENTITY:
                    A[i, j] = z
                elif out_kind == OUT_EXP:
                    A[i, j] = math.exp(z)
                elif z >= 0:
                    A[i, j] = 1.0 / (1.0 + math.exp(-z))
                else:
                    e = math.exp(z)
                    A[i, j] = e / (1.0 + e)


@_inner
def _forward(theta, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
             act_fwd, act_hp, out_kind, drop, Mbuf, Obuf):
    """Forward pass of ``m`` rows; fills ``Z`` and ``A`` of every layer.

    Hidden layer ``l`` with ``drop[l] > 0`` (inverted dropout, training
    only) keeps its activations in ``A``, its mask (0 or ``1 / (1 - p)``)
    in ``Mbuf`` and the masked output fed forward in ``Obuf``.
    """
    n_layers = sizes.shape[0] - 1
    A_in = _matrix(Xb, 0, m, sizes[0])
    for layer in range(n_layers):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        W = _matrix(theta, w_off[layer], n_in, n_out)
        Z = _matrix(Zbuf, a_off[layer], m, n_out)
        A = _matrix(Abuf, a_off[layer], m, n_out)
        np.dot(A_in, W, Z)
        b0 = b_off[layer]
        for i in range(m):
            for j in range(n_out):
                Z[i, j] += theta[b0 + j]
        if layer < n_layers - 1:
            act_fwd(layer, Z, A, act_hp)
            A_in = A
            if layer < drop.shape[0] and drop[layer] > 0.0:
                rate = drop[layer]
                scale = 1.0 / (1.0 - rate)
                M = _matrix(Mbuf, a_off[layer], m, n_out)
                dropped = _matrix(Obuf, a_off[layer], m, n_out)
                for i in range(m):
                    for j in range(n_out):
                        M[i, j] = scale if np.random.random() >= rate else 0.0
                        dropped[i, j] = A[i, j] * M[i, j]
                A_in = dropped
        else:
            _output_activation(Z, A, out_kind)
            A_in = A
    return A_in


@_inner
def _output_loss_delta(P, Yb, swb, m, out_kind, eps, D):
    """Weighted loss sum of ``m`` rows and output deltas ``(P - Y) * sw``."""
    k = P.shape[1]
    total = 0.0
    for i in range(m):
        row = 0.0
        for j in range(k):
            p = P[i, j]
            y = Yb[i * k + j]
            if out_kind == OUT_IDENTITY:
                row += 0.5 * (y - p) * (y - p) / k
            elif out_kind == OUT_EXP:
                if y != 0:
                    row += y * math.log(y / p)
                row += p - y
            else:
                pc = min(max(p, eps), 1.0 - eps)
                if y != 0:
                    row -= y * math.log(pc)
                if out_kind == OUT_LOGISTIC and y != 1:
                    row -= (1.0 - y) * math.log(1.0 - pc)
            D[i, j] = (p - y) * swb[i]
            if out_kind == OUT_IDENTITY:
                # sklearn averages the squared error over outputs but omits
                # the 1/k in its gradient; keep loss and gradient consistent.
                D[i, j] /= k
        total += swb[i] * row
    return total


@_inner
def _backward(theta, grad, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf, Dbuf,
              act_bwd, act_hp, tmp, accumulate, drop, Mbuf, Obuf):
    """Backpropagate the output deltas into ``grad`` (sum over rows)."""
    n_layers = sizes.shape[0] - 1
    for layer in range(n_layers - 1, -1, -1):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        D = _matrix(Dbuf, a_off[layer], m, n_out)
        dropped = layer > 0 and layer - 1 < drop.shape[0] and drop[layer - 1] > 0.0
        if layer == 0:
            A_in = _matrix(Xb, 0, m, n_in)
        elif dropped:
            A_in = _matrix(Obuf, a_off[layer - 1], m, n_in)
        else:
            A_in = _matrix(Abuf, a_off[layer - 1], m, n_in)
        gW = _matrix(grad, w_off[layer], n_in, n_out)
        b0 = b_off[layer]
        if accumulate:
            T = _matrix(tmp, 0, n_in, n_out)
            np.dot(A_in.T, D, T)
            for i in range(n_in):
                for j in range(n_out):
                    gW[i, j] += T[i, j]
        else:
            np.dot(A_in.T, D, gW)
            for j in range(n_out):
                grad[b0 + j] = 0.0
        for i in range(m):
            for j in range(n_out):
                grad[b0 + j] += D[i, j]
        if layer > 0:
            W = _matrix(theta, w_off[layer], n_in, n_out)
            D_prev = _matrix(Dbuf, a_off[layer - 1], m, n_in)
            np.dot(D, W.T, D_prev)
            act_bwd(layer - 1, _matrix(Zbuf, a_off[layer - 1], m, n_in),
                    _matrix(Abuf, a_off[layer - 1], m, n_in), D_prev, act_hp)
            if dropped:
                M = _matrix(Mbuf, a_off[layer - 1], m, n_in)
                for i in range(m):
                    for j in range(n_in):
                        D_prev[i, j] *= M[i, j]


@_inner
def _finalize(theta, grad, n_weights, reg, reg_hp, alpha, sw_sum):
    """Add the penalty gradient, divide by ``sw_sum``; return the penalty."""
    penalty = 0.0
    if alpha != 0.0:
        penalty = reg(theta[:n_weights], grad[:n_weights], reg_hp, alpha)
    scale = 1.0 / sw_sum
    for i in range(grad.shape[0]):
        grad[i] *= scale
    return penalty * scale


@_inner
def _augment(Xb, Yb, swb, m, d, k, noise_std, mixup_alpha, mix):
    """Mixup within the batch, then Gaussian input noise; returns sw sum."""
    if mixup_alpha > 0.0 and m > 1:
        lam = np.random.beta(mixup_alpha, mixup_alpha)
        perm = np.random.permutation(m)
        n_x = m * d
        n_y = m * k
        for idx in range(n_x):
            mix[idx] = Xb[idx]
        for idx in range(n_y):
            mix[n_x + idx] = Yb[idx]
        for i in range(m):
            mix[n_x + n_y + i] = swb[i]
        for i in range(m):
            p = perm[i]
            for j in range(d):
                Xb[i * d + j] = lam * Xb[i * d + j] + (1.0 - lam) * mix[p * d + j]
            for j in range(k):
                Yb[i * k + j] = lam * Yb[i * k + j] + (1.0 - lam) * mix[n_x + p * k + j]
            swb[i] = lam * swb[i] + (1.0 - lam) * mix[n_x + n_y + p]
    if noise_std > 0.0:
        for idx in range(m * d):
            Xb[idx] += np.random.normal(0.0, noise_std)
    total = 0.0
    for i in range(m):
        total += swb[i]
    return total


@_inner
def _clip(grad, clip_value, clip_norm):
    """Clip each gradient entry to +-clip_value, then the global L2 norm."""
    if clip_value > 0.0:
        for i in range(grad.shape[0]):
            grad[i] = min(max(grad[i], -clip_value), clip_value)
    if clip_norm > 0.0:
        total = 0.0
        for i in range(grad.shape[0]):
            total += grad[i] * grad[i]
        norm = math.sqrt(total)
        if norm > clip_norm:
            scale = clip_norm / norm
            for i in range(grad.shape[0]):
                grad[i] *= scale


def train_epoch(theta, X, Y, sw, order, batch_size, shuffle, seed,
                sizes, w_off, b_off, a_off, n_weights,
                act_fwd, act_bwd, act_hp, out_kind, eps,
                opt_step, opt_state, opt_hp, lrs, t0,
                reg, reg_hp, alpha, clip_value, clip_norm,
                drop, noise_std, mixup_alpha,
                grad, Xb, Yb, swb, Zbuf, Abuf, Dbuf, tmp, Mbuf, Obuf, mix):
    """Run one epoch of minibatch training in place.

    Parameters
    ----------
    theta : ndarray (n_params,), float32 or float64
        Flat parameters, updated in place.
    X : ndarray (n_samples, n_features), same dtype, C-contiguous
    Y : ndarray (n_samples, n_outputs), same dtype
    sw : ndarray (n_samples,), same dtype
        Sample weights (ones when unweighted).
    order : ndarray (n_samples,), int64
        Sample order; shuffled in place (cumulatively) when ``shuffle``.
    batch_size : int
    shuffle : bool
    seed : int
        Seeds Numba's generator before shuffling, for reproducibility.
    sizes, w_off, b_off, a_off : ndarray, int64
        Layout (see the module docstring); ``n_weights`` counts the weights.
    act_fwd, act_bwd, act_hp : block, block, ndarray (n_hidden, n_hp)
        Hidden activation blocks and their per-layer hyperparameters.
    out_kind : int
    eps : float
        Probability clip for the log-losses (machine epsilon of the dtype).
    opt_step, opt_state, opt_hp : block, ndarray (k, n_params), ndarray
        Optimizer block, its state (updated in place) and hyperparameters.
    lrs : ndarray (n_batches,), float64
        Learning rate for each step of this epoch.
    t0 : int
        Optimizer steps taken before this epoch.
    reg, reg_hp, alpha : block, ndarray, float
        Regularizer block, its hyperparameters and strength.
    clip_value, clip_norm : float
        Gradient clipping by value and by global norm (0 disables each).
    drop : ndarray (n_hidden,), float64
        Dropout rate of each hidden layer (0 disables).
    noise_std, mixup_alpha : float
        Gaussian input noise and mixup's Beta parameter (0 disables each).
    grad, Xb, Yb, swb, Zbuf, Abuf, Dbuf, tmp, Mbuf, Obuf, mix : ndarray
        Work buffers, overwritten.

    Returns
    -------
    float
        Sum over batches of ``batch_loss * batch_length``.
    """
    n = X.shape[0]
    np.random.seed(seed)
    if shuffle:
        np.random.shuffle(order)
    total = 0.0
    step = 0
    augment = noise_std > 0.0 or mixup_alpha > 0.0
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        sw_sum = _gather(X, Y, sw, order, start, m, Xb, Yb, swb)
        if augment:
            sw_sum = _augment(Xb, Yb, swb, m, X.shape[1], Y.shape[1],
                              noise_std, mixup_alpha, mix)
        P = _forward(theta, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
                     act_fwd, act_hp, out_kind, drop, Mbuf, Obuf)
        n_out = sizes[sizes.shape[0] - 1]
        D = _matrix(Dbuf, a_off[sizes.shape[0] - 2], m, n_out)
        loss_sum = _output_loss_delta(P, Yb, swb, m, out_kind, eps, D)
        _backward(theta, grad, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
                  Dbuf, act_bwd, act_hp, tmp, False, drop, Mbuf, Obuf)
        penalty = _finalize(theta, grad, n_weights, reg, reg_hp, alpha, sw_sum)
        total += (loss_sum / sw_sum + penalty) * m
        _clip(grad, clip_value, clip_norm)
        opt_step(theta, grad, opt_state, opt_hp, lrs[step], t0 + step + 1)
        step += 1
    return total


def loss_grad(theta, X, Y, sw, chunk, sizes, w_off, b_off, a_off, n_weights,
              act_fwd, act_bwd, act_hp, out_kind, eps, reg, reg_hp, alpha,
              grad, Xb, Yb, swb, Zbuf, Abuf, Dbuf, tmp):
    """Full-data loss and its gradient (written to ``grad``).

    Processes ``chunk`` rows at a time so memory stays that of one batch.
    Arguments are as for :func:`train_epoch`.

    Returns
    -------
    float
        The regularized, sample-weighted mean loss.
    """
    n = X.shape[0]
    order = np.arange(n)
    no_drop = np.zeros(0)
    loss_sum = 0.0
    sw_total = 0.0
    n_layers = sizes.shape[0] - 1
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        sw_total += _gather(X, Y, sw, order, start, m, Xb, Yb, swb)
        P = _forward(theta, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
                     act_fwd, act_hp, out_kind, no_drop, Abuf, Abuf)
        D = _matrix(Dbuf, a_off[n_layers - 1], m, sizes[n_layers])
        loss_sum += _output_loss_delta(P, Yb, swb, m, out_kind, eps, D)
        _backward(theta, grad, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
                  Dbuf, act_bwd, act_hp, tmp, start > 0, no_drop, Abuf, Abuf)
    penalty = _finalize(theta, grad, n_weights, reg, reg_hp, alpha, sw_total)
    return loss_sum / sw_total + penalty


def predict(theta, X, chunk, sizes, w_off, b_off, a_off, act_fwd, act_hp,
            out_kind, Xb, Zbuf, Abuf, out):
    """Network outputs for every row of ``X`` into ``out`` (n, n_outputs)."""
    n = X.shape[0]
    d = X.shape[1]
    k = out.shape[1]
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        for i in range(m):
            for j in range(d):
                Xb[i * d + j] = X[start + i, j]
        P = _forward(theta, sizes, w_off, b_off, a_off, Xb, m, Zbuf, Abuf,
                     act_fwd, act_hp, out_kind, np.zeros(0), Abuf, Abuf)
        for i in range(m):
            for j in range(k):
                out[start + i, j] = P[i, j]
    return out


def _signatures(dtype):
    from numba import types

    T = types.float32 if np.dtype(dtype) == np.float32 else types.float64
    f64, i64 = types.float64, types.int64
    A1, A2 = T[::1], T[:, ::1]
    # Training data may be read-only (memory maps); mutable arrays convert.
    R1 = types.Array(T, 1, "C", readonly=True)
    R2 = types.Array(T, 2, "C", readonly=True)
    I1 = i64[::1]
    H1, H2 = f64[::1], f64[:, ::1]
    act_fwd = types.FunctionType(types.void(i64, A2, A2, H2))
    act_bwd = types.FunctionType(types.void(i64, A2, A2, A2, H2))
    opt = types.FunctionType(types.void(A1, A1, A2, H1, f64, i64))
    reg = types.FunctionType(f64(A1, A1, H1, f64))
    return {
        "act_fwd": act_fwd.signature,
        "act_bwd": act_bwd.signature,
        "opt": opt.signature,
        "reg": reg.signature,
        "train_epoch": f64(A1, R2, R2, R1, I1, i64, types.boolean, i64,
                           I1, I1, I1, I1, i64,
                           act_fwd, act_bwd, H2, i64, f64,
                           opt, A2, H1, H1, i64,
                           reg, H1, f64, f64, f64,
                           H1, f64, f64,
                           A1, A1, A1, A1, A1, A1, A1, A1, A1, A1, A1),
        "loss_grad": f64(A1, R2, R2, R1, i64, I1, I1, I1, I1, i64,
                         act_fwd, act_bwd, H2, i64, f64, reg, H1, f64,
                         A1, A1, A1, A1, A1, A1, A1, A1),
        "predict": A2(A1, R2, i64, I1, I1, I1, I1, act_fwd, H2, i64,
                      A1, A1, A1, A2),
    }


_KERNELS = {"train_epoch": train_epoch, "loss_grad": loss_grad, "predict": predict}
_compiled = {}


def signatures(dtype):
    """Return the Numba signatures of kernels and blocks for ``dtype``."""
    key = np.dtype(dtype).name
    if key not in _compiled:
        _compiled[key] = {"signatures": _signatures(dtype)}
    return _compiled[key]["signatures"]


def kernel(name, dtype):
    """Return the core kernel ``name`` compiled for ``dtype``.

    Compiled on first use with an explicit signature, or loaded from Numba's
    on-disk cache.
    """
    sigs = signatures(dtype)
    table = _compiled[np.dtype(dtype).name]
    if name not in table:
        table[name] = njit(sigs[name], **jit_options())(_KERNELS[name])
    return table[name]
