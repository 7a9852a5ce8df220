"""Conformance checks for plugin authors.

Like sklearn's ``check_estimator`` for estimators, these functions check a
plugin record the way skdeep will use it: they compile the plugin's scalar
math into the same blocks the training kernels call and compare the results
with the plain-Python definition and with finite differences. Each check
raises ``AssertionError`` with an explanation on failure.

When ``numba-cuda`` is installed, :func:`check_gpu` (run by
:func:`check_plugin`) also compiles the plugin's functions for CUDA and
compares them with the CPU, so a construct the GPU target rejects is found
here rather than by a user with ``device="cuda"``.

Examples
--------
>>> from skdeep.testing import check_plugin
>>> check_plugin("activation", "gelu")
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np

from ._registry import get_registry
from .plugin_types import (
    ActivationPlugin,
    InitializerPlugin,
    LossPlugin,
    OptimizerPlugin,
    RegularizerPlugin,
)

__all__ = [
    "check_activation",
    "check_all_plugins",
    "check_gpu",
    "check_initializer",
    "check_loss",
    "check_optimizer",
    "check_plugin",
    "check_regularizer",
]

# Points where activations are evaluated: around 0, moderate and large.
ACTIVATION_POINTS = np.array(
    [-60.0, -30.0, -10.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0,
     10.0, 30.0, 60.0]
)


def _fd(fn, x, h):
    return (fn(x + h) - fn(x - h)) / (2 * h)


def check_activation(plugin, hyperparameters=None, rtol=1e-5, atol=1e-7):
    """Check an activation's compiled value and derivative.

    The compiled forward block must equal the Python ``value``; the compiled
    derivative must match a central finite difference of ``value`` away from
    0 (where kinks are allowed) and be finite everywhere, including large
    magnitudes.

    Parameters
    ----------
    plugin : ActivationPlugin
    hyperparameters : dict, optional
        Values to check with (default: the declared defaults).
    rtol, atol : float
        Tolerances of the finite-difference comparison.
    """
    from ._kernels.cpu.blocks import activation_blocks

    assert isinstance(plugin, ActivationPlugin), f"not an ActivationPlugin: {plugin!r}"
    hp = dict(plugin.hyperparameters)
    hp.update(hyperparameters or {})
    args = tuple(float(v) for v in hp.values())
    x = ACTIVATION_POINTS
    python_value = np.array([plugin.value(float(v), *args) for v in x])
    assert np.isfinite(python_value).all(), (
        f"{plugin.name}: value is not finite at {x[~np.isfinite(python_value)]}"
    )
    fwd, bwd = activation_blocks([plugin], np.float64)
    hp_matrix = np.array([list(args) or [0.0]])
    names = list(hp)
    learned = (np.full(x.size, hp[plugin.learnable]) if plugin.learnable
               else np.zeros(0))
    Z = x.reshape(1, -1).copy()
    A = np.empty_like(Z)
    no_bias = np.zeros(0)
    fwd(0, Z, A, hp_matrix, learned, no_bias)
    np.testing.assert_allclose(
        A[0], python_value, rtol=1e-12, atol=1e-12,
        err_msg=f"{plugin.name}: compiled value differs from the Python value",
    )
    D = np.ones_like(Z)
    pgrad = np.zeros_like(learned)
    bwd(0, Z, A, D, hp_matrix, learned, pgrad, no_bias)
    assert np.isfinite(D).all(), (
        f"{plugin.name}: derivative is not finite at {x[~np.isfinite(D[0])]}"
    )

    def value(v):
        return plugin.value(v, *args)

    smooth = np.abs(x) > 1e-2
    numeric = np.array([_fd(value, float(v), 1e-6 * max(1.0, abs(v))) for v in x[smooth]])
    np.testing.assert_allclose(
        D[0][smooth], numeric, rtol=rtol, atol=atol,
        err_msg=f"{plugin.name}: derivative disagrees with finite differences "
        f"at {x[smooth]}",
    )
    for v in (-1e-3, 1e-3):
        D1 = np.ones((1, 1))
        bwd(0, np.array([[v]]), np.array([[value(v)]]), D1, hp_matrix,
            learned[:1], np.zeros_like(learned[:1]), no_bias)
        numeric_v = _fd(value, v, 1e-7)
        assert abs(D1[0, 0] - numeric_v) <= 1e-4 * (1 + abs(numeric_v)), (
            f"{plugin.name}: derivative disagrees with finite differences at {v}"
        )
    if plugin.learnable:
        # The learned parameter's gradient: d value / d parameter.
        k = names.index(plugin.learnable)

        def by_parameter(v, a):
            shifted = list(args)
            shifted[k] = a
            return plugin.value(v, *shifted)

        numeric = np.array([
            _fd(lambda a, v=v: by_parameter(float(v), a), args[k], 1e-6)
            for v in x
        ])
        np.testing.assert_allclose(
            pgrad, numeric, rtol=rtol, atol=max(atol, 1e-6),
            err_msg=f"{plugin.name}: parameter_derivative disagrees with "
            "finite differences",
        )


def check_loss(plugin, hyperparameters=None, rtol=1e-5):
    """Check a loss's compiled value and output gradient.

    For every output activation the loss can be used with, the compiled
    block must return the sample-weighted loss of the Python definition and
    output deltas that match central finite differences of that loss with
    respect to the output pre-activations (so ``gradient`` and
    ``link_gradient`` must agree with ``loss``).

    Parameters
    ----------
    plugin : LossPlugin
    hyperparameters : dict, optional
        Values to check with (default: the declared defaults).
    rtol : float
        Relative tolerance of the finite-difference comparison.
    """
    from ._kernels import layout
    from ._kernels.cpu.blocks import loss_block

    assert isinstance(plugin, LossPlugin), f"not a LossPlugin: {plugin!r}"
    hp = dict(plugin.hyperparameters)
    hp.update(hyperparameters or {})
    args = tuple(float(v) for v in hp.values())
    hp_vec = np.array(list(args) or [0.0])
    rng = np.random.RandomState(0)
    m, k = 5, 3
    Z = rng.normal(0, 1.5, (m, k))
    sw = rng.uniform(0.5, 2.0, m)
    if plugin.task == "regression":
        kinds = {"identity": layout.OUT_IDENTITY, "exp": layout.OUT_EXP}
        out_kinds = [kinds[plugin.output_activation]]
    else:
        out_kinds = [layout.OUT_LOGISTIC, layout.OUT_SOFTMAX]
    for out_kind in out_kinds:
        if out_kind == layout.OUT_SOFTMAX:
            Y = np.eye(k)[rng.randint(0, k, m)]
        elif out_kind == layout.OUT_LOGISTIC:
            Y = (rng.uniform(size=(m, k)) > 0.5).astype(float)
        elif out_kind == layout.OUT_EXP:
            Y = rng.poisson(2.0, (m, k)).astype(float)
        else:
            Y = rng.normal(0, 2.0, (m, k))

        def probabilities(z, out_kind=out_kind):
            if out_kind == layout.OUT_SOFTMAX:
                e = np.exp(z - z.max(axis=1, keepdims=True))
                return e / e.sum(axis=1, keepdims=True)
            if out_kind == layout.OUT_LOGISTIC:
                return 1.0 / (1.0 + np.exp(-z))
            return np.exp(z) if out_kind == layout.OUT_EXP else z

        def python_loss(z, out_kind=out_kind, Y=Y):
            P = probabilities(z)
            total = 0.0
            for i in range(m):
                row = 0.0
                for j in range(k):
                    p, y = float(P[i, j]), float(Y[i, j])
                    row += plugin.loss(p, y, *args)
                    if out_kind == layout.OUT_LOGISTIC:
                        row += plugin.loss(1 - p, 1 - y, *args)
                total += sw[i] * row / (k if plugin.average_outputs else 1)
            return total

        block = loss_block(plugin, out_kind, plugin.average_outputs, np.float64)
        D = np.empty((m, k))
        total = block(probabilities(Z), Y.ravel().copy(), sw, hp_vec, D)
        np.testing.assert_allclose(
            total, python_loss(Z), rtol=1e-10,
            err_msg=f"{plugin.name}: compiled loss differs from the Python loss",
        )
        numeric = np.empty((m, k))
        h = 1e-6
        for i in range(m):
            for j in range(k):
                up, down = Z.copy(), Z.copy()
                up[i, j] += h
                down[i, j] -= h
                numeric[i, j] = (python_loss(up) - python_loss(down)) / (2 * h)
        np.testing.assert_allclose(
            D, numeric, rtol=rtol, atol=1e-6,
            err_msg=f"{plugin.name}: output gradient disagrees with finite "
            f"differences of the loss (output kind {out_kind})",
        )


def _reference_steps(plugin, hp, param, grad_fn, lr, n_steps):
    """Apply the Python update element by element, for n_steps."""
    param = param.copy()
    state = np.zeros((max(plugin.n_state, 1), param.size))
    args = tuple(hp.values())
    for t in range(1, n_steps + 1):
        grad = grad_fn(param)
        for i in range(param.size):
            out = plugin.update(param[i], grad[i], *state[:plugin.n_state, i], lr, t, *args)
            if plugin.n_state == 0:
                param[i] = out
            else:
                param[i] = out[0]
                state[:plugin.n_state, i] = out[1:]
    return param


def check_optimizer(plugin, hyperparameters=None, reference=None, n_steps=25,
                    lr=0.01, rtol=1e-10):
    """Check an optimizer's compiled update.

    The compiled block, run for ``n_steps`` on a quadratic, must reproduce
    the Python update applied element by element (or ``reference`` when
    given), stay finite, and lower the quadratic's value.

    Parameters
    ----------
    plugin : OptimizerPlugin
    hyperparameters : dict, optional
        Values to check with (default: the declared defaults).
    reference : callable, optional
        A vectorized NumPy implementation
        ``reference(param, grad, states, lr, t, **hyperparameters)`` returning
        ``(new_param, new_states)``, ``states`` being a list of arrays.
    n_steps : int, default=25
    lr : float, default=0.01
    rtol : float, default=1e-10
    """
    from ._kernels.cpu.blocks import optimizer_block

    assert isinstance(plugin, OptimizerPlugin), f"not an OptimizerPlugin: {plugin!r}"
    if plugin.full_batch:
        return
    hp = dict(plugin.hyperparameters)
    hp.update(hyperparameters or {})
    hp = {k: float(v) for k, v in hp.items()}
    rng = np.random.RandomState(0)
    curvature = rng.uniform(0.5, 2.0, 12)
    start = rng.normal(0, 1, 12)

    def grad_fn(p):
        return curvature * p

    block = optimizer_block(plugin, np.float64)
    param = start.copy()
    state = np.zeros((max(plugin.n_state, 1), param.size))
    hp_vec = np.array(list(hp.values()) or [0.0])
    for t in range(1, n_steps + 1):
        block(param, grad_fn(param), state, hp_vec, lr, t)
    assert np.isfinite(param).all(), f"{plugin.name}: parameters became non-finite"

    if reference is None:
        expected = _reference_steps(plugin, hp, start, grad_fn, lr, n_steps)
    else:
        expected = start.copy()
        states = [np.zeros_like(start) for _ in range(plugin.n_state)]
        for t in range(1, n_steps + 1):
            expected, states = reference(expected, grad_fn(expected), states, lr, t, **hp)
    np.testing.assert_allclose(
        param, expected, rtol=rtol, atol=1e-12,
        err_msg=f"{plugin.name}: compiled update differs from the reference",
    )

    def loss(p):
        return 0.5 * float(np.sum(curvature * p * p))

    assert loss(param) < loss(start), (
        f"{plugin.name}: {n_steps} steps with lr={lr} did not lower a quadratic "
        f"({loss(start):.4g} -> {loss(param):.4g})"
    )


def check_regularizer(plugin, hyperparameters=None, rtol=1e-6):
    """Check a regularizer's compiled penalty and gradient.

    The compiled block must return ``scale * sum(penalty)`` and add
    ``scale * gradient`` to the gradient buffer, and the gradient must match
    finite differences of the penalty away from 0.
    """
    from ._kernels.cpu.blocks import regularizer_block

    assert isinstance(plugin, RegularizerPlugin), f"not a RegularizerPlugin: {plugin!r}"
    hp = dict(plugin.hyperparameters)
    hp.update(hyperparameters or {})
    args = tuple(float(v) for v in hp.values())
    w = np.array([-50.0, -2.0, -0.3, -1e-3, 0.0, 1e-3, 0.4, 3.0, 50.0])
    block = regularizer_block(plugin, np.float64)
    gw = np.full_like(w, 0.25)
    scale = 0.7
    total = block(w, gw, np.array(list(args) or [0.0]), scale)
    penalties = np.array([plugin.penalty(float(v), *args) for v in w])
    grads = np.array([plugin.gradient(float(v), *args) for v in w])
    np.testing.assert_allclose(total, scale * penalties.sum(), rtol=1e-12,
                               err_msg=f"{plugin.name}: compiled penalty")
    np.testing.assert_allclose(gw, 0.25 + scale * grads, rtol=1e-12,
                               err_msg=f"{plugin.name}: compiled gradient")
    smooth = np.abs(w) > 1e-2
    numeric = np.array([
        _fd(lambda v: plugin.penalty(v, *args), float(v), 1e-6 * max(1.0, abs(v)))
        for v in w[smooth]
    ])
    np.testing.assert_allclose(grads[smooth], numeric, rtol=rtol, atol=1e-8,
                               err_msg=f"{plugin.name}: gradient disagrees with "
                               "finite differences")


def check_initializer(plugin, hyperparameters=None):
    """Check an initializer's shapes, finiteness and reproducibility."""
    assert isinstance(plugin, InitializerPlugin), f"not an InitializerPlugin: {plugin!r}"
    hp = dict(plugin.hyperparameters)
    hp.update(hyperparameters or {})
    for fan_in, fan_out in ((1, 1), (7, 3), (64, 100)):
        draws = []
        for _ in range(2):
            coef, intercept = plugin.init(np.random.RandomState(3), fan_in,
                                          fan_out, "relu", **hp)
            coef, intercept = np.asarray(coef), np.asarray(intercept)
            assert coef.shape == (fan_in, fan_out), (
                f"{plugin.name}: coef shape {coef.shape}, expected {(fan_in, fan_out)}"
            )
            assert intercept.shape == (fan_out,), (
                f"{plugin.name}: intercept shape {intercept.shape}, expected {(fan_out,)}"
            )
            assert np.isfinite(coef).all() and np.isfinite(intercept).all()
            draws.append((coef, intercept))
        np.testing.assert_array_equal(draws[0][0], draws[1][0],
                                      err_msg=f"{plugin.name}: not reproducible")
        if fan_in * fan_out > 1:
            assert np.std(draws[0][0]) > 0, f"{plugin.name}: weights are constant"


