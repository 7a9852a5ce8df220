"""Device-neutral network layout: the flat parameter vector and its offsets.

Both backends (``cpu/`` and ``cuda/``) read the same flat ``theta`` through
the same ``off`` matrix, so a vector fitted on one device runs on the
other. ``theta`` holds all weight matrices first (layer by layer,
row-major ``(n_in, n_out)``), then all intercepts (sklearn's ``_pack``
order), then the extra parameters of hidden layers (batch-norm scale and
shift, layer-norm scale and shift, learnable activation parameters).
``off`` has one column per weight layer and the rows:

- ``OFF_W``, ``OFF_B``: the layer's weights and intercept in ``theta``;
- ``OFF_A``: the layer's block in the per-batch buffers ``Z``, ``A``, ``D``,
  ``H`` (up to ``capacity * sizes[l + 1]`` values each);
- ``OFF_V``: the layer's block in the per-unit buffers (batch-norm running
  mean and variance, batch mean and inverse standard deviation, two
  ``sizes[l + 1]`` vectors each);
- ``OFF_GAMMA``, ``OFF_BETA``: batch-norm scale and shift in ``theta``, or
  -1 when the layer has no batch normalization;
- ``OFF_P``: the layer's per-unit learnable activation parameters in
  ``theta``, or -1;
- ``OFF_LN_GAMMA``, ``OFF_LN_BETA``: layer-norm scale and shift in
  ``theta``, or -1 when the layer has no layer normalization;
- ``OFF_R``: the layer's per-row block in the statistics buffer ``V``
  (after the per-unit blocks: the layer-norm inverse standard deviation of
  each of up to ``capacity`` rows), or -1.

The CPU kernels compile these constants in. Numba's cache only notices
changes to a kernel's own file, so a change here must come with a change to
``cpu/kernels.py`` (bump its ``KERNEL_VERSION``).
"""

from __future__ import annotations

import numpy as np

# Output activations, as the kernels' ``out_kind`` integer.
OUT_IDENTITY, OUT_EXP, OUT_LOGISTIC, OUT_SOFTMAX = 0, 1, 2, 3
OUT_KINDS = {
    "identity": OUT_IDENTITY,
    "exp": OUT_EXP,
    "logistic": OUT_LOGISTIC,
    "softmax": OUT_SOFTMAX,
}
# The epoch kernels' ``control`` vector: the host asks the kernel to stop
# after the current minibatch by setting CONTROL_STOP; the kernel counts the
# minibatches it completed in CONTROL_STEPS and, when a minibatch's loss is
# not finite, stops before updating and sets CONTROL_DIVERGED.
CONTROL_STOP, CONTROL_STEPS, CONTROL_DIVERGED = 0, 1, 2
CONTROL_SIZE = 3
# Rows of the ``off`` matrix.
(OFF_W, OFF_B, OFF_A, OFF_V, OFF_GAMMA, OFF_BETA, OFF_P, OFF_LN_GAMMA,
 OFF_LN_BETA, OFF_R) = range(10)
