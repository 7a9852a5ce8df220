"""Per-epoch control loop: schedules, early stopping, history, L-BFGS.

Python runs here once per epoch; every minibatch of the epoch runs inside
one compiled call (``CompiledNetwork.train_epoch``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.optimize import _check_optimize_result

from ._network import Workspace, hyperparameter_vector

try:  # private helper, present in sklearn >= 1.5
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:  # pragma: no cover
    def _get_additional_lbfgs_options_dict(key, value):
        return {key: value}


# Largest chunk of rows the full-batch (L-BFGS) loss processes at once.
_FULL_BATCH_CHUNK = 2048


def fit_lbfgs(est, net, theta, X, Y, sw, reg):
    """Minimize the full-data loss with scipy's L-BFGS-B.

    ``theta`` is updated in place with the solution.
    """
    reg_block, reg_hp = reg
    ws = Workspace(net.layout, min(_FULL_BATCH_CHUNK, X.shape[0]), net.dtype)
    alpha = float(est.alpha)

    def fun(x):
        theta[:] = x
        loss = net.loss_grad(theta, X, Y, sw, reg_block, reg_hp, alpha, ws)
        return loss, ws.grad.astype(np.float64)

    iprint = 1 if est.verbose is True or est.verbose >= 1 else -1
    result = scipy.optimize.minimize(
        fun,
        theta.astype(np.float64),
        method="L-BFGS-B",
        jac=True,
        options={
            "maxfun": est.max_fun,
            "maxiter": est.max_iter,
            "gtol": est.tol,
            **_get_additional_lbfgs_options_dict("iprint", iprint),
        },
    )
    est.n_iter_ = _check_optimize_result("lbfgs", result, est.max_iter)
    est.loss_ = float(result.fun)
    theta[:] = result.x


class Schedule:
    """sklearn's learning-rate schedules for stochastic solvers."""

    def __init__(self, est, follows):
        self.kind = est.learning_rate if follows else "constant"
        self.init = float(est.learning_rate_init)
        self.power_t = float(est.power_t)
        self.rate = self.init

    def iteration_ends(self, time_step):
        if self.kind == "invscaling":
            self.rate = self.init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        if self.kind != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.rate)
        return False