_CHECKS = {
    "activation": check_activation,
    "optimizer": check_optimizer,
    "regularizer": check_regularizer,
    "initializer": check_initializer,
    "loss": check_loss,
}


def _device_callables(plugin):
    """The scalar functions of ``plugin`` that skdeep compiles for the GPU."""
    if isinstance(plugin, ActivationPlugin):
        names = ("value", "derivative", "parameter_derivative")
    elif isinstance(plugin, OptimizerPlugin):
        names = ("update",)
    elif isinstance(plugin, RegularizerPlugin):
        names = ("penalty", "gradient")
    elif isinstance(plugin, LossPlugin):
        names = ("loss", "gradient", "link_gradient")
    else:  # initializers run on the host
        names = ()
    return [(name, getattr(plugin, name)) for name in names
            if getattr(plugin, name, None) is not None]


def _gpu_arguments(plugin, name, fn, hp, dtype):
    """Rows of arguments to evaluate ``fn`` at: leading arguments from a
    grid (activation inputs around 0 and large; elsewhere values in (0, 1),
    valid probabilities, targets and step counts), then the hyperparameters."""
    n_args = len(inspect.signature(fn).parameters)
    n_lead = n_args - len(hp)
    rng = np.random.RandomState(0)
    if isinstance(plugin, ActivationPlugin):
        x = np.array([-10.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 3.0, 10.0])
        lead = [x]
        if n_lead > 1:  # the derivatives also take y = value(x)
            lead.append(np.array([plugin.value(float(v), *hp) for v in x]))
    else:
        x = rng.uniform(0.05, 0.95, 12)
        lead = [x] + [rng.uniform(0.05, 0.95, x.size) for _ in range(n_lead - 1)]
    columns = lead + [np.full(x.size, v) for v in hp]
    return np.ascontiguousarray(np.column_stack(columns), dtype=dtype)


