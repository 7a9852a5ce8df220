"""A slow, obviously-correct NumPy MLP to compare the kernels against."""

import numpy as np
from scipy.special import expit, softmax, xlogy

from skdeep._kernels.layout import Layout


def problem(out_activation, dtype, rng, n, units):
    """Random inputs, targets suited to ``out_activation`` and sample weights."""
    X = rng.normal(size=(n, units[0]))
    if out_activation == "identity":
        Y = rng.normal(size=(n, units[-1]))
    elif out_activation == "exp":
        Y = rng.poisson(2.0, size=(n, units[-1])).astype(float)
    elif out_activation == "logistic":
        Y = (rng.uniform(size=(n, units[-1])) < 0.5).astype(float)
    else:
        Y = np.eye(units[-1])[rng.randint(units[-1], size=n)]
    sw = rng.uniform(0.5, 2.0, n)
    return X.astype(dtype), Y.astype(dtype), sw.astype(dtype)


def forward(theta, layout, X, activations, out_activation):
    """Return lists of pre-activations and activations (input first)."""
    coefs, intercepts = layout.unpack(theta)
    A = [X]
    Z = [None]
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        z = A[-1] @ W + b
        Z.append(z)
        if i < len(coefs) - 1:
            plugin, hp = activations[i]
            args = tuple(hp.values())
            f = np.vectorize(lambda v, p=plugin, h=args: p.value(v, *h))
            A.append(f(z))
        elif out_activation == "identity":
            A.append(z)
        elif out_activation == "exp":
            A.append(np.exp(z))
        elif out_activation == "logistic":
            A.append(expit(z))
        else:
            A.append(softmax(z, axis=1))
    return Z, A


def loss(theta, layout, X, Y, sw, activations, out_activation, alpha=0.0,
         penalty=lambda w: 0.5 * w * w):
    """sklearn's loss definitions, with sample weights and the penalty."""
    _, A = forward(theta, layout, X, activations, out_activation)
    P = A[-1]
    eps = np.finfo(P.dtype).eps
    if out_activation == "identity":
        value = 0.5 * np.average((Y - P) ** 2, weights=sw, axis=0).mean()
    elif out_activation == "exp":
        value = np.average(xlogy(Y, Y / P) - Y + P, weights=sw, axis=0).sum()
    elif out_activation == "logistic":
        Pc = np.clip(P, eps, 1 - eps)
        value = -np.average(xlogy(Y, Pc) + xlogy(1 - Y, 1 - Pc), weights=sw, axis=0).sum()
    else:
        Pc = np.clip(P, eps, 1 - eps)
        value = -np.average(xlogy(Y, Pc), weights=sw, axis=0).sum()
    weights = theta[: layout.n_weights]
    return value + alpha * penalty(weights).sum() / sw.sum()


def gradient(theta, layout, X, Y, sw, activations, out_activation, alpha=0.0,
             penalty_grad=lambda w: w):
    """Backpropagation written plainly (sklearn's scaling)."""
    Z, A = forward(theta, layout, X, activations, out_activation)
    coefs, _ = layout.unpack(theta)
    grad = np.zeros_like(theta)
    gcoefs, gints = layout.unpack(grad)
    delta = (A[-1] - Y) * sw[:, None]
    if out_activation == "identity":
        delta /= Y.shape[1]  # the loss averages over outputs
    for i in range(len(coefs) - 1, -1, -1):
        gcoefs[i][...] = A[i].T @ delta + alpha * penalty_grad(coefs[i])
        gints[i][...] = delta.sum(axis=0)
        if i > 0:
            plugin, hp = activations[i - 1]
            args = tuple(hp.values())
            d = np.vectorize(lambda z, y, p=plugin, h=args: p.derivative(z, y, *h))
            delta = (delta @ coefs[i].T) * d(Z[i], A[i])
    return grad / sw.sum()


def make_layout(units):
    return Layout(units)
