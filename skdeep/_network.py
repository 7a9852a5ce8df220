"""Flat parameter layout, work buffers and the resolved plugin blocks.

This is the bridge between the estimators (which speak sklearn's
``coefs_``/``intercepts_``) and the kernels (which see one flat vector).
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from ._kernels.cpu import blocks as cpu_blocks
from ._kernels.cpu import mlp as cpu_mlp

OUT_KINDS = {
    "identity": cpu_mlp.OUT_IDENTITY,
    "exp": cpu_mlp.OUT_EXP,
    "logistic": cpu_mlp.OUT_LOGISTIC,
    "softmax": cpu_mlp.OUT_SOFTMAX,
}


class Layout:
    """Offsets of every layer's parameters in the flat vector.

    Parameters
    ----------
    layer_units : sequence of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    batch_norm : sequence of bool, optional
        Per hidden layer: whether it has batch normalization (a scale and a
        shift per unit in ``theta``, running statistics outside it).
    learnable : sequence of bool, optional
        Per hidden layer: whether its activation has a learned parameter
        per unit.
    """

    def __init__(self, layer_units, batch_norm=None, learnable=None):
        self.sizes = np.asarray(layer_units, dtype=np.int64)
        n_layers = len(self.sizes) - 1
        n_hidden = n_layers - 1
        self.batch_norm = [bool(b) for b in (batch_norm or [False] * n_hidden)]
        self.learnable = [bool(b) for b in (learnable or [False] * n_hidden)]
        self.shapes = [(int(self.sizes[i]), int(self.sizes[i + 1]))
                       for i in range(n_layers)]
        self.w_off = np.zeros(n_layers, dtype=np.int64)
        self.b_off = np.zeros(n_layers, dtype=np.int64)
        self.gamma_off = np.full(n_layers, -1, dtype=np.int64)
        self.beta_off = np.full(n_layers, -1, dtype=np.int64)
        self.param_off = np.full(n_layers, -1, dtype=np.int64)
        offset = 0
        for i, (fan_in, fan_out) in enumerate(self.shapes):
            self.w_off[i] = offset
            offset += fan_in * fan_out
        self.n_weights = offset
        for i, (_, fan_out) in enumerate(self.shapes):
            self.b_off[i] = offset
            offset += fan_out
        self.n_core = offset
        for i in range(n_hidden):
            width = self.shapes[i][1]
            if self.batch_norm[i]:
                self.gamma_off[i] = offset
                self.beta_off[i] = offset + width
                offset += 2 * width
            if self.learnable[i]:
                self.param_off[i] = offset
                offset += width
        self.n_params = offset
        # Per-unit buffers (batch-norm statistics): two vectors per layer.
        widths = self.sizes[1:]
        self.v_off = np.concatenate(([0], np.cumsum(2 * widths)[:-1])).astype(np.int64)
        self.n_unit_values = int(2 * widths.sum())

    @property
    def has_batch_norm(self):
        return any(self.batch_norm)

    def a_off(self, capacity):
        """Offsets of each layer's block in the per-batch buffers."""
        widths = self.sizes[1:] * capacity
        return np.concatenate(([0], np.cumsum(widths)[:-1])).astype(np.int64)

    def offsets(self, capacity):
        """The kernels' ``off`` matrix for batches of ``capacity`` rows."""
        from ._kernels.cpu import mlp

        off = np.empty((mlp.N_OFF_ROWS, len(self.shapes)), dtype=np.int64)
        off[mlp.OFF_W] = self.w_off
        off[mlp.OFF_B] = self.b_off
        off[mlp.OFF_A] = self.a_off(capacity)
        off[mlp.OFF_V] = self.v_off
        off[mlp.OFF_GAMMA] = self.gamma_off
        off[mlp.OFF_BETA] = self.beta_off
        off[mlp.OFF_P] = self.param_off
        return off

    def pack(self, coefs, intercepts, dtype, extras=None):
        """Concatenate parameters into a new flat vector.

        ``extras`` maps ``"bn_scale"``, ``"bn_shift"`` and
        ``"activation_params"`` to per-hidden-layer arrays (``None`` for a
        layer without them); missing extras start at 1 (scale) and 0.
        """
        theta = np.zeros(self.n_params, dtype=dtype)
        for i, (fan_in, fan_out) in enumerate(self.shapes):
            coef = np.asarray(coefs[i])
            intercept = np.asarray(intercepts[i])
            if coef.shape != (fan_in, fan_out) or intercept.shape != (fan_out,):
                raise ValueError(
                    f"Layer {i} parameters have shapes {coef.shape} and "
                    f"{intercept.shape}; expected {(fan_in, fan_out)} and "
                    f"{(fan_out,)}."
                )
            theta[self.w_off[i]:self.w_off[i] + fan_in * fan_out] = coef.ravel()
            theta[self.b_off[i]:self.b_off[i] + fan_out] = intercept
        extras = extras or {}
        for key, offsets, default in (("bn_scale", self.gamma_off, 1.0),
                                      ("bn_shift", self.beta_off, 0.0),
                                      ("activation_params", self.param_off, 0.0)):
            given = extras.get(key)
            for i, start in enumerate(offsets):
                if start < 0:
                    continue
                width = self.shapes[i][1]
                value = default if given is None or given[i] is None else given[i]
                theta[start:start + width] = value
        return theta

    def unpack(self, theta):
        """Return ``(coefs, intercepts)`` as views into ``theta``."""
        coefs, intercepts = [], []
        for i, (fan_in, fan_out) in enumerate(self.shapes):
            w0, b0 = self.w_off[i], self.b_off[i]
            coefs.append(theta[w0:w0 + fan_in * fan_out].reshape(fan_in, fan_out))
            intercepts.append(theta[b0:b0 + fan_out])
        return coefs, intercepts

    def unpack_extras(self, theta):
        """Per-hidden-layer views of the extra parameters (``None`` if absent)."""
        extras = {}
        for key, offsets in (("bn_scale", self.gamma_off),
                             ("bn_shift", self.beta_off),
                             ("activation_params", self.param_off)):
            extras[key] = [
                None if offsets[i] < 0
                else theta[offsets[i]:offsets[i] + self.shapes[i][1]]
                for i in range(len(self.shapes) - 1)
            ]
        return extras

    def initial_running_stats(self, dtype):
        """Batch-norm running statistics before training: mean 0, variance 1."""
        running = np.zeros(self.n_unit_values, dtype=dtype)
        for i, width in enumerate(self.sizes[1:]):
            v0 = self.v_off[i]
            running[v0 + width:v0 + 2 * width] = 1.0
        return running

    def layer_segments(self, layers):
        """``[start, stop)`` ranges of ``theta`` owned by weight ``layers``.

        A layer owns its weights, its intercept and its extra parameters.
        """
        segments = []
        for i in layers:
            fan_in, fan_out = self.shapes[i]
            segments.append((self.w_off[i], self.w_off[i] + fan_in * fan_out))
            segments.append((self.b_off[i], self.b_off[i] + fan_out))
            for offsets, width in ((self.gamma_off, 2 * fan_out),
                                   (self.param_off, fan_out)):
                if offsets[i] >= 0:
                    segments.append((offsets[i], offsets[i] + width))
        return np.asarray(segments, dtype=np.int64).reshape(-1, 2)