def _gpu_kernel(cuda, device_fn, n_args, n_out):
    """A kernel evaluating ``device_fn`` on each row of ``args`` into ``out``."""
    call = ", ".join(f"args[i, {k}]" for k in range(n_args))
    if n_out is None:
        store = "        out[i, 0] = r\n"
    else:
        store = "".join(f"        out[i, {k}] = r[{k}]\n" for k in range(n_out))
    source = ("def evaluate(args, out):\n"
              "    i = cuda.grid(1)\n"
              "    if i < args.shape[0]:\n"
              f"        r = fn({call})\n" + store)
    namespace = {"cuda": cuda, "fn": device_fn}
    exec(compile(source, "<skdeep.testing GPU check>", "exec"), namespace)
    return namespace["evaluate"]


def _cuda_unavailable_reason():
    try:
        from numba import cuda  # noqa: F401
    except ImportError as exc:
        return f"numba-cuda is not installed ({exc})"
    return None


_gpu_skip_warned = set()
_no_compiler = []  # why PTX cannot be compiled in this process, once known


def check_gpu(plugin, hyperparameters=None, dtypes=(np.float64, np.float32)):
    """Compile a plugin's scalar functions for CUDA and compare with the CPU.

    Each function skdeep compiles for the GPU (an activation's value and
    derivatives, an optimizer's update, a regularizer's penalty and
    gradient, a loss's functions) is compiled as a device function, as the
    GPU kernels use it, and evaluated in a small kernel on the CUDA
    simulator (``NUMBA_ENABLE_CUDASIM=1``) or a GPU; the results must match
    the CPU-compiled function. Without the simulator or a GPU, the kernel is
    compiled to PTX for compute capability 9.0 instead (this needs NVVM,
    ``pip install "numba-cuda[cu13]"``), which catches constructs the real
    target rejects (the simulator runs plain Python and accepts them).

    Parameters
    ----------
    plugin : plugin record
    hyperparameters : dict, optional
        Values to check with (default: the declared defaults).
    dtypes : sequence of dtype
        Float types to check.

    Returns
    -------
    str
        What was checked, or why the check was skipped (``numba-cuda`` not
        installed, or no simulator, GPU or NVVM).
    """
    reason = _cuda_unavailable_reason()
    if reason:
        return f"skipped: {reason}"
    from numba import cuda

    from ._kernels.cpu.compile import scalar_jit
    from ._kernels.cuda.compile import device_function, simulator_enabled

    callables = _device_callables(plugin)
    if not callables:
        return "nothing runs on the GPU"
    hp = dict(getattr(plugin, "hyperparameters", {}) or {})
    hp.update(hyperparameters or {})
    hp_values = [float(v) for v in hp.values()]
    run = simulator_enabled() or cuda.is_available()
    if not run and _no_compiler:
        return f"skipped: {_no_compiler[0]}"
    done = []
    for dtype in map(np.dtype, dtypes):
        for name, fn in callables:
            args = _gpu_arguments(plugin, name, fn, hp_values, dtype)
            cpu_fn = scalar_jit(fn, dtype)
            expected = [cpu_fn(*row) for row in args]
            n_out = len(expected[0]) if isinstance(expected[0], tuple) else None
            expected = np.array(expected, dtype=np.float64).reshape(len(args), -1)
            where = f"{plugin.name}: {name} ({dtype.name})"
            try:
                kernel = _gpu_kernel(cuda, device_function(fn, dtype), args.shape[1],
                                     n_out)
                if run:
                    out = np.zeros((len(args), expected.shape[1]), dtype)
                    cuda.jit(kernel)[1, len(args)](args, out)
                else:
                    _compile_ptx(cuda, kernel, dtype, expected.shape[1])
            except _NoCompiler as exc:
                _no_compiler.append(str(exc))
                return f"skipped: {exc}"
            except Exception as exc:
                raise AssertionError(
                    f"{where} does not compile for the GPU: "
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
                ) from exc
            if run:
                rtol = 1e-10 if dtype == np.float64 else 2e-5
                ok = np.isfinite(expected)
                np.testing.assert_allclose(
                    out[ok], expected[ok], rtol=rtol, atol=rtol * 1e-2,
                    err_msg=f"{where}: GPU and CPU results differ")
                assert np.isfinite(out[ok]).all(), f"{where}: not finite on the GPU"
            done.append(name)
    how = "compared with the CPU on the CUDA simulator" if simulator_enabled() else (
        "compared with the CPU on the GPU" if run else "compiled to PTX")
    return f"{how}: {', '.join(sorted(set(done)))}"