N_OFF_ROWS = 10


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
    layer_norm : sequence of bool, optional
        Per hidden layer: whether it has layer normalization (a scale and a
        shift per unit in ``theta``, per-row statistics in ``V``). A layer
        has at most one of batch and layer normalization.
    """

    def __init__(self, layer_units, batch_norm=None, learnable=None,
                 layer_norm=None):
        self.sizes = np.asarray(layer_units, dtype=np.int64)
        n_layers = len(self.sizes) - 1
        n_hidden = n_layers - 1
        self.batch_norm = [bool(b) for b in (batch_norm or [False] * n_hidden)]
        self.learnable = [bool(b) for b in (learnable or [False] * n_hidden)]
        self.layer_norm = [bool(b) for b in (layer_norm or [False] * n_hidden)]
        both = [i for i in range(n_hidden) if self.batch_norm[i] and self.layer_norm[i]]
        if both:
            raise ValueError(
                f"hidden layers {both} have both batch and layer "
                "normalization; a layer takes at most one of them."
            )
        self.shapes = [(int(self.sizes[i]), int(self.sizes[i + 1]))
                       for i in range(n_layers)]
        self.w_off = np.zeros(n_layers, dtype=np.int64)
        self.b_off = np.zeros(n_layers, dtype=np.int64)
        self.gamma_off = np.full(n_layers, -1, dtype=np.int64)
        self.beta_off = np.full(n_layers, -1, dtype=np.int64)
        self.param_off = np.full(n_layers, -1, dtype=np.int64)
        self.ln_gamma_off = np.full(n_layers, -1, dtype=np.int64)
        self.ln_beta_off = np.full(n_layers, -1, dtype=np.int64)
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
            if self.layer_norm[i]:
                self.ln_gamma_off[i] = offset
                self.ln_beta_off[i] = offset + width
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

    @property
    def has_normalization(self):
        """Whether some layer has batch or layer normalization (which keeps
        its normalized values in the ``H`` buffer)."""
        return any(self.batch_norm) or any(self.layer_norm)

    def r_off(self, capacity):
        """Offsets of each layer's per-row statistics in ``V`` (or -1)."""
        r_off = np.full(len(self.shapes), -1, dtype=np.int64)
        offset = self.n_unit_values
        for i, present in enumerate(self.layer_norm):
            if present:
                r_off[i] = offset
                offset += capacity
        return r_off

    def n_stat_values(self, capacity):
        """Size of the statistics buffer ``V`` for ``capacity`` rows."""
        return self.n_unit_values + capacity * sum(self.layer_norm)

    def a_off(self, capacity):
        """Offsets of each layer's block in the per-batch buffers."""
        widths = self.sizes[1:] * capacity
        return np.concatenate(([0], np.cumsum(widths)[:-1])).astype(np.int64)

    def offsets(self, capacity):
        """The kernels' ``off`` matrix for batches of ``capacity`` rows."""
        off = np.empty((N_OFF_ROWS, len(self.shapes)), dtype=np.int64)
        off[OFF_W] = self.w_off
        off[OFF_B] = self.b_off
        off[OFF_A] = self.a_off(capacity)
        off[OFF_V] = self.v_off
        off[OFF_GAMMA] = self.gamma_off
        off[OFF_BETA] = self.beta_off
        off[OFF_P] = self.param_off
        off[OFF_LN_GAMMA] = self.ln_gamma_off
        off[OFF_LN_BETA] = self.ln_beta_off
        off[OFF_R] = self.r_off(capacity)
        return off

    def pack(self, coefs, intercepts, dtype, extras=None):
        """Concatenate parameters into a new flat vector.

        ``extras`` maps ``"bn_scale"``, ``"bn_shift"``, ``"ln_scale"``,
        ``"ln_shift"`` and ``"activation_params"`` to per-hidden-layer arrays
        (``None`` for a layer without them); missing extras start at 1
        (scales) and 0.
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
                                      ("ln_scale", self.ln_gamma_off, 1.0),
                                      ("ln_shift", self.ln_beta_off, 0.0),
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
                             ("ln_scale", self.ln_gamma_off),
                             ("ln_shift", self.ln_beta_off),
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
                                   (self.ln_gamma_off, 2 * fan_out),
                                   (self.param_off, fan_out)):
                if offsets[i] >= 0:
                    segments.append((offsets[i], offsets[i] + width))
        return np.asarray(segments, dtype=np.int64).reshape(-1, 2)


def batch_length(start, n, batch_size, merge_single):
    """Rows of the minibatch starting at row ``start`` of ``n``.

    With ``merge_single`` a last minibatch of one row joins the one before
    it (batch normalization has no statistics of one row), so batches hold
    up to ``batch_size + 1`` rows. Plain Python: the CPU kernels compile it,
    the CUDA host loop calls it.
    """
    m = min(batch_size, n - start)
    if merge_single and n - start - m == 1 and m > 0:
        m += 1
    return m


def n_minibatches(n, batch_size, merge_single):
    """How many minibatches an epoch of ``n`` rows has (see :func:`batch_length`)."""
    count = -(-n // batch_size)
    if merge_single and count > 1 and n % batch_size == 1:
        count -= 1
    return count


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


def require_loss(loss):
    """The ``(LossPlugin, hyperparameters)`` a network was built with."""
    if loss is None:
        raise ValueError(
            "this network was built without a loss; pass loss=(plugin, "
            "hyperparameters), or build it with skdeep._device.make_network, "
            "which uses the output activation's canonical loss."
        )
    return loss


# Canonical loss of each output activation, used when none is given.
DEFAULT_LOSSES = {"identity": "squared_error", "exp": "poisson",
                  "logistic": "log_loss", "softmax": "log_loss"}

# Batch-norm variance epsilon, as Keras and PyTorch.
BN_EPSILON = 1e-5
# Default layer-norm variance epsilon (the estimators' layer_norm_epsilon),
# as PyTorch.
LN_EPSILON = 1e-5


def check_widths(layout, X, Y):
    """Refuse data whose rows do not fit the network: the kernels copy
    whole rows into buffers sized by the layout, unchecked."""
    n_in, n_out = int(layout.sizes[0]), int(layout.sizes[-1])
    if X.ndim != 2 or X.shape[1] != n_in or Y.ndim != 2 or Y.shape[1] != n_out:
        raise ValueError(
            f"the network maps {n_in} features to {n_out} outputs; got X "
            f"of shape {X.shape} and targets of shape {Y.shape}."
        )