class Workspace:
    """Work buffers for batches of up to ``capacity`` rows, allocated once."""

    def __init__(self, layout, capacity, dtype):
        self.capacity = int(capacity)
        self.off = layout.offsets(self.capacity)
        self.a_off = self.off[2]
        total = int(self.capacity * layout.sizes[1:].sum())
        self.Xb = np.empty(self.capacity * int(layout.sizes[0]), dtype=dtype)
        self.Yb = np.empty(self.capacity * int(layout.sizes[-1]), dtype=dtype)
        self.swb = np.empty(self.capacity, dtype=dtype)
        self.Z = np.empty(total, dtype=dtype)
        self.A = np.empty(total, dtype=dtype)
        self.D = np.empty(total, dtype=dtype)
        # batch normalization: normalized values and per-unit batch stats
        self.H = np.empty(total if layout.has_batch_norm else 0, dtype=dtype)
        self.V = np.empty(layout.n_unit_values, dtype=dtype)
        self.grad = np.zeros(layout.n_params, dtype=dtype)
        # a layer's weight-gradient product, or a batch-norm layer's sums
        biggest = max(max(i * o, 2 * o) for i, o in layout.shapes)
        self.tmp = np.empty(biggest, dtype=dtype)
        self.totals = np.zeros(2)
        # dropout masks and outputs, mixup copies: sized only when used
        self.M = np.empty(0, dtype=dtype)
        self.O = np.empty(0, dtype=dtype)
        self.mix = np.empty(0, dtype=dtype)
        self.perm = np.empty(0, dtype=np.int64)

    def enable_dropout(self):
        """Allocate the dropout mask and output buffers."""
        self.M = np.empty_like(self.A)
        self.O = np.empty_like(self.A)

    def enable_mixup(self, n_features, n_outputs):
        """Allocate the buffers holding a batch's copy and its mixup partners."""
        self.mix = np.empty(self.capacity * (n_features + n_outputs + 1),
                            dtype=self.A.dtype)
        self.perm = np.empty(self.capacity, dtype=np.int64)