class _NoCompiler(Exception):
    """No GPU, simulator or NVVM to compile with."""


def _compile_ptx(cuda, kernel, dtype, n_out):
    import numba

    from ._kernels.cuda.ptx import _without_driver

    t = numba.float32 if dtype == np.float32 else numba.float64
    try:
        with _without_driver((9, 0)):
            cuda.compile_ptx(kernel, (t[:, ::1], t[:, ::1]), cc=(9, 0))
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        if any(word in text for word in ("NVVM", "nvvm", "NVRTC", "nvrtc",
                                         "DynamicLibNotFound", "CUDA_HOME")):
            raise _NoCompiler("no GPU, no CUDA simulator and no NVVM to compile "
                              "PTX with (pip install \"numba-cuda[cu13]\", or "
                              "set NUMBA_ENABLE_CUDASIM=1)") from exc
        raise


def check_plugin(kind, name, gpu=True, **kwargs):
    """Run the checks for the registered plugin ``name`` of ``kind``.

    Parameters
    ----------
    kind : str
        "activation", "optimizer", "initializer", "regularizer" or "loss".
    name : str
    gpu : bool, default=True
        Also run :func:`check_gpu`; when it cannot (no ``numba-cuda``, or
        neither a simulator, a GPU nor NVVM), a ``UserWarning`` says so once.
    **kwargs
        Passed to the kind's check (``hyperparameters``, tolerances).
    """
    plugin = get_registry().get(kind, name)
    _CHECKS[kind](plugin, **kwargs)
    if gpu:
        outcome = check_gpu(plugin, kwargs.get("hyperparameters"))
        if outcome.startswith("skipped") and outcome not in _gpu_skip_warned:
            _gpu_skip_warned.add(outcome)
            warnings.warn(f"skdeep.testing: GPU check {outcome}", UserWarning,
                          stacklevel=2)


def check_all_plugins():
    """Check every registered plugin; return the ``(kind, name)`` pairs.

    Raises the first failure, naming the plugin.
    """
    checked = []
    for kind, table in get_registry().tables().items():
        for name in sorted(table):
            try:
                check_plugin(kind, name)
            except AssertionError as exc:
                raise AssertionError(f"{kind} {name!r} ({table[name].source}): {exc}") from exc
            checked.append((kind, name))
    return checked
