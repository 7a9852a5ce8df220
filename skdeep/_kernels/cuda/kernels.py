"""Training kernels for dense networks on NVIDIA GPUs (``numba.cuda``).

This module mirrors :mod:`skdeep._kernels.cpu.mlp`: the same flat ``theta``
layout (weights, intercepts, then batch-norm and learnable-activation
parameters, see :class:`skdeep._network.Layout`), the same ``off`` matrix of
per-layer offsets, the same per-batch buffers (``Z``, ``A``, ``D``, ``H``,
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
- ``_forward``/``_backward``: :meth:`CudaNetwork._forward`/``_backward``,
  host functions launching the kernels;
- the loss block and ``_score_sum``: ``blocks.loss_kernel``;
- the regularizer block, ``_finalize``, frozen-gradient zeroing and
  ``_clip`` by value: ``blocks.regularizer_kernel`` (with per-block norm
  partial sums);
- the optimizer block, global-norm clipping and the frozen restore:
  ``blocks.optimizer_kernel``;
- ``train_epoch``, ``loss_grad``, ``predict``: the :class:`CudaNetwork`
  methods of those names.

Kernels that depend on a plugin (activations, loss, optimizer,
regularizer) are generated from the plugin's scalar functions in
:mod:`skdeep._kernels.cuda.blocks`; the kernels here depend only on the
dtype. Every kernel is written with constructs the real CUDA target
compiles (:func:`skdeep._kernels.cuda.ptx.compile_all` proves it without a
GPU), and every one-dimensional kernel is a grid-stride loop, correct for
any launch size (only the rounding order of sums and the dropout draws
depend on it).

``numba.cuda`` is imported when the first kernels are built, never at
module import.
"""

from __future__ import annotations

import math
import warnings
import weakref
from types import SimpleNamespace

import numpy as np

from ..._network import (
    BN_EPSILON,
    DEFAULT_LOSSES,
    OUT_KINDS,
    Layout,
    check_widths,
    hyperparameter_matrix,
    hyperparameter_vector,
)
from ..cpu.mlp import (
    OFF_A,
    OFF_B,
    OFF_BETA,
    OFF_GAMMA,
    OFF_P,
    OFF_V,
    OFF_W,
    OUT_EXP,
    OUT_IDENTITY,
    OUT_LOGISTIC,
    OUT_SOFTMAX,
)
from . import _device
from ._device import (
    S_LOSS_TOTAL,
    S_PARTIAL,
    S_SCORE,
    S_SW_TOTAL,
    S_TOTAL,
    DeviceKernel,
    cuda_module,
    grid_1d,
    launch_config,
    numba_type,
)

__all__ = [
    "OUT_EXP",
    "OUT_IDENTITY",
    "OUT_LOGISTIC",
    "OUT_SOFTMAX",
    "CudaNetwork",
    "CudaWorkspace",
    "core_kernels",
    "cuda_available",
    "optimizer_block",
    "regularizer_block",
]

# Matrix-product modes: C = A @ B, C = A.T @ B, C = A @ B.T.
MODE_NN, MODE_TN, MODE_NT = 0, 1, 2