def hyperparameter_matrix(resolved):
    """Stack per-layer hyperparameter dicts into a float64 matrix."""
    width = max([len(hp) for _, hp in resolved] + [1])
    matrix = np.zeros((max(len(resolved), 1), width))
    for i, (_, hp) in enumerate(resolved):
        matrix[i, :len(hp)] = list(hp.values())
    return matrix


def hyperparameter_vector(hp):
    """A float64 vector of one plugin's hyperparameter values (never empty)."""
    values = list(hp.values())
    return np.asarray(values if values else [0.0], dtype=np.float64)


# Matrix products below this many FLOPs run on one BLAS thread: OpenBLAS
# splits them over threads whose start-up and spin-waiting cost more than
# the product (measured on 2 cores: a 256x64x64 float32 product per batch
# ran 190x slower with 2 threads on a busy machine, 1.1x slower on an idle
# one).
SMALL_PRODUCT_FLOPS = 2 ** 25

_controller_lock = threading.Lock()
_blas_libraries = None
_lowered = None
_limit_users = 0


def blas_threads(layout, rows):
    """Context limiting BLAS to one thread for a small network.

    The limit only ever lowers the thread count, so a ``threadpoolctl``
    limit the user set stays in force; large products keep the BLAS
    default.
    """
    if not is_small(layout, rows):
        return contextlib.nullcontext()
    return _one_blas_thread()


def is_small(layout, rows):
    """Whether every matrix product of a ``rows``-row batch is small."""
    largest = max(2 * rows * fan_in * fan_out for fan_in, fan_out in layout.shapes)
    return largest < SMALL_PRODUCT_FLOPS


# OpenBLAS runs a product of fewer than 4 * 65536 multiply-adds on one
# thread whatever its setting, so a prediction whose products all stay under
# half that needs no thread limit; setting one (threadpoolctl calls under a
# lock) cost 6 us of a 1-row predict that takes 30 us in all.
TINY_PRODUCT_MULTIPLY_ADDS = 2 ** 17


def is_tiny(layout, rows):
    """Whether every matrix product of a ``rows``-row batch is tiny."""
    largest = max(rows * fan_in * fan_out for fan_in, fan_out in layout.shapes)
    return largest < TINY_PRODUCT_MULTIPLY_ADDS


