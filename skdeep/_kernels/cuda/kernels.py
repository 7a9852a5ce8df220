"""Training kernels for dense networks on NVIDIA GPUs (``numba.cuda``).

This module mirrors :mod:`skdeep._kernels.cpu.kernels`: the same flat
``theta`` layout (weights, intercepts, then batch-norm and
learnable-activation parameters, see :mod:`skdeep._kernels.layout`), the
same ``off`` matrix of per-layer offsets, the same per-batch buffers (``Z``, ``A``, ``D``, ``H``,
``M``, ``O`` share the ``OFF_A`` offsets) and the same math, so a theta
fitted on one device runs on the other.

The CPU runs a whole epoch inside one compiled call; here the host runs the
loop over minibatches and launches one kernel per step of the CPU kernel
(gather, per layer a tiled matrix product, batch normalization, activation,
dropout; the loss; per layer the weight and delta products; gradient
preparation; the optimizer update). Everything stays on the device during
an epoch: the per-batch loss, weight sums and norms live in a small float64
vector ``S`` on the device, read back once per epoch (``train_epoch``) or
per call (``loss_grad``).

Where the CPU's helpers went:

- ``np.dot`` and the intercept loop: ``matmul`` (modes NN/TN/NT, with the
  intercept, the dropout mask and the intercept-gradient column sums fused
  into its epilogue);
- ``_gather`` and ``_augment``: ``gather`` (mixup fused) and ``add_noise``;
- ``_output_activation``: ``output_activation``;
- dropout in ``_forward``: ``dropout`` (xoroshiro128+ device generators);
- ``_batch_norm_forward``/``_batch_norm_backward``: ``batch_norm_forward``/
  ``batch_norm_backward``;
- ``_layer_norm_forward``/``_layer_norm_backward``: ``layer_norm_forward``/
  ``layer_norm_params_grad`` (the scale and shift gradients, one thread per
  unit) and ``layer_norm_backward`` (the deltas, one thread per row);
- ``_forward``/``_backward``: ``CudaNetwork._forward``/``_backward`` in
  :mod:`.network`, host functions launching the kernels;
- the loss block and ``_score_sum``: ``blocks.loss_block``;
- the regularizer block, ``_finalize``, frozen-gradient zeroing and
  ``_clip`` by value: ``blocks.regularizer_block`` (with per-block norm
  partial sums);
- the optimizer block, global-norm clipping and the frozen restore:
  ``blocks.optimizer_block``;
- ``train_epoch``, ``loss_grad``, ``predict``: the ``CudaNetwork``
  methods of those names in :mod:`.network`.

Kernels that depend on a plugin (activations, loss, optimizer,
regularizer) are generated from the plugin's scalar functions in
:mod:`.blocks`; the kernels here depend only on the
dtype. Every kernel is written with constructs the real CUDA target
compiles (:func:`.ptx.compile_all` proves it without a
GPU), and every one-dimensional kernel is a grid-stride loop, correct for
any launch size (only the rounding order of sums and the dropout draws
depend on it).

``numba.cuda`` is imported when the first kernels are built, never at
module import.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np

from . import compile as cuda_compile
from .compile import DeviceKernel, cuda_module, launch_config, numba_type

# Matrix-product modes: C = A @ B, C = A.T @ B, C = A @ B.T.
MODE_NN, MODE_TN, MODE_NT = 0, 1, 2


# ---------------------------------------------------------------------------
# Core kernels (per dtype)
# ---------------------------------------------------------------------------

_core = {}


def _array_types(dtype):
    import numba

    T = numba_type(dtype)
    return T[::1], numba.float64[::1], numba.int64[::1]


def core_kernels(dtype):
    """The dtype-specific kernels, built on first use (memoized).

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    types.SimpleNamespace
        :class:`~.compile.DeviceKernel` attributes
        ``matmul``, ``gather``, ``add_noise``, ``output_activation``,
        ``dropout``, ``batch_norm_forward``, ``batch_norm_backward``,
        ``layer_norm_forward``, ``layer_norm_params_grad``,
        ``layer_norm_backward`` and ``fill``; ``config`` is the :class:`LaunchConfig` they were built for.
    """
    config = launch_config()
    key = (np.dtype(dtype).name, config)
    with cuda_compile._lock:
        kernels = _core.get(key)
        if kernels is None:
            kernels = _core[key] = _build_core(np.dtype(dtype), config)
        return kernels


# numba.cuda, imported when the first kernels are built. Kernels must reach
# it as a module global: the simulator swaps globals (not closure cells)
# for its fake module during a launch.
cuda = None


def _build_core(dtype, config):
    global cuda
    import numba
    from numba import int64, void

    with warnings.catch_warnings():
        # Under the simulator numba-cuda's generator module is decorated for
        # object mode, which Numba reports as deprecated on import.
        warnings.simplefilter("ignore", numba.NumbaDeprecationWarning)
        from numba.cuda import random as curand

    cuda = cuda_module()
    T = numba_type(dtype)
    T1, F1, I1 = _array_types(dtype)
    R1 = curand.xoroshiro128p_type[::1]
    f64, b1 = numba.float64, numba.boolean
    zero = T(0.0)
    if dtype == np.float32:
        uniform = curand.xoroshiro128p_uniform_float32
        normal = curand.xoroshiro128p_normal_float32
    else:
        uniform = curand.xoroshiro128p_uniform_float64
        normal = curand.xoroshiro128p_normal_float64
    tile = config.tile
    padded = tile + 1  # shared tiles padded by a column: no bank conflicts

    def matmul(A, a_off, B, b_off, C, c_off, M, N, K, mode, accumulate,
               bias, bias_off, mask, mask_off, colsum, cs_off):
        """``C[M, N] (+)= op(A) @ op(B)`` with a fused epilogue.

        Flat row-major operands start at their offsets. ``mode``: 0 ``A``
        is (M, K) and ``B`` (K, N); 1 ``A`` is stored (K, M) and used
        transposed; 2 ``B`` is stored (N, K) and used transposed. The
        epilogue adds ``bias[bias_off + col]`` (when ``bias_off >= 0``),
        multiplies by ``mask[mask_off + row * N + col]`` (when ``mask_off
        >= 0``), then stores or, with ``accumulate``, adds to ``C``. When
        ``cs_off >= 0`` the column sums of ``op(B)`` over ``K`` are stored
        (or added) to ``colsum[cs_off:cs_off + N]`` (bias gradients).
        Launch with ``grid=(ceil(N / tile), ceil(M / tile))`` and
        ``block=(tile, tile)``.
        """
        sA = cuda.shared.array((tile, padded), T)
        sB = cuda.shared.array((tile, padded), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row0 = cuda.blockIdx.y * tile
        col0 = cuda.blockIdx.x * tile
        row = row0 + ty
        col = col0 + tx
        do_cs = cs_off >= 0 and cuda.blockIdx.y == 0 and ty == 0
        acc = zero
        csum = zero
        for k0 in range(0, K, tile):
            if mode == 1:
                k = k0 + ty
                r = row0 + tx
                sA[tx, ty] = A[a_off + k * M + r] if (k < K and r < M) else zero
            else:
                k = k0 + tx
                sA[ty, tx] = A[a_off + row * K + k] if (row < M and k < K) else zero
            if mode == 2:
                k = k0 + tx
                c = col0 + ty
                sB[tx, ty] = B[b_off + c * K + k] if (c < N and k < K) else zero
            else:
                k = k0 + ty
                sB[ty, tx] = B[b_off + k * N + col] if (k < K and col < N) else zero
            cuda.syncthreads()
            for kk in range(tile):
                acc += sA[ty, kk] * sB[kk, tx]
            if do_cs:
                for kk in range(tile):
                    csum += sB[kk, tx]
            cuda.syncthreads()
        if row < M and col < N:
            v = acc
            if bias_off >= 0:
                v += bias[bias_off + col]
            if mask_off >= 0:
                v *= mask[mask_off + row * N + col]
            idx = c_off + row * N + col
            if accumulate:
                C[idx] += v
            else:
                C[idx] = v
        if do_cs and col < N:
            if accumulate:
                colsum[cs_off + col] += csum
            else:
                colsum[cs_off + col] = csum

    def gather(X, Y, sw, order, start, m, d, k, Xb, Yb, swb, perm, lams, lam_idx):
        """Copy rows ``order[start:start + m]`` into the batch buffers.

        With ``lam_idx >= 0`` (mixup) row ``i`` becomes ``lam * row_i + (1 -
        lam) * row_perm[start + i]`` of the same batch, ``lam =
        lams[lam_idx]``, for ``X``, ``Y`` and ``sw`` alike.
        """
        i0 = cuda.grid(1)
        stride = cuda.gridsize(1)
        mix = lam_idx >= 0
        lam = lams[lam_idx] if mix else 1.0
        for idx in range(i0, m * d, stride):
            i = idx // d
            j = idx - i * d
            x = X[order[start + i] * d + j]
            if mix:
                p = order[start + perm[start + i]]
                x = lam * x + (1.0 - lam) * X[p * d + j]
            Xb[idx] = x
        for idx in range(i0, m * k, stride):
            i = idx // k
            j = idx - i * k
            y = Y[order[start + i] * k + j]
            if mix:
                p = order[start + perm[start + i]]
                y = lam * y + (1.0 - lam) * Y[p * k + j]
            Yb[idx] = y
        for i in range(i0, m, stride):
            w = sw[order[start + i]]
            if mix:
                w = lam * w + (1.0 - lam) * sw[order[start + perm[start + i]]]
            swb[i] = w

    def add_noise(Xb, n, std, states):
        """``Xb[:n] += std * N(0, 1)``; thread ``t`` draws from ``states[t]``."""
        t = cuda.grid(1)
        for idx in range(t, n, cuda.gridsize(1)):
            Xb[idx] += std * normal(states, t)

    def output_activation(Z, z_off, A, a_off, m, k, out_kind):
        """Output activation of ``m`` rows of ``k`` values, one thread per row.

        ``out_kind``: 0 identity, 1 exp, 2 logistic, 3 softmax (with the
        row maximum subtracted). Reads ``Z[z_off:]``, writes ``A[a_off:]``.
        """
        for i in range(cuda.grid(1), m, cuda.gridsize(1)):
            zi = z_off + i * k
            ai = a_off + i * k
            if out_kind == 3:
                zmax = Z[zi]
                for j in range(1, k):
                    zmax = max(zmax, Z[zi + j])
                total = 0.0
                for j in range(k):
                    A[ai + j] = math.exp(Z[zi + j] - zmax)
                    total += A[ai + j]
                for j in range(k):
                    A[ai + j] = A[ai + j] / total
            else:
                for j in range(k):
                    z = Z[zi + j]
                    if out_kind == 0:
                        A[ai + j] = z
                    elif out_kind == 1:
                        A[ai + j] = math.exp(z)
                    elif z >= 0:
                        A[ai + j] = 1.0 / (1.0 + math.exp(-z))
                    else:
                        e = math.exp(z)
                        A[ai + j] = e / (1.0 + e)

    def dropout(A, M, Out, off, n, rate, states):
        """Inverted dropout of ``A[off:off + n]``.

        ``M`` receives the mask (0 or ``1 / (1 - rate)``) and ``Out`` the
        masked values; thread ``t`` draws from ``states[t]``.
        """
        t = cuda.grid(1)
        keep = T(1.0 / (1.0 - rate))
        for idx in range(t, n, cuda.gridsize(1)):
            mv = keep if uniform(states, t) >= rate else zero
            M[off + idx] = mv
            Out[off + idx] = A[off + idx] * mv

    def batch_norm_forward(Z, H, off, m, n, V, v_off, running, theta, g_off,
                           b_off, train, momentum, eps):
        """Normalize ``Z[off:]`` (m, n) in place to ``gamma * H + beta``.

        One thread per column. ``train``: batch mean and (biased) variance,
        and the running statistics ``running[v_off:v_off + 2n]`` move
        towards them with ``momentum`` (unbiased variance); otherwise the
        running statistics are used. ``V[v_off:v_off + 2n]`` receives the
        mean and inverse standard deviation used, ``H`` the normalized
        values.
        """
        for j in range(cuda.grid(1), n, cuda.gridsize(1)):
            if train:
                s = zero
                for i in range(m):
                    s += Z[off + i * n + j]
                mean = T(s / m)
                q = zero
                for i in range(m):
                    c = Z[off + i * n + j] - mean
                    q += c * c
                unbias = m / (m - 1.0) if m > 1 else 1.0
                var = q / m
                running[v_off + j] = (momentum * running[v_off + j]
                                      + (1.0 - momentum) * mean)
                running[v_off + n + j] = (momentum * running[v_off + n + j]
                                          + (1.0 - momentum) * var * unbias)
                inv = T(1.0 / math.sqrt(var + eps))
            else:
                mean = running[v_off + j]
                inv = T(1.0 / math.sqrt(running[v_off + n + j] + eps))
            V[v_off + j] = mean
            V[v_off + n + j] = inv
            gamma = theta[g_off + j]
            beta = theta[b_off + j]
            for i in range(m):
                idx = off + i * n + j
                h = (Z[idx] - mean) * inv
                H[idx] = h
                Z[idx] = gamma * h + beta

    def batch_norm_backward(D, H, off, m, n, V, v_off, theta, g_off, grad,
                            gg_off, gb_off, train):
        """Deltas w.r.t. the normalized output into deltas w.r.t. ``Z``.

        One thread per column; adds the scale and shift gradients to
        ``grad[gg_off + j]`` and ``grad[gb_off + j]`` and rewrites
        ``D[off:]`` (m, n) in place.
        """
        for j in range(cuda.grid(1), n, cuda.gridsize(1)):
            dgamma = 0.0
            dbeta = 0.0
            for i in range(m):
                idx = off + i * n + j
                dgamma += D[idx] * H[idx]
                dbeta += D[idx]
            grad[gg_off + j] += dgamma
            grad[gb_off + j] += dbeta
            gamma = theta[g_off + j]
            inv = V[v_off + n + j]
            for i in range(m):
                idx = off + i * n + j
                if train:
                    D[idx] = gamma * inv / m * (m * D[idx] - dbeta - H[idx] * dgamma)
                else:
                    D[idx] = gamma * inv * D[idx]

    def layer_norm_forward(Z, H, off, m, n, V, r_off, theta, g_off, b_off,
                           eps):
        """Normalize each row of ``Z[off:]`` (m, n) in place to
        ``gamma * H + beta``.

        One thread per row: mean and (biased) variance over the row's
        units, ``H`` the normalized values, ``V[r_off + i]`` the row's
        inverse standard deviation. The same at training and prediction.
        """
        eps_t = T(eps)
        for i in range(cuda.grid(1), m, cuda.gridsize(1)):
            row = off + i * n
            s = zero
            for j in range(n):
                s += Z[row + j]
            mean = s / T(n)
            q = zero
            for j in range(n):
                c = Z[row + j] - mean
                q += c * c
            inv = T(1.0) / math.sqrt(q / T(n) + eps_t)
            V[r_off + i] = inv
            for j in range(n):
                h = (Z[row + j] - mean) * inv
                H[row + j] = h
                Z[row + j] = theta[g_off + j] * h + theta[b_off + j]

    def layer_norm_params_grad(D, H, off, m, n, grad, gg_off, gb_off):
        """Add the layer-norm scale and shift gradients of ``D[off:]``
        (m, n; deltas w.r.t. the normalized output) to ``grad``.

        One thread per unit; launch before :func:`layer_norm_backward`,
        which overwrites ``D``.
        """
        for j in range(cuda.grid(1), n, cuda.gridsize(1)):
            dgamma = zero
            dbeta = zero
            for i in range(m):
                idx = off + i * n + j
                dgamma += D[idx] * H[idx]
                dbeta += D[idx]
            grad[gg_off + j] += dgamma
            grad[gb_off + j] += dbeta

    def layer_norm_backward(D, H, off, m, n, V, r_off, theta, g_off):
        """Deltas w.r.t. the normalized output into deltas w.r.t. ``Z``.

        One thread per row; with ``g = gamma * D`` the row becomes
        ``inv / n * (n * g - sum(g) - H * sum(g * H))``.
        """
        for i in range(cuda.grid(1), m, cuda.gridsize(1)):
            row = off + i * n
            s1 = zero
            s2 = zero
            for j in range(n):
                g = theta[g_off + j] * D[row + j]
                s1 += g
                s2 += g * H[row + j]
            r = V[r_off + i] / T(n)
            for j in range(n):
                D[row + j] = r * (T(n) * theta[g_off + j] * D[row + j] - s1
                                  - H[row + j] * s2)

    def fill(x, lo, hi, value):
        """``x[lo:hi] = value``."""
        for i in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
            x[i] = value

    def fill64(x, lo, hi, value):
        """``x[lo:hi] = value`` for float64 ``x`` (the scalar vector)."""
        for i in range(lo + cuda.grid(1), hi, cuda.gridsize(1)):
            x[i] = value

    i8 = int64
    sigs = {
        "matmul": void(T1, i8, T1, i8, T1, i8, i8, i8, i8, i8, b1,
                       T1, i8, T1, i8, T1, i8),
        "gather": void(T1, T1, T1, I1, i8, i8, i8, i8, T1, T1, T1, I1, F1, i8),
        "add_noise": void(T1, i8, f64, R1),
        "output_activation": void(T1, i8, T1, i8, i8, i8, i8),
        "dropout": void(T1, T1, T1, i8, i8, f64, R1),
        "batch_norm_forward": void(T1, T1, i8, i8, i8, T1, i8, T1, T1, i8, i8,
                                   b1, f64, f64),
        "batch_norm_backward": void(T1, T1, i8, i8, i8, T1, i8, T1, i8, T1, i8,
                                    i8, b1),
        "layer_norm_forward": void(T1, T1, i8, i8, i8, T1, i8, T1, i8, i8, f64),
        "layer_norm_params_grad": void(T1, T1, i8, i8, i8, T1, i8, i8),
        "layer_norm_backward": void(T1, T1, i8, i8, i8, T1, i8, T1, i8),
        "fill": void(T1, i8, i8, f64),
        "fill64": void(F1, i8, i8, f64),
    }
    functions = {
        "matmul": matmul, "gather": gather, "add_noise": add_noise,
        "output_activation": output_activation, "dropout": dropout,
        "batch_norm_forward": batch_norm_forward,
        "batch_norm_backward": batch_norm_backward,
        "layer_norm_forward": layer_norm_forward,
        "layer_norm_params_grad": layer_norm_params_grad,
        "layer_norm_backward": layer_norm_backward, "fill": fill,
        "fill64": fill64,
    }
    kernels = SimpleNamespace(config=config, dtype=dtype)
    for name, fn in functions.items():
        setattr(kernels, name, DeviceKernel(name, fn, sigs[name]))
    return kernels