def fit_stochastic(est, net, theta, X, Y, sw, y_raw, optimizer, reg,
                   incremental):
    """Minibatch training, mirroring sklearn's ``_fit_stochastic``.

    ``theta`` is updated in place; the estimator's history attributes,
    optimizer state and best weights are updated as sklearn does.
    """
    plugin, opt_hp_dict = optimizer
    reg_block, reg_hp = reg
    dtype = net.dtype
    opt_block = _optimizer_block(plugin, dtype)
    opt_hp = hyperparameter_vector(opt_hp_dict)
    n_state = max(plugin.n_state, 1)

    state = getattr(est, "_optimizer_state", None)
    if (not incremental or state is None or state.shape != (n_state, theta.size)
            or state.dtype != dtype):
        est._optimizer_state = np.zeros((n_state, theta.size), dtype=dtype)
        est._optimizer_steps = 0
        est._schedule = Schedule(est, plugin.follows_schedule)

    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    early_stopping = est.early_stopping
    if early_stopping:
        should_stratify = is_classifier(est) and est.n_outputs_ == 1
        stratify = Y if should_stratify else None
        X_train, X_val, Y_train, Y_val, sw_train, sw_val, _, y_val = (
            train_test_split(
                X, Y, sw, y_raw,
                random_state=est._random_state,
                test_size=est.validation_fraction,
                stratify=stratify,
            )
        )
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        X_train = np.ascontiguousarray(X_train)
        Y_train = np.ascontiguousarray(Y_train)
        sw_train = np.ascontiguousarray(sw_train)
        sw_val_arg = None if est._unweighted else sw_val
    else:
        X_train, Y_train, sw_train = X, Y, sw

    n_samples = X_train.shape[0]
    if est.batch_size == "auto":
        batch_size = min(200, n_samples)
    else:
        if est.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped"
            )
        batch_size = int(np.clip(est.batch_size, 1, n_samples))
    n_batches = -(-n_samples // batch_size)
    ws = Workspace(net.layout, batch_size, dtype)
    order = np.arange(n_samples, dtype=np.int64)
    schedule = est._schedule
    alpha = float(est.alpha)
    coefs, intercepts = net.layout.unpack(theta)

    clip_value = float(est.clip_value or 0.0)
    clip_norm = float(est.clip_norm or 0.0)
    dropout = est._dropout_rates(len(net.layout.shapes) - 1)
    if (dropout > 0).any():
        ws.enable_dropout()
    if est.mixup_alpha > 0:
        ws.enable_mixup(X_train.shape[1], Y_train.shape[1])
    if early_stopping:
        val_ws = Workspace(net.layout, min(_FULL_BATCH_CHUNK, X_val.shape[0]), dtype)
        X_val = np.ascontiguousarray(X_val)
    if getattr(est, "history_", None) is None:
        est.history_ = []
    callbacks = list(est.callbacks or ())

    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            started = time.perf_counter()
            before = theta[:net.layout.n_weights].copy()
            seed = int(est._random_state.randint(np.iinfo(np.int32).max))
            rate = schedule.rate
            lrs = np.full(n_batches, rate)
            total = net.train_epoch(
                theta, X_train, Y_train, sw_train, order, batch_size,
                bool(est.shuffle), seed, opt_block, est._optimizer_state,
                opt_hp, lrs, est._optimizer_steps, reg_block, reg_hp, alpha,
                ws, clip_value, clip_norm, dropout, est.input_noise,
                est.mixup_alpha,
            )
            est._optimizer_steps += n_batches
            est.n_iter_ += 1
            est.loss_ = total / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)
            if est.verbose:
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))

            est.coefs_, est.intercepts_ = coefs, intercepts
            val_loss = None
            if early_stopping:
                val_loss = float(net.loss_grad(
                    theta, X_val, np.ascontiguousarray(Y_val),
                    np.ascontiguousarray(sw_val), reg_block, reg_hp, alpha,
                    val_ws,
                ))
                est.validation_loss_curve_.append(val_loss)
            _update_no_improvement_count(
                est, early_stopping, coefs, intercepts,
                X_val if early_stopping else None,
                y_val if early_stopping else None,
                sw_val_arg if early_stopping else None,
            )
            record = {
                "epoch": len(est.loss_curve_),
                "loss": est.loss_,
                "validation_loss": val_loss,
                "validation_score": (est.validation_scores_[-1]
                                     if early_stopping else None),
                "learning_rate": rate,
                "time": time.perf_counter() - started,
                "update_ratio": _update_ratios(net.layout, before, theta),
            }
            est.history_.append(record)
            schedule.iteration_ends(est.t_)
            if any([callback(est, record) is True for callback in callbacks]):
                break

            if est._no_improvement_count > est.n_iter_no_change:
                if early_stopping:
                    msg = (
                        "Validation score did not improve more than "
                        "tol=%f for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f"
                        " for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                if schedule.trigger_stopping(msg, est.verbose):
                    break
                est._no_improvement_count = 0

            if incremental:
                break

            if est.n_iter_ == est.max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) "
                    "reached and the optimization hasn't converged yet."
                    % est.max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")

    if early_stopping:
        theta[:] = net.layout.pack(est._best_coefs, est._best_intercepts, dtype)


def _update_ratios(layout, before, theta):
    """Per layer ``||W_after - W_before|| / ||W_before||``."""
    ratios = []
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run
        for i, (fan_in, fan_out) in enumerate(layout.shapes):
            sl = slice(layout.w_off[i], layout.w_off[i] + fan_in * fan_out)
            norm = float(np.linalg.norm(before[sl]))
            change = float(np.linalg.norm(theta[sl] - before[sl]))
            ratios.append(change / norm if norm > 0 else float("inf"))
    return ratios


def _update_no_improvement_count(est, early_stopping, coefs, intercepts,
                                 X_val, y_val, sw_val):
    if early_stopping:
        val_score = est._score(X_val, y_val, sample_weight=sw_val)
        est.validation_scores_.append(val_score)
        if est.verbose:
            print("Validation score: %f" % est.validation_scores_[-1])
        last = est.validation_scores_[-1]
        if last < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if last > est.best_validation_score_:
            est.best_validation_score_ = last
            est._best_coefs = [c.copy() for c in coefs]
            est._best_intercepts = [i.copy() for i in intercepts]
    else:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.loss_curve_[-1] < est.best_loss_:
            est.best_loss_ = est.loss_curve_[-1]


def _optimizer_block(plugin, dtype):
    from ._network import optimizer_block

    return optimizer_block(plugin, dtype)


def regularizer(plugin_and_hp, dtype):
    """Compile a resolved regularizer into ``(block, hyperparameters)``."""
    from ._network import regularizer_block

    plugin, hp = plugin_and_hp
    return regularizer_block(plugin, dtype), hyperparameter_vector(hp)