@contextlib.contextmanager
def _one_blas_thread():
    # One limit shared by concurrent fits (threads, nogil kernels): the
    # first to enter lowers it, the last to leave restores it. The BLAS
    # libraries are looked up once; threadpoolctl's own limiter would
    # inspect every loaded library on each kernel call (15-25 us).
    global _lowered, _limit_users
    with _controller_lock:
        _find_blas_libraries()
        if _limit_users == 0:
            _lowered = [(lib, lib.num_threads) for lib in _blas_libraries]
            for lib, _ in _lowered:
                lib.set_num_threads(1)
        _limit_users += 1
    try:
        yield
    finally:
        with _controller_lock:
            _limit_users -= 1
            if _limit_users == 0:
                for lib, threads in _lowered:
                    lib.set_num_threads(threads)
                _lowered = None


def blas_thread_count():
    """How many threads BLAS may use now (a ``threadpoolctl`` limit counts)."""
    with _controller_lock:
        _find_blas_libraries()
        return max([lib.num_threads for lib in _blas_libraries], default=1)


def _find_blas_libraries():
    # Called under _controller_lock, after a kernel has loaded, so it sees
    # the BLAS the kernels call (SciPy's, next to NumPy's).
    global _blas_libraries
    if _blas_libraries is None:
        from threadpoolctl import ThreadpoolController

        _blas_libraries = [lib for lib in ThreadpoolController().lib_controllers
                           if lib.user_api == "blas"]


_pool = None
_pool_pid = None
_pool_lock = threading.Lock()


def run_parallel(task, argument_tuples):
    """``task(*args)`` for every tuple, the first here, the rest on threads.

    Worth it only for GIL-free work. Exceptions propagate; every task has
    finished when this returns.
    """
    global _pool, _pool_pid
    if len(argument_tuples) > 1:
        with _pool_lock:
            # A pool inherited through fork has no threads behind it.
            if _pool is None or _pool_pid != os.getpid():
                from concurrent.futures import ThreadPoolExecutor

                _pool = ThreadPoolExecutor(thread_name_prefix="skdeep")
                _pool_pid = os.getpid()
            pool = _pool
        futures = [pool.submit(task, *args) for args in argument_tuples[1:]]
    else:
        futures = []
    try:
        task(*argument_tuples[0])
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error


def make_network(device, *args, **kwargs):
    """A :class:`CompiledNetwork` for ``"cpu"``, its CUDA mirror for ``"cuda"``.

    Both take the same arguments and offer the same methods.
    """
    if device == "cuda":
        from ._kernels.cuda.mlp import CudaNetwork

        return CudaNetwork(*args, **kwargs)
    return CompiledNetwork(*args, **kwargs)


# Canonical loss of each output activation, used when none is given.
DEFAULT_LOSSES = {"identity": "squared_error", "exp": "poisson",
                  "logistic": "log_loss", "softmax": "log_loss"}

# Batch-norm variance epsilon, as Keras and PyTorch.
BN_EPSILON = 1e-5


def check_widths(layout, X, Y):
    """Refuse data whose rows do not fit the network: the kernels copy
    whole rows into buffers sized by the layout, unchecked."""
    n_in, n_out = int(layout.sizes[0]), int(layout.sizes[-1])
    if X.ndim != 2 or X.shape[1] != n_in or Y.ndim != 2 or Y.shape[1] != n_out:
        raise ValueError(
            f"the network maps {n_in} features to {n_out} outputs; got X "
            f"of shape {X.shape} and targets of shape {Y.shape}."
        )


