"""A network's parameters between fits: initialization, transfer, freezing,
and packing to and from the flat vectors the backends train.

The fitted attributes (``coefs_``, ``intercepts_``, ``bn_scales_``,
``bn_shifts_``, ``bn_running_means_``, ``bn_running_vars_``,
``ln_scales_``, ``ln_shifts_``, ``activation_params_``) are the source of truth between fits. Here they
travel as one dict keyed by those names (:data:`PARAMETER_ATTRIBUTES`); the
estimator stores it with ``vars(est).update(...)``. Each fit packs them
into a fresh ``theta`` (so a failed fit never changes the previous model)
and leaves them as views into it afterwards.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

# Per-hidden-layer extras, ``None`` for a layer without them.
EXTRA_ATTRIBUTES = ("bn_scales_", "bn_shifts_", "bn_running_means_",
                    "bn_running_vars_", "ln_scales_", "ln_shifts_",
                    "activation_params_")
PARAMETER_ATTRIBUTES = ("coefs_", "intercepts_", *EXTRA_ATTRIBUTES)


def initial_parameters(layout, activations, initializer, activation_names,
                       random_state, dtype):
    """Freshly initialized parameters of a network.

    Parameters
    ----------
    layout : skdeep._kernels.layout.Layout
    activations : list of (ActivationPlugin, dict)
        One per hidden layer (learnable activations start at their
        hyperparameter's value).
    initializer : (InitializerPlugin, dict)
    activation_names : list of str
        Per hidden layer, what the initializer is told.
    random_state : numpy.random.RandomState
        Drawn from in sklearn's order.
    dtype : numpy dtype

    Returns
    -------
    dict
        :data:`PARAMETER_ATTRIBUTES` to per-layer lists.
    """
    plugin, hp = initializer
    coefs, intercepts = [], []
    for i, (fan_in, fan_out) in enumerate(layout.shapes):
        act = activation_names[min(i, len(activation_names) - 1)]
        coef, intercept = plugin.init(random_state, fan_in, fan_out, act, **hp)
        coef = np.asarray(coef, dtype=dtype)
        intercept = np.asarray(intercept, dtype=dtype)
        if coef.shape != (fan_in, fan_out) or intercept.shape != (fan_out,):
            raise ValueError(
                f"Initializer {plugin.name!r} returned shapes {coef.shape} and "
                f"{intercept.shape}; expected {(fan_in, fan_out)} and "
                f"{(fan_out,)}."
            )
        coefs.append(coef)
        intercepts.append(intercept)
    n_hidden = len(layout.shapes) - 1
    widths = [layout.shapes[i][1] for i in range(n_hidden)]
    bn = layout.batch_norm
    ln = layout.layer_norm

    def per_layer(present, make):
        return [make(w) if present[i] else None for i, w in enumerate(widths)]

    return {
        "coefs_": coefs,
        "intercepts_": intercepts,
        "bn_scales_": per_layer(bn, lambda w: np.ones(w, dtype)),
        "bn_shifts_": per_layer(bn, lambda w: np.zeros(w, dtype)),
        "bn_running_means_": per_layer(bn, lambda w: np.zeros(w, dtype)),
        "bn_running_vars_": per_layer(bn, lambda w: np.ones(w, dtype)),
        "ln_scales_": per_layer(ln, lambda w: np.ones(w, dtype)),
        "ln_shifts_": per_layer(ln, lambda w: np.zeros(w, dtype)),
        "activation_params_": [
            np.full(widths[i], hp[plugin.learnable], dtype)
            if plugin.learnable else None
            for i, (plugin, hp) in enumerate(activations)
        ],
    }


def transfer(params, layout, donor, transfer_layers):
    """Copy the leading layers of ``donor`` into ``params`` (in place).

    Parameters
    ----------
    params : dict
        As :func:`initial_parameters` returns.
    layout : skdeep._kernels.layout.Layout
    donor : fitted MLP estimator or dict
        The ``transfer_from`` parameter; a dict holds at least ``coefs_`` and
        ``intercepts_``.
    transfer_layers : int or None
        How many weight layers to copy (None: all the donor has).
    """
    if isinstance(donor, dict):
        missing = {"coefs_", "intercepts_"} - set(donor)
        if missing:
            raise ValueError(
                "transfer_from as a dict needs the keys 'coefs_' and "
                f"'intercepts_' (optionally {', '.join(map(repr, EXTRA_ATTRIBUTES))}); "
                f"missing {sorted(missing)}."
            )
        source = donor
    else:
        if not hasattr(donor, "coefs_"):
            raise ValueError(
                f"transfer_from ({type(donor).__name__}) is not fitted: fit "
                "it first, or pass its weights as a dict "
                "(transfer_from={'coefs_': model.coefs_, 'intercepts_': "
                "model.intercepts_}). A fitted source survives clone, "
                "cross_val_score and GridSearchCV; as a value in a parameter "
                "grid it is cloned (unfitted), so use the dict form there."
            )
        source = vars(donor)
    coefs, intercepts = source["coefs_"], source["intercepts_"]
    n_layers = len(layout.shapes)
    count = len(coefs) if transfer_layers is None else transfer_layers
    if count > min(len(coefs), n_layers):
        raise ValueError(
            f"transfer_layers={count} but the source has {len(coefs)} and "
            f"this network {n_layers} weight layers; use at most "
            f"transfer_layers={min(len(coefs), n_layers)}."
        )
    if len(intercepts) < count:
        raise ValueError(
            f"transfer_from has {len(coefs)} weight matrices ('coefs_') but "
            f"{len(intercepts)} intercept vectors ('intercepts_'): copying "
            f"{count} layers needs one intercept vector per weight matrix. "
            "Pass the source's intercepts_ in full, or transfer fewer layers "
            f"(transfer_layers={len(intercepts)})."
        )
    for i in range(count):
        if np.shape(intercepts[i]) != (np.shape(coefs[i])[-1],):
            raise ValueError(
                f"transfer_from layer {i} has weights of shape "
                f"{np.shape(coefs[i])} but intercepts of shape "
                f"{np.shape(intercepts[i])}; expected "
                f"{(np.shape(coefs[i])[-1],)} (one per unit)."
            )
    for i in range(count):
        shape = np.shape(coefs[i])
        if shape != layout.shapes[i]:
            if i == 0 and shape[0] != layout.shapes[0][0]:
                raise ValueError(
                    f"transfer_from was fitted on {shape[0]} features but X "
                    f"has {layout.shapes[0][0]}: the first layer's weights "
                    "only fit inputs of the source's width. Transform X to "
                    "the source's features."
                )
            if i == 0:
                fix = (f"give the first hidden layer {shape[1]} units "
                       "(hidden_layer_sizes), as the source has")
            else:
                fix = (f"transfer fewer layers (transfer_layers={i}), or give "
                       f"layer {i} the source's shape")
            raise ValueError(
                f"transfer_from layer {i} has weights of shape {shape} but "
                f"this network's layer {i} is {layout.shapes[i]}: {fix}."
            )
    dtype = params["coefs_"][0].dtype
    for i in range(count):
        params["coefs_"][i] = np.array(coefs[i], dtype=dtype)
        params["intercepts_"][i] = np.array(intercepts[i], dtype=dtype)
        for key in EXTRA_ATTRIBUTES:
            values = source.get(key)
            ours = params[key]
            if (values is not None and i < len(ours) and i < len(values)
                    and ours[i] is not None and values[i] is not None
                    and np.shape(values[i]) == ours[i].shape):
                ours[i] = np.array(values[i], dtype=dtype)


def frozen_segments(frozen_layers, layout):
    """``[start, stop)`` ranges of ``theta`` held fixed, or None.

    ``frozen_layers`` holds weight-layer indices (negative ones count from
    the output layer): a sequence or a 1-D integer array.
    """
    if frozen_layers is None:
        return None
    if isinstance(frozen_layers, np.ndarray) and frozen_layers.ndim != 1:
        given = [frozen_layers]  # refused below, naming the array
    else:
        given = list(frozen_layers)
    if not given:
        return None
    n_layers = len(layout.shapes)
    layers = []
    for index in given:
        if (not isinstance(index, Integral) or isinstance(index, bool)
                or not -n_layers <= index < n_layers):
            raise ValueError(
                f"frozen_layers must hold weight-layer indices in "
                f"[{-n_layers}, {n_layers - 1}] (0 is the first layer, -1 "
                f"the output layer); got {frozen_layers!r}."
            )
        layers.append(int(index) % n_layers)
    return layout.layer_segments(sorted(set(layers)))


def pack(layout, params, dtype, reuse=False):
    """``(theta, running)``: flat vectors holding ``params``.

    ``running`` holds the batch-norm running statistics (not trained, so
    kept outside ``theta``). Both are new arrays, except that with
    ``reuse`` a ``theta`` the parameters are views of is returned itself
    (:func:`theta_in_place`; for prediction, which only reads it).
    """
    theta = theta_in_place(layout, params, dtype) if reuse else None
    if theta is None:
        theta = layout.pack(params["coefs_"], params["intercepts_"], dtype, {
            "bn_scale": params["bn_scales_"], "bn_shift": params["bn_shifts_"],
            "ln_scale": params["ln_scales_"], "ln_shift": params["ln_shifts_"],
            "activation_params": params["activation_params_"]})
    running = np.zeros(layout.n_unit_values, dtype=dtype)
    for i, (mean, var) in enumerate(zip(params["bn_running_means_"],
                                        params["bn_running_vars_"], strict=True)):
        if mean is not None:
            v0, width = layout.v_off[i], layout.shapes[i][1]
            running[v0:v0 + width] = mean
            running[v0 + width:v0 + 2 * width] = var
    return theta, running


# Where each parameter attribute lives in ``theta`` (the Layout's offset
# arrays); the batch-norm running statistics live outside it.
_THETA_OFFSETS = {"coefs_": "w_off", "intercepts_": "b_off",
                  "bn_scales_": "gamma_off", "bn_shifts_": "beta_off",
                  "ln_scales_": "ln_gamma_off", "ln_shifts_": "ln_beta_off",
                  "activation_params_": "param_off"}


def theta_in_place(layout, params, dtype):
    """The vector ``params`` are views of, or None.

    After a fit the parameter attributes are views into one vector in the
    layout's order: predicting can read that vector in place (packing a
    copy took 8 us of a 1-row predict). Anything else (unpickled, replaced,
    reordered or resized attributes) gives None: pack a copy.
    """
    base = params["coefs_"][0].base
    if not (type(base) is np.ndarray and base.ndim == 1 and base.dtype == dtype
            and base.size == layout.n_params and base.flags.c_contiguous):
        return None
    start = base.__array_interface__["data"][0]
    covered = 0
    for name, offsets in _THETA_OFFSETS.items():
        for i, array in enumerate(params[name]):
            offset = getattr(layout, offsets)[i]
            if array is None or offset < 0:
                continue
            width = layout.shapes[i][1]
            shape = layout.shapes[i] if name == "coefs_" else (width,)
            if not (array.base is base and array.shape == shape
                    and array.flags.c_contiguous
                    and array.__array_interface__["data"][0]
                    == start + int(offset) * base.itemsize):
                return None
            covered += array.size
    # Every parameter accounted for (a layout with other extras packs).
    return base if covered == layout.n_params else None


def unpack(layout, theta, running):
    """The parameters as views into ``theta`` and ``running`` (a dict as
    :func:`initial_parameters` returns)."""
    coefs, intercepts = layout.unpack(theta)
    extras = layout.unpack_extras(theta)
    means, variances = [], []
    for i in range(len(layout.shapes) - 1):
        if layout.batch_norm[i]:
            v0, width = layout.v_off[i], layout.shapes[i][1]
            means.append(running[v0:v0 + width])
            variances.append(running[v0 + width:v0 + 2 * width])
        else:
            means.append(None)
            variances.append(None)
    return {
        "coefs_": coefs,
        "intercepts_": intercepts,
        "bn_scales_": extras["bn_scale"],
        "bn_shifts_": extras["bn_shift"],
        "bn_running_means_": means,
        "bn_running_vars_": variances,
        "ln_scales_": extras["ln_scale"],
        "ln_shifts_": extras["ln_shift"],
        "activation_params_": extras["activation_params"],
    }


def parameters_of(est):
    """The fitted parameter attributes of ``est`` as a dict.

    An extra missing from a model pickled before it existed is ``None`` for
    every hidden layer.
    """
    n_hidden = len(est.coefs_) - 1
    return {name: getattr(est, name) if name not in EXTRA_ATTRIBUTES
            else getattr(est, name, None) or [None] * n_hidden
            for name in PARAMETER_ATTRIBUTES}
