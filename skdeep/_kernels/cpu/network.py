"""The CPU network: work buffers and the host side of the compiled kernels.

:class:`CpuNetwork` holds a :class:`~skdeep._kernels.layout.Layout` with its
compiled plugin blocks and runs the kernels of :mod:`.kernels` (through
:func:`.compile.kernel`); :class:`Workspace` holds their buffers. The CUDA
backend's ``network.py`` mirrors both, method for method.
"""

from __future__ import annotations

import numpy as np

from ..layout import BN_EPSILON, CONTROL_SIZE, OFF_A, check_widths
from ..network_base import NetworkBase
from . import blocks
from .compile import kernel as compiled_kernel
from .kernels import Buffers
from .threads import (
    blas_thread_count,
    blas_threads,
    is_small,
    is_tiny,
    run_parallel,
)


class Workspace:
    """Work buffers for batches of up to ``capacity`` rows, allocated once."""

    def __init__(self, layout, capacity, dtype):
        self.capacity = int(capacity)
        self.off = layout.offsets(self.capacity)
        self.a_off = self.off[OFF_A]
        total = int(self.capacity * layout.sizes[1:].sum())
        self.Xb = np.empty(self.capacity * int(layout.sizes[0]), dtype=dtype)
        self.Yb = np.empty(self.capacity * int(layout.sizes[-1]), dtype=dtype)
        self.swb = np.empty(self.capacity, dtype=dtype)
        self.Z = np.empty(total, dtype=dtype)
        self.A = np.empty(total, dtype=dtype)
        self.D = np.empty(total, dtype=dtype)
        # normalization: normalized values, per-unit and per-row batch stats
        self.H = np.empty(total if layout.has_normalization else 0, dtype=dtype)
        self.V = np.empty(layout.n_stat_values(self.capacity), dtype=dtype)
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

    def buffers(self):
        """The buffers as the kernels take them (a ``kernels.Buffers``)."""
        return Buffers(self.grad, self.Xb, self.Yb, self.swb, self.Z, self.A,
                       self.D, self.H, self.V, self.tmp, self.M, self.O,
                       self.mix, self.perm)

    def enable_dropout(self):
        """Allocate the dropout mask and output buffers."""
        self.M = np.empty_like(self.A)
        self.O = np.empty_like(self.A)

    def enable_mixup(self, n_features, n_outputs):
        """Allocate the buffers holding a batch's copy and its mixup partners."""
        self.mix = np.empty(self.capacity * (n_features + n_outputs + 1),
                            dtype=self.A.dtype)
        self.perm = np.empty(self.capacity, dtype=np.int64)


class CpuNetwork(NetworkBase):
    """The CPU network: one compiled call per epoch (see :class:`NetworkBase`
    for the parameters)."""

    blocks = blocks

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Prediction buffers for a few rows, reused: allocating them took
        # 15 us of a 1-row predict. A list, since pop and append are atomic:
        # concurrent predictions never share one.
        self._spare_buffers = []
        self._predict_kernel = None

    def to_device(self, array):
        """Where the kernels read data from: the host array itself."""
        return array

    def workspace(self, capacity):
        """Work buffers for batches of up to ``capacity`` rows."""
        return Workspace(self.layout, capacity, self.dtype)

    def _running(self, running):
        return self.new_running_stats() if running is None else running

    def limit_threads(self, rows):
        """Small networks' one-BLAS-thread limit (``threads.blas_threads``)
        for ``rows``-row batches, held over many kernel calls."""
        return blas_threads(self.layout, rows)

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
            kernel = self._predict_kernel = compiled_kernel("predict", self.dtype)
        if n <= chunk and is_tiny(layout, n):
            # A few rows (a served model's request): one kernel call on
            # reused buffers, no threads, no thread limit.
            try:
                ws = self._spare_buffers.pop()
            except IndexError:
                ws = Workspace(layout, chunk, self.dtype)
            kernel(theta, X, ws.capacity, layout.sizes, ws.off, self.act_fwd,
                   self.act_hp, self.out_kind, running, BN_EPSILON, self.ln_eps,
                   ws.buffers(), out)
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
                self.ln_eps, ws.buffers(), out[start:stop],
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
        kernel = compiled_kernel("loss_grad", self.dtype)
        with blas_threads(layout, ws.capacity):
            return kernel(
                theta, X, Y, sw, ws.capacity, layout.sizes, ws.off,
                layout.n_weights, layout.n_core, self.act_fwd, self.act_bwd,
                self.act_hp, self.out_kind, loss, loss_hp, reg_block, reg_hp,
                alpha, self._running(running), BN_EPSILON, self.ln_eps, train,
                ws.buffers(),
            )

    def train_epoch(self, theta, X, Y, sw, order, batch_size, shuffle, seed,
                    opt_block, opt_state, opt_hp, lrs, t0, reg_block, reg_hp,
                    alpha, ws, clip_value=0.0, clip_norm=0.0, dropout=None,
                    noise_std=0.0, mixup_alpha=0.0, running=None,
                    bn_momentum=0.9, frozen=None, control=None,
                    merge_single=False, runner=None):
        """One compiled epoch; returns the summed ``batch_loss * batch_len``.

        ``ws.totals`` receives the epoch's running training-score sums.
        ``control`` (int64, ``layout.CONTROL_SIZE``) lets another thread
        stop the epoch after the current minibatch and receives the
        minibatches completed and whether a loss was not finite (see
        ``kernels.train_epoch``). With ``merge_single`` a last minibatch of
        one row joins the one before (``ws`` then needs ``batch_size + 1``
        rows). ``runner(kernel, args)``, when given, runs the compiled call
        (on another thread, say); BLAS threads are set on this one, since
        OpenBLAS ignores limits set later on the main thread once another
        thread has set its count.
        """
        layout = self.layout
        check_widths(layout, X, Y)
        loss, loss_hp = self.loss_block()
        if frozen is None:
            frozen = np.zeros((0, 2), dtype=np.int64)
        if control is None:
            control = np.zeros(CONTROL_SIZE, dtype=np.int64)
        self.check_capacity(ws.capacity, batch_size, merge_single)
        # The kernel does not check buffer sizes: refuse what would overrun.
        if dropout is not None and (dropout > 0).any() and ws.M.size < ws.A.size:
            raise ValueError("dropout needs ws.enable_dropout() first.")
        if mixup_alpha > 0 and (ws.mix.size < ws.capacity * (X.shape[1] + Y.shape[1] + 1)
                                or ws.perm.size < ws.capacity):
            raise ValueError("mixup needs ws.enable_mixup(n_features, n_outputs) first.")
        kernel = compiled_kernel("train_epoch", self.dtype)
        args = (
                theta, X, Y, sw, order, batch_size, shuffle, seed, layout.sizes,
                ws.off, layout.n_weights, layout.n_core,
                self.act_fwd, self.act_bwd, self.act_hp, self.out_kind, loss,
                loss_hp, opt_block, opt_state, opt_hp, lrs, t0, reg_block, reg_hp,
                alpha, float(clip_value), float(clip_norm),
                np.zeros(0) if dropout is None else dropout,
                float(noise_std), float(mixup_alpha), self._running(running),
                float(bn_momentum), BN_EPSILON, self.ln_eps, frozen,
                theta.copy() if len(frozen) else theta, ws.totals, control,
                bool(merge_single), ws.buffers(),
        )
        with blas_threads(layout, min(batch_size, X.shape[0])):
            return kernel(*args) if runner is None else runner(kernel, args)