class CompiledNetwork:
    """A network layout with its compiled blocks, ready to run kernels.

    Parameters
    ----------
    layer_units : sequence of int
    activations : list of (ActivationPlugin, dict)
        Resolved hidden activations, one per hidden layer.
    out_activation : str
        sklearn's ``out_activation_`` name.
    dtype : numpy dtype
    loss : (LossPlugin, dict), optional
        The training loss (default: the canonical loss of ``out_activation``).
    batch_norm : sequence of bool, optional
        Per hidden layer.
    """

    def __init__(self, layer_units, activations, out_activation, dtype,
                 loss=None, batch_norm=None):
        learnable = [plugin.learnable is not None for plugin, _ in activations]
        self.layout = Layout(layer_units, batch_norm, learnable)
        self.dtype = np.dtype(dtype)
        self.out_kind = OUT_KINDS[out_activation]
        self.out_activation = out_activation
        self.act_hp = hyperparameter_matrix(activations)
        self.act_fwd, self.act_bwd = cpu_blocks.activation_blocks(
            [plugin for plugin, _ in activations], self.dtype
        )
        self._loss = loss
        self._loss_block = None
        # Prediction buffers for a few rows, reused: allocating them took
        # 15 us of a 1-row predict. A list, since pop and append are atomic:
        # concurrent predictions never share one.
        self._spare_buffers = []
        self._predict_kernel = None

    def loss_block(self):
        """The compiled loss block and its hyperparameter vector."""
        if self._loss_block is None:
            if self._loss is None:
                from ._spec import resolve

                self._loss = resolve("loss", DEFAULT_LOSSES[self.out_activation])
            plugin, hp = self._loss
            self._loss_block = (
                cpu_blocks.loss_block(plugin, self.out_kind,
                                      plugin.average_outputs, self.dtype),
                hyperparameter_vector(hp),
            )
        return self._loss_block

    def to_device(self, array):
        """Where the kernels read data from: the host array itself."""
        return array

    def workspace(self, capacity):
        """Work buffers for batches of up to ``capacity`` rows."""
        return Workspace(self.layout, capacity, self.dtype)

    def optimizer_block(self, plugin):
        """Compiled update block of an optimizer plugin."""
        return cpu_blocks.optimizer_block(plugin, self.dtype)

    def regularizer_block(self, plugin):
        """Compiled penalty block of a regularizer plugin."""
        return cpu_blocks.regularizer_block(plugin, self.dtype)

    def new_running_stats(self):
        """Initial batch-norm running statistics: mean 0, variance 1."""
        return self.layout.initial_running_stats(self.dtype)

    def _running(self, running):
        return self.new_running_stats() if running is None else running

    def predict(self, theta, X, running=None, chunk=None):
        """Network outputs for ``X`` (C-contiguous, network dtype).

        Rows go through in chunks: for a small network, small enough for the
        per-layer buffers to stay in cache (measured: 256 rows is about 2x
        faster than 1024); for a large one, large enough for multi-threaded
        BLAS to run near its peak (784-512-512-10 on 10,000 rows: 85 ms in
        2048-row chunks, 119 ms in 256-row chunks). A small network's rows
        are split over as many threads as BLAS may use, each running the
        (GIL-free) kernel on its share with one-thread BLAS.
        """
        layout = self.layout
        n = X.shape[0]
        out = np.empty((n, int(layout.sizes[-1])), dtype=self.dtype)
        if n == 0:
            return out
        small = is_small(layout, 256)
        if chunk is None:
            chunk = 256 if small else 2048
        running = self._running(running)
        kernel = self._predict_kernel
        if kernel is None:
            kernel = self._predict_kernel = cpu_mlp.kernel("predict", self.dtype)
        if n <= chunk and is_tiny(layout, n):
            # A few rows (a served model's request): one kernel call on
            # reused buffers, no threads, no thread limit.
            try:
                ws = self._spare_buffers.pop()
            except IndexError:
                ws = Workspace(layout, chunk, self.dtype)
            kernel(
                theta, X, ws.capacity, layout.sizes, ws.off, self.act_fwd,
                self.act_hp, self.out_kind, running, BN_EPSILON, ws.Xb, ws.Z,
                ws.A, ws.H, ws.V, out,
            )
            if len(self._spare_buffers) < 4:
                self._spare_buffers.append(ws)
            return out
        parts = max(1, min(blas_thread_count(), n // chunk)) if small else 1
        # Whole chunks per thread, as even as they come.
        bounds = [round(n * i / (parts * chunk)) * chunk for i in range(parts)] + [n]

        def predict_rows(start, stop):
            capacity = max(1, min(chunk, stop - start))
            ws = Workspace(layout, capacity, self.dtype)
            kernel(
                theta, X[start:stop], capacity, layout.sizes, ws.off,
                self.act_fwd, self.act_hp, self.out_kind, running, BN_EPSILON,
                ws.Xb, ws.Z, ws.A, ws.H, ws.V, out[start:stop],
            )

        with blas_threads(layout, min(chunk, n)):
            run_parallel(predict_rows, list(zip(bounds[:-1], bounds[1:], strict=True)))
        return out

    def loss_grad(self, theta, X, Y, sw, reg_block, reg_hp, alpha, ws,
                  running=None, train=False):
        """Full-data loss; the gradient is left in ``ws.grad``."""
        layout = self.layout
        check_widths(layout, X, Y)
        loss, loss_hp = self.loss_block()
        kernel = cpu_mlp.kernel("loss_grad", self.dtype)
        with blas_threads(layout, ws.capacity):
            return kernel(
                theta, X, Y, sw, ws.capacity, layout.sizes, ws.off,
                layout.n_weights, layout.n_core, self.act_fwd, self.act_bwd,
                self.act_hp, self.out_kind, loss, loss_hp, reg_block, reg_hp,
                alpha, self._running(running), BN_EPSILON, train, ws.grad, ws.Xb,
                ws.Yb, ws.swb, ws.Z, ws.A, ws.D, ws.H, ws.V, ws.tmp,
            )

    def train_epoch(self, theta, X, Y, sw, order, batch_size, shuffle, seed,
                    opt_block, opt_state, opt_hp, lrs, t0, reg_block, reg_hp,
                    alpha, ws, clip_value=0.0, clip_norm=0.0, dropout=None,
                    noise_std=0.0, mixup_alpha=0.0, running=None,
                    bn_momentum=0.9, frozen=None):
        """One compiled epoch; returns the summed ``batch_loss * batch_len``.

        ``ws.totals`` receives the epoch's running training-score sums.
        """
        layout = self.layout
        check_widths(layout, X, Y)
        loss, loss_hp = self.loss_block()
        if frozen is None:
            frozen = np.zeros((0, 2), dtype=np.int64)
        # The kernel does not check buffer sizes: refuse what would overrun.
        if dropout is not None and (dropout > 0).any() and ws.M.size < ws.A.size:
            raise ValueError("dropout needs ws.enable_dropout() first.")
        if mixup_alpha > 0 and (ws.mix.size < ws.capacity * (X.shape[1] + Y.shape[1] + 1)
                                or ws.perm.size < ws.capacity):
            raise ValueError("mixup needs ws.enable_mixup(n_features, n_outputs) first.")
        kernel = cpu_mlp.kernel("train_epoch", self.dtype)
        with blas_threads(layout, min(batch_size, X.shape[0])):
            return kernel(
                theta, X, Y, sw, order, batch_size, shuffle, seed, layout.sizes,
                ws.off, layout.n_weights, layout.n_core,
                self.act_fwd, self.act_bwd, self.act_hp, self.out_kind, loss,
                loss_hp, opt_block, opt_state, opt_hp, lrs, t0, reg_block, reg_hp,
                alpha, float(clip_value), float(clip_norm),
                np.zeros(0) if dropout is None else dropout,
                float(noise_std), float(mixup_alpha), self._running(running),
                float(bn_momentum), BN_EPSILON, frozen,
                theta.copy() if len(frozen) else theta, ws.totals,
                ws.grad, ws.Xb, ws.Yb, ws.swb, ws.Z, ws.A, ws.D, ws.H, ws.V,
                ws.tmp, ws.M, ws.O, ws.mix, ws.perm,
            )


