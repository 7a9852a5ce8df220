"""What the CPU and CUDA networks share: the layout, the plugins' compiled
pieces, the loss, and the checks on what they are handed.

Each backend's ``network.py`` subclasses :class:`NetworkBase` and names its
``blocks`` module; the blocks it builds are that backend's (block functions
on the CPU, generated kernels on CUDA).
"""

from __future__ import annotations

import contextlib

import numpy as np

from .layout import (
    LN_EPSILON,
    OUT_KINDS,
    Layout,
    hyperparameter_matrix,
    hyperparameter_vector,
    require_loss,
)


class NetworkBase:
    """A network layout with its plugin blocks, ready to run kernels.

    Parameters
    ----------
    layer_units : sequence of int
    activations : list of (ActivationPlugin, dict)
        Resolved hidden activations, one per hidden layer.
    out_activation : str
        sklearn's ``out_activation_`` name: ``"identity"``, ``"exp"``,
        ``"logistic"`` or ``"softmax"``.
    dtype : numpy dtype
    loss : (LossPlugin, dict), optional
        The training loss (:func:`skdeep._device.make_network` passes the
        canonical loss of ``out_activation`` when none is given).
    batch_norm, layer_norm : sequence of bool, optional
        Per hidden layer (at most one of them per layer).
    layer_norm_epsilon : float, default=1e-5
        Variance epsilon of layer normalization.
    """

    # The backend's module of plugin blocks; set by each subclass.
    blocks = None

    def __init__(self, layer_units, activations, out_activation, dtype,
                 loss=None, batch_norm=None, layer_norm=None,
                 layer_norm_epsilon=LN_EPSILON):
        learnable = [plugin.learnable is not None for plugin, _ in activations]
        self.layout = Layout(layer_units, batch_norm, learnable, layer_norm)
        self.ln_eps = float(layer_norm_epsilon)
        self.dtype = np.dtype(dtype)
        self.out_kind = OUT_KINDS[out_activation]
        self.out_activation = out_activation
        self.act_hp = hyperparameter_matrix(activations)
        self.act_fwd, self.act_bwd = self.blocks.activation_blocks(
            [plugin for plugin, _ in activations], self.dtype
        )
        self._loss = loss
        self._loss_block = None

    def loss_block(self):
        """The loss block (kernel on CUDA) and its hyperparameter vector."""
        if self._loss_block is None:
            plugin, hp = require_loss(self._loss)
            self._loss_block = (
                self.blocks.loss_block(plugin, self.out_kind,
                                       plugin.average_outputs, self.dtype),
                hyperparameter_vector(hp),
            )
        return self._loss_block

    def optimizer_block(self, plugin):
        """The compiled update block (kernel on CUDA) of an optimizer plugin."""
        return self.blocks.optimizer_block(plugin, self.dtype)

    def regularizer_block(self, plugin):
        """The compiled penalty block (kernel on CUDA) of a regularizer plugin."""
        return self.blocks.regularizer_block(plugin, self.dtype)

    def new_running_stats(self):
        """Initial batch-norm running statistics (host): mean 0, variance 1."""
        return self.layout.initial_running_stats(self.dtype)

    def limit_threads(self, rows):
        """Context holding the host thread limit of ``rows``-row batches
        over many kernel calls (a whole fit); none by default."""
        return contextlib.nullcontext()

    @staticmethod
    def check_capacity(capacity, batch_size, merge_single):
        """Refuse a workspace too small for the epoch's batches: the
        kernels do not check buffer sizes."""
        if capacity < batch_size + bool(merge_single):
            raise ValueError(
                f"the workspace holds {capacity} rows; batches of "
                f"{batch_size} rows{' plus a merged row' if merge_single else ''} "
                "need more.")