def cuda_available():
    """Whether a CUDA device (or Numba's CUDA simulator) can be used.

    Returns
    -------
    bool
        True when :mod:`numba.cuda` imports and ``cuda.is_available()``;
        under ``NUMBA_ENABLE_CUDASIM=1`` the simulator counts as available.
    """
    try:
        from numba import cuda
    except Exception:  # pragma: no cover - numba-cuda missing or broken
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - driver errors
        return False


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
        :class:`~skdeep._kernels.cuda._device.DeviceKernel` attributes
        ``matmul``, ``gather``, ``add_noise``, ``output_activation``,
        ``dropout``, ``batch_norm_forward``, ``batch_norm_backward`` and
        ``fill``; ``config`` is the :class:`LaunchConfig` they were built for.
    """
    config = launch_config()
    key = (np.dtype(dtype).name, config)
    with _device._lock:
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
        "fill": void(T1, i8, i8, f64),
        "fill64": void(F1, i8, i8, f64),
    }
    functions = {
        "matmul": matmul, "gather": gather, "add_noise": add_noise,
        "output_activation": output_activation, "dropout": dropout,
        "batch_norm_forward": batch_norm_forward,
        "batch_norm_backward": batch_norm_backward, "fill": fill,
        "fill64": fill64,
    }
    kernels = SimpleNamespace(config=config, dtype=dtype)
    for name, fn in functions.items():
        setattr(kernels, name, DeviceKernel(name, fn, sigs[name]))
    return kernels


# ---------------------------------------------------------------------------
# Host side: buffers and the minibatch loop
# ---------------------------------------------------------------------------


def _is_device_array(x):
    return not isinstance(x, np.ndarray) and (
        hasattr(x, "copy_to_host") or hasattr(x, "__cuda_array_interface__")
    )


def _to_device(x, dtype=None):
    """``(device array, host array or None)`` for a host or device ``x``.

    A device array is used as is (its dtype must be ``dtype``); a host array
    is copied to a new device array and returned too, so results can be
    copied back into it.
    """
    cuda = cuda_module()
    if _is_device_array(x):
        if not hasattr(x, "copy_to_host"):
            x = cuda.as_cuda_array(x)
        if dtype is not None and np.dtype(x.dtype) != np.dtype(dtype):
            raise TypeError(
                f"device array has dtype {x.dtype}, expected {np.dtype(dtype)}"
            )
        return x, None
    host = np.ascontiguousarray(x, dtype=dtype)
    return cuda.to_device(host), host


def _flat(x):
    """A one-dimensional view of a C-contiguous device array."""
    return x if x.ndim == 1 else x.reshape(x.size)


class CudaWorkspace:
    """Device work buffers for batches of up to ``capacity`` rows.

    Mirrors :class:`skdeep._network.Workspace`: the same buffers (flat,
    on the device) and ``off`` matrix, plus the float64 scalar vector ``S``
    (per-batch sums, running sums and partial sums; see
    :mod:`skdeep._kernels.cuda._device`), the dropout/noise random states,
    and per-epoch uploads (sample order, learning rates, hyperparameters).

    Parameters
    ----------
    layout : skdeep._network.Layout
    capacity : int
    dtype : numpy dtype

    Attributes
    ----------
    grad_d : device array (n_params,)
        The gradient buffer of the kernels.
    grad : ndarray (n_params,)
        Host copy of the gradient of the last :meth:`CudaNetwork.loss_grad`
        (one copy per call; training epochs never copy it).
    totals : ndarray (2,), float64
        Host copy of the last epoch's training-score sum and weight sum.
    """

    def __init__(self, layout, capacity, dtype):
        cuda = cuda_module()
        self.config = launch_config()
        self.dtype = np.dtype(dtype)
        self.capacity = int(capacity)
        self.off = layout.offsets(self.capacity)
        self.a_off = self.off[OFF_A]
        total = int(self.capacity * layout.sizes[1:].sum())

        def buf(n):
            return cuda.device_array(max(int(n), 1), dtype=self.dtype)

        self.Xb = buf(self.capacity * int(layout.sizes[0]))
        self.Yb = buf(self.capacity * int(layout.sizes[-1]))
        self.swb = buf(self.capacity)
        self.Z = buf(total)
        self.A = buf(total)
        self.D = buf(total)
        self.H = buf(total if layout.has_batch_norm else 0)
        self.V = buf(layout.n_unit_values)
        self.grad = np.zeros(layout.n_params, dtype=self.dtype)
        self.grad_d = cuda.to_device(self.grad)
        self.S = cuda.to_device(np.zeros(S_PARTIAL + 2 * self.config.red_blocks))
        self.totals = np.zeros(2)
        self._total = total
        self.M = self.O = buf(0)
        self._states = None
        self._uploads = {}

    def enable_dropout(self):
        """Allocate the dropout mask and output buffers."""
        cuda = cuda_module()
        if self.M.size < self._total:
            self.M = cuda.device_array(self._total, dtype=self.dtype)
            self.O = cuda.device_array(self._total, dtype=self.dtype)

    def enable_mixup(self, n_features=None, n_outputs=None):
        """Mixup needs no buffer on the device (rows are mixed as gathered)."""

    def random_states(self, seed):
        """The dropout/noise generator states, re-seeded with ``seed``.

        ``config.rng_blocks * config.block`` xoroshiro128+ states (one per
        thread of the dropout and noise kernels), initialized on the host
        and copied once.
        """
        from numba.cuda.random import (
            create_xoroshiro128p_states,
            init_xoroshiro128p_states,
        )

        n = self.config.rng_blocks * self.config.block
        with warnings.catch_warnings():
            if self.config is _device.SIMULATOR:
                # Under the simulator numba-cuda initializes the states in
                # object mode and warns about it (and about uint64 overflow).
                warnings.simplefilter("ignore")
            if self._states is None:
                self._states = create_xoroshiro128p_states(n, seed=int(seed))
            else:
                init_xoroshiro128p_states(self._states, int(seed))
        return self._states

    def upload(self, name, host):
        """Copy a small host array to a reused device buffer named ``name``.

        Parameters
        ----------
        name : str
        host : array_like
            Copied as a C-contiguous array (an empty one as one zero, so
            kernels always receive a valid array).

        Returns
        -------
        device array
            The buffer, reused while shape and dtype stay the same.
        """
        cuda = cuda_module()
        host = np.ascontiguousarray(host)
        if host.size == 0:
            host = np.zeros(1, dtype=host.dtype)
        dev = self._uploads.get(name)
        if dev is None or dev.shape != host.shape or dev.dtype != host.dtype:
            dev = self._uploads[name] = cuda.to_device(host)
        else:
            dev.copy_to_device(host)
        return dev


def _shuffle(order, seed):
    np.random.seed(seed)
    np.random.shuffle(order)


_shuffle_jit = None


def _seeded_shuffle(order, seed):
    """Shuffle ``order`` (int64, in place) exactly as the CPU epoch kernel does.

    The CPU kernel seeds Numba's generator with ``seed`` and shuffles first
    thing; doing the same in a small host ``@njit`` function gives the same
    permutation.
    """
    global _shuffle_jit
    if _shuffle_jit is None:
        from numba import njit

        from ..._compile import jit_options

        _shuffle_jit = njit(**jit_options())(_shuffle)
    _shuffle_jit(order, seed)


class CudaNetwork:
    """A network layout with its CUDA kernels, ready to train and predict.

    Mirrors :class:`skdeep._network.CompiledNetwork` (same constructor,
    same ``train_epoch``/``loss_grad``/``predict`` arguments and results)
    on the GPU. Array arguments may be host NumPy arrays or device arrays
    (Numba device arrays or anything with ``__cuda_array_interface__``).
    Host arrays are copied to the device per call and results copied back
    into them (``theta``, ``opt_state``, ``running``, ``order`` are
    updated in place, as on the CPU); pass device arrays (see
    :meth:`to_device`) to keep data on the device between calls.

    Parameters
    ----------
    layer_units : sequence of int
    activations : list of (ActivationPlugin, dict)
        Hidden activations, one per hidden layer.
    out_activation : str
        ``"identity"``, ``"exp"``, ``"logistic"`` or ``"softmax"``.
    dtype : numpy dtype
    loss : (LossPlugin, dict), optional
        Training loss (default: the canonical loss of ``out_activation``).
    batch_norm : sequence of bool, optional
        Per hidden layer.
    """

    def __init__(self, layer_units, activations, out_activation, dtype,
                 loss=None, batch_norm=None):
        from . import blocks

        learnable = [plugin.learnable is not None for plugin, _ in activations]
        self.layout = Layout(layer_units, batch_norm, learnable)
        self.dtype = np.dtype(dtype)
        self.out_kind = OUT_KINDS[out_activation]
        self.out_activation = out_activation
        self.act_hp = hyperparameter_matrix(activations)
        self.act_fwd, self.act_bwd = blocks.activation_kernels(
            [plugin for plugin, _ in activations], self.dtype
        )
        self.kernels = core_kernels(self.dtype)
        self._loss = loss
        self._loss_kernel = None
        self._act_hp_dev = None
        self._shadow = weakref.WeakKeyDictionary()
        self._predict_ws = None

    # -- helpers -----------------------------------------------------------

    def to_device(self, array):
        """Copy a host array to the device in the network's dtype."""
        return _to_device(array, self.dtype)[0]

    def workspace(self, capacity):
        """A :class:`CudaWorkspace` for batches of up to ``capacity`` rows."""
        return CudaWorkspace(self.layout, capacity, self.dtype)

    def optimizer_block(self, plugin):
        """The CUDA update kernel of an optimizer plugin (for ``train_epoch``)."""
        from . import blocks

        return blocks.optimizer_kernel(plugin, self.dtype)

    def regularizer_block(self, plugin):
        """The CUDA penalty kernel of a regularizer plugin."""
        from . import blocks

        return blocks.regularizer_kernel(plugin, self.dtype)

    def new_running_stats(self):
        """Initial batch-norm running statistics (host): mean 0, variance 1."""
        return self.layout.initial_running_stats(self.dtype)

    def loss_kernel(self):
        """The generated loss kernel and its hyperparameter vector (host)."""
        from . import blocks

        if self._loss_kernel is None:
            if self._loss is None:
                from ..._spec import resolve

                self._loss = resolve("loss", DEFAULT_LOSSES[self.out_activation])
            plugin, hp = self._loss
            self._loss_kernel = (
                blocks.loss_kernel(plugin, self.out_kind, plugin.average_outputs,
                                   self.dtype),
                hyperparameter_vector(hp),
            )
        return self._loss_kernel

    def _act_hp_device(self):
        if self._act_hp_dev is None:
            self._act_hp_dev = cuda_module().to_device(
                np.ascontiguousarray(self.act_hp.ravel()))
        return self._act_hp_dev

    def _workspace(self, ws):
        """The device workspace of ``ws`` (a host ``Workspace`` gets a shadow)."""
        if isinstance(ws, CudaWorkspace):
            return ws
        shadow = self._shadow.get(ws)
        if shadow is None or shadow.capacity != ws.capacity:
            shadow = self._shadow[ws] = self.workspace(ws.capacity)
        if getattr(ws, "M", np.empty(0)).size:
            shadow.enable_dropout()
        return shadow

    def _running(self, running):
        if running is None:
            return cuda_module().to_device(
                np.zeros(max(self.layout.n_unit_values, 1), dtype=self.dtype)), None
        return _to_device(running, self.dtype)

    # -- the passes ----------------------------------------------------------

    def _forward(self, ws, theta, src, src_off, m, train, drop, momentum,
                 running, out, out_off, states):
        """Forward pass of ``m`` rows (device arrays, network dtype).

        Mirrors ``_forward`` of the CPU module: per layer the product with
        the fused intercept into ``ws.Z``, then for hidden layers batch
        normalization (``ws.H``, ``ws.V``; ``running`` updated when
        ``train``), the activation into ``ws.A`` and, when ``train`` and
        ``drop[layer] > 0``, inverted dropout (``ws.M``, ``ws.O``, drawing
        from ``states``); the last layer's output activation goes to
        ``out[out_off:out_off + m * n_outputs]``.

        Parameters
        ----------
        ws : CudaWorkspace
        theta : device array (n_params,)
        src : device array
            Flat input rows, ``m * n_features`` values from ``src_off``.
        src_off, m : int
        train : bool
        drop : sequence of float
            Dropout rate per hidden layer (empty: none).
        momentum : float
            Batch-norm running-statistics momentum.
        running : device array (n_unit_values,)
        out : device array
        out_off : int
        states : device array of xoroshiro128p states, or None
        """
        k = self.kernels
        cfg = k.config
        layout = self.layout
        off = ws.off
        n_layers = len(layout.shapes)
        tile = cfg.tile
        A_in, in_off = src, src_off
        for layer in range(n_layers):
            n_in, n_out = layout.shapes[layer]
            a0 = int(off[OFF_A, layer])
            grid = (math.ceil(n_out / tile), math.ceil(m / tile))
            k.matmul[grid, (tile, tile)](
                A_in, in_off, theta, int(off[OFF_W, layer]), ws.Z, a0, m, n_out,
                n_in, MODE_NN, False, theta, int(off[OFF_B, layer]), theta, -1,
                theta, -1)
            if layer == n_layers - 1:
                k.output_activation[grid_1d(m, cfg), cfg.block](
                    ws.Z, a0, out, out_off, m, n_out, self.out_kind)
                return
            if off[OFF_GAMMA, layer] >= 0:
                k.batch_norm_forward[grid_1d(n_out, cfg), cfg.block](
                    ws.Z, ws.H, a0, m, n_out, ws.V, int(off[OFF_V, layer]),
                    running, theta, int(off[OFF_GAMMA, layer]),
                    int(off[OFF_BETA, layer]), bool(train), float(momentum),
                    BN_EPSILON)
            self.act_fwd[grid_1d(m * n_out, cfg), cfg.block](
                layer, ws.Z, ws.A, a0, m, n_out, self._act_hp_device(),
                self.act_hp.shape[1], theta, int(off[OFF_P, layer]))
            A_in, in_off = ws.A, a0
            if train and layer < len(drop) and drop[layer] > 0.0:
                k.dropout[cfg.rng_blocks, cfg.block](
                    ws.A, ws.M, ws.O, a0, m * n_out, float(drop[layer]), states)
                A_in = ws.O

    def _backward(self, ws, theta, grad, src, src_off, m, accumulate, drop,
                  train):
        """Backpropagate the output deltas in ``ws.D`` into ``grad``.

        Mirrors ``_backward`` of the CPU module: gradients are sums over the
        ``m`` rows; without ``accumulate`` ``grad`` (device, (n_params,))
        is overwritten (its extra parameters zeroed first), else added to.
        ``ws.D`` is overwritten layer by layer with the deltas; ``src``/
        ``src_off`` are the layer-0 inputs as in :meth:`_forward`; ``drop``
        names the hidden layers whose dropout masks ``ws.M`` apply; ``train``
        selects the batch-statistics form of the batch-norm backward.
        """
        k = self.kernels
        cfg = k.config
        layout = self.layout
        off = ws.off
        tile = cfg.tile
        n_layers = len(layout.shapes)
        if not accumulate and layout.n_params > layout.n_core:
            k.fill[grid_1d(layout.n_params - layout.n_core, cfg), cfg.block](
                grad, layout.n_core, layout.n_params, 0.0)
        for layer in range(n_layers - 1, -1, -1):
            n_in, n_out = layout.shapes[layer]
            a0 = int(off[OFF_A, layer])
            prev = layer - 1
            dropped = layer > 0 and prev < len(drop) and drop[prev] > 0.0
            if layer == 0:
                A_in, in_off = src, src_off
            elif dropped:
                A_in, in_off = ws.O, int(off[OFF_A, prev])
            else:
                A_in, in_off = ws.A, int(off[OFF_A, prev])
            # weight gradient A_in.T @ D, and the intercept's column sums of D
            grid = (math.ceil(n_out / tile), math.ceil(n_in / tile))
            k.matmul[grid, (tile, tile)](
                A_in, in_off, ws.D, a0, grad, int(off[OFF_W, layer]), n_in,
                n_out, m, MODE_TN, bool(accumulate), theta, -1, theta, -1,
                grad, int(off[OFF_B, layer]))
            if layer == 0:
                continue
            p0 = int(off[OFF_A, prev])
            # deltas of the previous layer D @ W.T, times its dropout mask
            grid = (math.ceil(n_in / tile), math.ceil(m / tile))
            k.matmul[grid, (tile, tile)](
                ws.D, a0, theta, int(off[OFF_W, layer]), ws.D, p0, m, n_in,
                n_out, MODE_NT, False, theta, -1, ws.M, p0 if dropped else -1,
                theta, -1)
            self.act_bwd[grid_1d(m * n_in, cfg), cfg.block](
                prev, ws.Z, ws.A, ws.D, p0, m, n_in, self._act_hp_device(),
                self.act_hp.shape[1], theta, int(off[OFF_P, prev]), grad)
            if off[OFF_GAMMA, prev] >= 0:
                k.batch_norm_backward[grid_1d(n_in, cfg), cfg.block](
                    ws.D, ws.H, p0, m, n_in, ws.V, int(off[OFF_V, prev]), theta,
                    int(off[OFF_GAMMA, prev]), grad, int(off[OFF_GAMMA, prev]),
                    int(off[OFF_BETA, prev]), bool(train))

    # -- public kernels --------------------------------------------------------

    def predict(self, theta, X, running=None, chunk=4096):
        """Network outputs for every row of ``X``.

        Parameters
        ----------
        theta : array (n_params,)
            Host or device, network dtype.
        X : array (n_samples, n_features)
            Host or device, network dtype, C-contiguous.
        running : array, optional
            Batch-norm running statistics (zeros when omitted).
        chunk : int, default=4096
            Rows per forward pass.

        Returns
        -------
        array (n_samples, n_outputs)
            A host array when ``X`` is a host array, else a device array.
        """
        cuda = cuda_module()
        layout = self.layout
        X_d, X_host = _to_device(X, self.dtype)
        n = X_d.shape[0]
        k_out = int(layout.sizes[-1])
        if n == 0:
            out = np.empty((0, k_out), dtype=self.dtype)
            return out if X_host is not None else cuda.to_device(out)
        theta_d, _ = _to_device(theta, self.dtype)
        running_d, _ = self._running(running)
        capacity = max(1, min(int(chunk), n))
        ws = self._predict_ws
        if ws is None or ws.capacity != capacity:
            ws = self._predict_ws = self.workspace(capacity)
        out = cuda.device_array(n * k_out, dtype=self.dtype)
        Xf = _flat(X_d)
        d = int(layout.sizes[0])
        for start in range(0, n, capacity):
            m = min(capacity, n - start)
            self._forward(ws, theta_d, Xf, start * d, m, False, (), 0.0,
                          running_d, out, start * k_out, None)
        out = out.reshape(n, k_out)
        return out.copy_to_host() if X_host is not None else out

    def loss_grad(self, theta, X, Y, sw, reg_block, reg_hp, alpha, ws,
                  running=None, train=False):
        """Full-data loss; the gradient is left in ``ws.grad``.

        Arguments as :meth:`skdeep._network.CompiledNetwork.loss_grad`.
        ``reg_block`` is a CUDA regularizer kernel
        (:func:`skdeep._kernels.cuda.blocks.regularizer_kernel`) or a
        :class:`~skdeep.plugin_types.RegularizerPlugin`. ``ws`` is a
        :class:`CudaWorkspace` or a host :class:`~skdeep._network.Workspace`
        (then a device workspace of the same capacity shadows it). Either
        way ``ws.grad`` is a host array that receives the gradient (one
        copy per call; it stays in ``ws.grad_d`` on the device too). Rows go
        through ``ws.capacity`` at a time; batch normalization uses the
        running statistics unless ``train``.

        Returns
        -------
        float
            The regularized, sample-weighted mean loss.
        """
        from . import blocks

        layout = self.layout
        check_widths(layout, X, Y)
        k = self.kernels
        cfg = k.config
        dws = self._workspace(ws)
        reg = blocks.as_regularizer_kernel(reg_block, self.dtype)
        loss_kernel, loss_hp = self.loss_kernel()
        theta_d, _ = _to_device(theta, self.dtype)
        X_d, _ = _to_device(X, self.dtype)
        Y_d, _ = _to_device(Y, self.dtype)
        sw_d, _ = _to_device(sw, self.dtype)
        running_d, running_host = self._running(running)
        Xf, Yf, swf = _flat(X_d), _flat(Y_d), _flat(sw_d)
        n = X_d.shape[0]
        d = int(layout.sizes[0])
        k_out = int(layout.sizes[-1])
        last = len(layout.shapes) - 1
        a_last = int(dws.off[OFF_A, last])
        S = dws.S
        grad = dws.grad_d
        loss_hp_d = dws.upload("loss_hp", loss_hp)
        reg_hp_d = dws.upload("reg_hp", np.asarray(reg_hp, dtype=np.float64))
        k.fill64[1, cfg.block](S, 0, S.size, 0.0)
        chunk = dws.capacity
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            self._forward(dws, theta_d, Xf, start * d, m, train, (), 0.9,
                          running_d, dws.A, a_last, None)
            loss_kernel[1, cfg.block](
                dws.A, a_last, Yf, start * k_out, swf, start, m, k_out, loss_hp_d,
                dws.D, a_last, S, False)
            self._backward(dws, theta_d, grad, Xf, start * d, m, start > 0, (),
                           train)
        n_part = grid_1d(layout.n_params, cfg, cfg.red_blocks)
        dummy = dws.upload("no_frozen", np.zeros(2, dtype=np.int64))
        reg[n_part, cfg.block](
            theta_d, grad, layout.n_weights, layout.n_params, reg_hp_d,
            float(alpha), S, 1, dummy, 0, 0.0)
        s = S.copy_to_host()
        sw_total = s[S_SW_TOTAL]
        penalty = 0.0
        if alpha != 0.0:
            penalty = s[S_PARTIAL:S_PARTIAL + 2 * n_part:2].sum() * alpha
        ws.grad[:] = grad.copy_to_host()
        if running_host is not None and train:
            running[:] = running_d.copy_to_host()
        return float(s[S_LOSS_TOTAL] / sw_total + penalty * (1.0 / sw_total))

    def train_epoch(self, theta, X, Y, sw, order, batch_size, shuffle, seed,
                    opt_block, opt_state, opt_hp, lrs, t0, reg_block, reg_hp,
                    alpha, ws, clip_value=0.0, clip_norm=0.0, dropout=None,
                    noise_std=0.0, mixup_alpha=0.0, running=None,
                    bn_momentum=0.9, frozen=None):
        """One epoch of minibatch training; returns sum of ``batch_loss * m``.

        Arguments as :meth:`skdeep._network.CompiledNetwork.train_epoch`,
        except that ``opt_block``/``reg_block`` are CUDA kernels
        (:func:`skdeep._kernels.cuda.blocks.optimizer_kernel`,
        :func:`~skdeep._kernels.cuda.blocks.regularizer_kernel`) or the
        plugin records, and that arrays may live on the device. ``theta``,
        ``opt_state`` (n_state, n_params), ``running`` and ``order`` are
        updated in place; ``ws.totals`` receives the training-score and
        weight sums.

        With ``shuffle`` the order is shuffled on the host with the CPU
        kernel's generator (same ``seed``, same order) and uploaded once.
        Dropout and input noise draw from device generators seeded with
        ``seed``, mixup from ``numpy.random.RandomState(seed)``: their
        random numbers differ from the CPU's, their distributions do not.
        """
        from . import blocks

        cuda = cuda_module()
        layout = self.layout
        check_widths(layout, X, Y)
        k = self.kernels
        cfg = k.config
        dws = self._workspace(ws)
        opt = blocks.as_optimizer_kernel(opt_block, self.dtype)
        reg = blocks.as_regularizer_kernel(reg_block, self.dtype)
        loss_kernel, loss_hp = self.loss_kernel()

        theta_d, theta_host = _to_device(theta, self.dtype)
        X_d, _ = _to_device(X, self.dtype)
        Y_d, _ = _to_device(Y, self.dtype)
        sw_d, _ = _to_device(sw, self.dtype)
        if np.size(opt_state):
            state_d, state_host = _to_device(opt_state, self.dtype)
            state_f = _flat(state_d)
        else:  # stateless optimizer: theta stands in for the unused argument
            state_d = state_host = None
            state_f = theta_d
        running_d, running_host = self._running(running)
        Xf, Yf, swf = _flat(X_d), _flat(Y_d), _flat(sw_d)
        n = X_d.shape[0]
        d = int(layout.sizes[0])
        k_out = int(layout.sizes[-1])
        n_params = layout.n_params

        # Per-epoch uploads: order, learning rates, hyperparameters, segments.
        order_dev = _is_device_array(order)
        order_host = order.copy_to_host() if order_dev else order
        if shuffle:
            _seeded_shuffle(order_host, seed)
            if order_dev:
                order.copy_to_device(order_host)
        order_d = dws.upload("order", np.asarray(order_host, dtype=np.int64))
        lrs_d = dws.upload("lrs", np.asarray(lrs, dtype=np.float64))
        opt_hp_d = dws.upload("opt_hp", np.asarray(opt_hp, dtype=np.float64))
        reg_hp_d = dws.upload("reg_hp", np.asarray(reg_hp, dtype=np.float64))
        loss_hp_d = dws.upload("loss_hp", loss_hp)
        drop = () if dropout is None else np.asarray(dropout, dtype=np.float64)
        frozen = (np.zeros((0, 2), dtype=np.int64) if frozen is None
                  else np.asarray(frozen, dtype=np.int64).reshape(-1, 2))
        n_frozen = len(frozen)
        frozen_d = dws.upload("frozen", frozen.ravel())
        theta_frozen = theta_d
        if n_frozen:
            theta_frozen = cuda.device_array_like(theta_d)
            theta_frozen.copy_to_device(theta_d)
        states = None
        if noise_std > 0.0 or any(r > 0.0 for r in drop):
            if any(r > 0.0 for r in drop):
                dws.enable_dropout()
            states = dws.random_states(seed)
        mixing = mixup_alpha > 0.0
        if mixing:
            rs = np.random.RandomState(seed)
            perm = np.empty(n, dtype=np.int64)
            lams = []
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                lams.append(rs.beta(mixup_alpha, mixup_alpha))
                perm[start:start + m] = rs.permutation(m)
            perm_d = dws.upload("mix_perm", perm)
            lams_d = dws.upload("mix_lam", np.asarray(lams, dtype=np.float64))
        else:
            perm_d = dws.upload("no_perm", np.zeros(1, dtype=np.int64))
            lams_d = dws.upload("no_lam", np.zeros(1))

        S = dws.S
        grad = dws.grad_d
        last = len(layout.shapes) - 1
        a_last = int(dws.off[OFF_A, last])
        prepare = (alpha != 0.0 or n_frozen > 0 or clip_value > 0.0
                   or clip_norm > 0.0)
        n_part = grid_1d(n_params, cfg, cfg.red_blocks) if prepare else 0
        k.fill64[1, cfg.block](S, 0, S.size, 0.0)
        step = 0
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            k.gather[grid_1d(m * max(d, k_out), cfg), cfg.block](
                Xf, Yf, swf, order_d, start, m, d, k_out, dws.Xb, dws.Yb,
                dws.swb, perm_d, lams_d, step if mixing and m > 1 else -1)
            if noise_std > 0.0:
                k.add_noise[cfg.rng_blocks, cfg.block](
                    dws.Xb, m * d, float(noise_std), states)
            self._forward(dws, theta_d, dws.Xb, 0, m, True, drop, bn_momentum,
                          running_d, dws.A, a_last, states)
            loss_kernel[1, cfg.block](
                dws.A, a_last, dws.Yb, 0, dws.swb, 0, m, k_out, loss_hp_d, dws.D,
                a_last, S, True)
            self._backward(dws, theta_d, grad, dws.Xb, 0, m, False, drop, True)
            if prepare:
                reg[n_part, cfg.block](
                    theta_d, grad, layout.n_weights, n_params, reg_hp_d,
                    float(alpha), S, 0, frozen_d, n_frozen, float(clip_value))
            opt[grid_1d(n_params, cfg), cfg.block](
                theta_d, grad, state_f, n_params, opt_hp_d, lrs_d, step,
                float(t0 + step + 1), S, n_part, m, float(alpha),
                float(clip_norm), frozen_d, n_frozen, theta_frozen)
            step += 1

        s = S.copy_to_host()
        dws.totals[0] = s[S_SCORE]
        dws.totals[1] = s[S_SW_TOTAL]
        if not isinstance(ws, CudaWorkspace):
            ws.totals[:] = dws.totals
        if theta_host is not None:
            theta[...] = theta_d.copy_to_host()
        if state_host is not None:
            opt_state[...] = state_d.copy_to_host()
        if running_host is not None:
            running[...] = running_d.copy_to_host()
        return float(s[S_TOTAL])


def optimizer_block(plugin, dtype):
    """CUDA update kernel of an optimizer plugin (as ``_network.optimizer_block``)."""
    from . import blocks

    return blocks.optimizer_kernel(plugin, dtype)


def regularizer_block(plugin, dtype):
    """CUDA gradient-preparation kernel of a regularizer plugin."""
    from . import blocks

    return blocks.regularizer_kernel(plugin, dtype)

