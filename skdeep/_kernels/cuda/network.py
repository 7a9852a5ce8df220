"""The CUDA network: device buffers and the host loop over minibatches.

Mirrors :mod:`skdeep._kernels.cpu.network`: :class:`CudaNetwork` has the
constructor and the methods of ``CpuNetwork`` (same arguments, same
results) and :class:`CudaWorkspace` the buffers of ``Workspace``, on the
device. Unlike the CPU, which runs a whole epoch inside one compiled call,
the host runs the loop over minibatches here and launches the kernels of
:mod:`.kernels` and :mod:`.blocks` for each step; everything stays on the
device during an epoch.
"""

from __future__ import annotations

import math
import warnings
import weakref

import numpy as np

from ..layout import (
    BN_EPSILON,
    CONTROL_DIVERGED,
    CONTROL_SIZE,
    CONTROL_STEPS,
    CONTROL_STOP,
    OFF_A,
    OFF_B,
    OFF_BETA,
    OFF_GAMMA,
    OFF_LN_BETA,
    OFF_LN_GAMMA,
    OFF_P,
    OFF_R,
    OFF_V,
    OFF_W,
    batch_length,
    check_widths,
)
from ..network_base import NetworkBase
from . import blocks
from . import compile as cuda_compile
from .compile import (
    S_LOSS_TOTAL,
    S_PARTIAL,
    S_SCORE,
    S_SW_TOTAL,
    S_TOTAL,
    cuda_module,
    grid_1d,
    launch_config,
)
from .kernels import MODE_NN, MODE_NT, MODE_TN, core_kernels


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

    Mirrors :class:`skdeep._kernels.cpu.network.Workspace`: the same buffers (flat,
    on the device) and ``off`` matrix, plus the float64 scalar vector ``S``
    (per-batch sums, running sums and partial sums; see
    :mod:`.compile`), the dropout/noise random states,
    and per-epoch uploads (sample order, learning rates, hyperparameters).

    Parameters
    ----------
    layout : skdeep._kernels.layout.Layout
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
        self.H = buf(total if layout.has_normalization else 0)
        self.V = buf(layout.n_stat_values(self.capacity))
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
            if self.config is cuda_compile.SIMULATOR:
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
        from ..cache import cached_njit

        _shuffle_jit = cached_njit(_shuffle)
    _shuffle_jit(order, seed)


class CudaNetwork(NetworkBase):
    """A network layout with its CUDA kernels, ready to train and predict.

    Mirrors :class:`skdeep._kernels.cpu.network.CpuNetwork` (same constructor,
    same ``train_epoch``/``loss_grad``/``predict`` arguments and results)
    on the GPU. Array arguments may be host NumPy arrays or device arrays
    (Numba device arrays or anything with ``__cuda_array_interface__``).
    Host arrays are copied to the device per call and results copied back
    into them (``theta``, ``opt_state``, ``running``, ``order`` are
    updated in place, as on the CPU); pass device arrays (see
    :meth:`to_device`) to keep data on the device between calls.

    Parameters as :class:`~skdeep._kernels.network_base.NetworkBase`.
    """

    blocks = blocks

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kernels = core_kernels(self.dtype)
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
        the fused intercept into ``ws.Z``, then for hidden layers batch or layer
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
            elif off[OFF_LN_GAMMA, layer] >= 0:
                k.layer_norm_forward[grid_1d(m, cfg), cfg.block](
                    ws.Z, ws.H, a0, m, n_out, ws.V, int(off[OFF_R, layer]), theta,
                    int(off[OFF_LN_GAMMA, layer]), int(off[OFF_LN_BETA, layer]),
                    self.ln_eps)
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
            elif off[OFF_LN_GAMMA, prev] >= 0:
                k.layer_norm_params_grad[grid_1d(n_in, cfg), cfg.block](
                    ws.D, ws.H, p0, m, n_in, grad, int(off[OFF_LN_GAMMA, prev]),
                    int(off[OFF_LN_BETA, prev]))
                k.layer_norm_backward[grid_1d(m, cfg), cfg.block](
                    ws.D, ws.H, p0, m, n_in, ws.V, int(off[OFF_R, prev]), theta,
                    int(off[OFF_LN_GAMMA, prev]))

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

        Arguments as :meth:`skdeep._kernels.cpu.network.CpuNetwork.loss_grad`.
        ``reg_block`` is a CUDA regularizer kernel
        (:func:`.blocks.regularizer_block`) or a
        :class:`~skdeep.plugin_types.RegularizerPlugin`. ``ws`` is a
        :class:`CudaWorkspace` or a host :class:`~skdeep._kernels.cpu.network.Workspace`
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
        reg = blocks.as_regularizer_block(reg_block, self.dtype)
        loss_kernel, loss_hp = self.loss_block()
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
                    bn_momentum=0.9, frozen=None, control=None,
                    merge_single=False, runner=None):
        """One epoch of minibatch training; returns sum of ``batch_loss * m``.

        Arguments as :meth:`skdeep._kernels.cpu.network.CpuNetwork.train_epoch`,
        except that ``opt_block``/``reg_block`` are CUDA kernels
        (:func:`.blocks.optimizer_block`,
        :func:`.blocks.regularizer_block`) or the
        plugin records, and that arrays may live on the device. ``theta``,
        ``opt_state`` (n_state, n_params), ``running`` and ``order`` are
        updated in place; ``ws.totals`` receives the training-score and
        weight sums.

        With ``shuffle`` the order is shuffled on the host with the CPU
        kernel's generator (same ``seed``, same order) and uploaded once.
        Dropout and input noise draw from device generators seeded with
        ``seed``, mixup from ``numpy.random.RandomState(seed)``: their
        random numbers differ from the CPU's, their distributions do not.

        ``control`` and ``merge_single`` as on the CPU, except that the loop
        runs here on the host: Ctrl-C (``KeyboardInterrupt``) ends the epoch
        after the current minibatch and sets ``control[CONTROL_STOP]``, and
        a non-finite loss is seen at the end of the epoch (reading it per
        minibatch would stall the device). ``runner`` is not used: the loop
        itself answers Ctrl-C.
        """
        from . import blocks

        if control is None:
            control = np.zeros(CONTROL_SIZE, dtype=np.int64)
        cuda = cuda_module()
        layout = self.layout
        check_widths(layout, X, Y)
        k = self.kernels
        cfg = k.config
        dws = self._workspace(ws)
        self.check_capacity(dws.capacity, batch_size, merge_single)
        opt = blocks.as_optimizer_block(opt_block, self.dtype)
        reg = blocks.as_regularizer_block(reg_block, self.dtype)
        loss_kernel, loss_hp = self.loss_block()

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
            start = 0
            while start < n:
                m = batch_length(start, n, batch_size, merge_single)
                lams.append(rs.beta(mixup_alpha, mixup_alpha))
                perm[start:start + m] = rs.permutation(m)
                start += m
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
        start = 0
        control[CONTROL_STEPS] = 0
        control[CONTROL_DIVERGED] = 0
        try:
            while start < n and control[CONTROL_STOP] == 0:
                m = batch_length(start, n, batch_size, merge_single)
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
                control[CONTROL_STEPS] = step
                start += m
        except KeyboardInterrupt:
            control[CONTROL_STOP] = 1

        s = S.copy_to_host()
        if not math.isfinite(s[S_TOTAL]):
            control[CONTROL_DIVERGED] = 1
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

