"""Per-epoch control loop: schedules, early stopping, history, L-BFGS.

Python runs here once per epoch; every minibatch of the epoch runs inside
one compiled call (``CompiledNetwork.train_epoch``).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.optimize import _check_optimize_result

from ._network import hyperparameter_vector

try:  # private helper, present in sklearn >= 1.5
    from sklearn.utils.fixes import _get_additional_lbfgs_options_dict
except ImportError:  # pragma: no cover
    def _get_additional_lbfgs_options_dict(key, value):
        return {key: value}


# Largest chunk of rows the full-batch (L-BFGS) loss processes at once.
_FULL_BATCH_CHUNK = 2048


def fit_lbfgs(est, net, theta, X, Y, sw, reg, frozen=None):
    """Minimize the full-data loss with scipy's L-BFGS-B.

    ``theta`` is updated in place with the solution. The ``frozen``
    ``[start, stop)`` ranges get a zero gradient, so L-BFGS never moves them.
    """
    reg_block, reg_hp = reg
    ws = net.workspace(min(_FULL_BATCH_CHUNK, X.shape[0]))
    X, Y, sw = net.to_device(X), net.to_device(Y), net.to_device(sw)
    alpha = float(est.alpha)
    frozen = () if frozen is None else frozen

    def fun(x):
        theta[:] = x
        loss = net.loss_grad(theta, X, Y, sw, reg_block, reg_hp, alpha, ws)
        grad = ws.grad.astype(np.float64)
        for start, stop in frozen:
            grad[start:stop] = 0.0
        return loss, grad

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
    """The learning rate of every step, and its reaction to each epoch.

    sklearn's ``constant``, ``invscaling`` and ``adaptive`` behave exactly as
    in sklearn (and, like sklearn's, are ignored by ``adam``); any other name
    or a :class:`skdeep.LearningRateSchedule` object applies to every
    stochastic optimizer.
    """

    def __init__(self, est, follows, steps_per_epoch):
        from ._schedules import make_schedule

        self.init = float(est.learning_rate_init)
        self.custom = make_schedule(est.learning_rate)
        if self.custom is not None:
            self.kind = "custom"
            self.state = self.custom.start(self.init, steps_per_epoch)
        else:
            self.kind = est.learning_rate if follows else "constant"
        self.power_t = float(est.power_t)
        self.rate = self.init
        # Epochs since this schedule (and the optimizer state) started; a
        # warm start restarts both, partial_fit continues both.
        self.epoch = 0

    def rates(self, epoch, first_step, n_steps):
        """float64 rates of the ``n_steps`` steps of an epoch."""
        if self.custom is not None:
            rates = np.asarray(
                self.custom.rates(self.state, epoch, first_step, n_steps),
                dtype=np.float64,
            )
            if rates.shape != (n_steps,) or not np.isfinite(rates).all():
                raise ValueError(
                    f"learning_rate schedule {self.custom!r} returned "
                    f"{rates!r}; expected {n_steps} finite rates."
                )
            return rates
        return np.full(n_steps, self.rate)

    def epoch_end(self, monitor):
        """Feed the monitored loss to a custom schedule; returns its message."""
        self.epoch += 1
        if self.custom is not None:
            return self.custom.epoch_end(self.state, monitor)
        return None

    def iteration_ends(self, time_step):
        if self.kind == "invscaling":
            self.rate = self.init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, report):
        """sklearn's reaction to a plateau: stop, or divide the rate by 5."""
        if self.kind != "adaptive":
            report(msg + " Stopping.")
            return True
        if self.rate <= 1e-6:
            report(msg + " Learning rate too small. Stopping.")
            return True
        self.rate /= 5.0
        report(msg + " Setting learning rate to %f" % self.rate)
        return False


class Progress:
    """Per-epoch progress: a tqdm bar when available, else sklearn's lines."""

    def __init__(self, verbose, total):
        self.verbose = verbose
        self.bar = None
        if verbose and int(verbose) < 2:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm
                self.bar = tqdm(total=total, unit="epoch", leave=True)
        self._first = True

    def epoch(self, n_iter, loss, val_loss, val_score):
        if not self.verbose:
            return
        if self.bar is None:
            print("Iteration %d, loss = %.8f" % (n_iter, loss))
            if val_loss is not None:
                print("Validation loss: %f" % val_loss)
                print("Validation score: %f" % val_score)
            return
        postfix = {"loss": f"{loss:.4g}"}
        if val_loss is not None:
            postfix["val_loss"] = f"{val_loss:.4g}"
            postfix["val_score"] = f"{val_score:.4g}"
        if self._first:
            # A process's first epoch includes loading (in a fresh
            # environment, compiling) the kernels: the bar that follows it
            # starts its clock after it, to keep that out of its estimate.
            self._first = False
            total = self.bar.total
            self.bar.leave = False
            self.bar.close()
            self.bar = self._tqdm(total=total, initial=1, unit="epoch", leave=True)
            self.bar.set_postfix(postfix)
        else:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def message(self, text):
        if not self.verbose:
            return
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _split_validation(est, X, Y, sw, y_raw, validation_data):
    """Training and validation sets: the user's, or sklearn's split."""
    if validation_data is not None:
        X_val, y_val, sw_val, Y_val = validation_data
        return X, Y, sw, X_val, Y_val, sw_val, y_val
    # Imported on use: sklearn.model_selection (with sklearn.metrics) is
    # about 50 ms of a fresh process's import that most fits do not need.
    from sklearn.model_selection import train_test_split

    should_stratify = is_classifier(est) and est.n_outputs_ == 1
    X_train, X_val, Y_train, Y_val, sw_train, sw_val, _, y_val = train_test_split(
        X, Y, sw, y_raw,
        random_state=est._random_state,
        test_size=est.validation_fraction,
        stratify=Y if should_stratify else None,
    )
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    sw_val = None if est._unweighted else sw_val
    return (np.ascontiguousarray(X_train), np.ascontiguousarray(Y_train),
            np.ascontiguousarray(sw_train), np.ascontiguousarray(X_val),
            np.ascontiguousarray(Y_val), sw_val, y_val)


def _score_scale(est, Y, sw):
    """What the kernel's training-score sums are divided by.

    Classifiers: the weight sum comes from the kernel (None here).
    Regressors: the weighted total sum of squares of the targets, for R².
    """
    if is_classifier(est):
        return None
    mean = np.average(Y, axis=0, weights=sw)
    return float(np.sum(sw[:, None] * (Y - mean) ** 2))


def _training_score(totals, scale):
    """The running training score of an epoch from the kernel's sums."""
    if totals[1] <= 0:
        return None
    if scale is None:
        return float(totals[0] / totals[1])
    return 1.0 - float(totals[0]) / scale if scale > 0 else None


def fit_stochastic(est, net, theta, X, Y, sw, y_raw, optimizer, reg,
                   incremental, running, validation_data=None, frozen=None):
    """Minibatch training, mirroring sklearn's ``_fit_stochastic``.

    ``theta`` and the batch-norm statistics ``running`` are updated in
    place; the estimator's history attributes, optimizer state and best
    weights are updated as sklearn does.
    """
    plugin, opt_hp_dict = optimizer
    reg_block, reg_hp = reg
    dtype = net.dtype
    opt_block = net.optimizer_block(plugin)
    opt_hp = hyperparameter_vector(opt_hp_dict)
    n_state = max(plugin.n_state, 1)

    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True")
    validate = est.early_stopping or validation_data is not None
    if validate:
        X_train, Y_train, sw_train, X_val, Y_val, sw_val, y_val = (
            _split_validation(est, X, Y, sw, y_raw, validation_data))
        sw_val_full = (np.ones(X_val.shape[0], dtype=dtype) if sw_val is None
                       else np.ascontiguousarray(sw_val, dtype=dtype))
        val_ws = net.workspace(min(_FULL_BATCH_CHUNK, X_val.shape[0]))
        # Data moves to the device once per fit (a no-op on the CPU).
        X_val_dev, Y_val_dev, sw_val_dev = (
            net.to_device(X_val), net.to_device(Y_val), net.to_device(sw_val_full))
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
    if any(net.layout.batch_norm) and (batch_size == 1 or n_samples % batch_size == 1):
        # One row normalizes to zero: its batch statistics carry nothing.
        raise ValueError(
            f"batch_norm needs at least 2 rows in every minibatch; "
            f"{n_samples} training row(s) in batches of {batch_size} leave a "
            "batch of 1 row. Choose another batch_size (or pass more rows "
            "to partial_fit)."
        )

    state = getattr(est, "_optimizer_state", None)
    if (not incremental or state is None or state.shape != (n_state, theta.size)
            or state.dtype != dtype):
        est._optimizer_state = np.zeros((n_state, theta.size), dtype=dtype)
        est._optimizer_steps = 0
        est._schedule = Schedule(est, plugin.follows_schedule, n_batches)
    schedule = est._schedule

    ws = net.workspace(batch_size)
    X_dev, Y_dev, sw_dev = (net.to_device(X_train), net.to_device(Y_train),
                            net.to_device(sw_train))
    order = np.arange(n_samples, dtype=np.int64)
    alpha = float(est.alpha)
    est._export_parameters(net.layout, theta, running)

    clip_value = float(est.clip_value or 0.0)
    clip_norm = float(est.clip_norm or 0.0)
    dropout = est._dropout_rates(len(net.layout.shapes) - 1)
    if (dropout > 0).any():
        ws.enable_dropout()
    if est.mixup_alpha > 0:
        ws.enable_mixup(X_train.shape[1], Y_train.shape[1])
    if getattr(est, "history_", None) is None:
        est.history_ = []
    callbacks = list(est.callbacks or ())
    monitor_loss = est.early_stopping_metric == "loss"
    restore_best = est.early_stopping and est.restore_best_weights
    best_running = running.copy()
    progress = Progress(est.verbose, 1 if incremental else est.max_iter)
    score_scale = _score_scale(est, Y_train, sw_train)

    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            started = time.perf_counter()
            before = theta[:net.layout.n_weights].copy()
            seed = int(est._random_state.randint(np.iinfo(np.int32).max))
            lrs = schedule.rates(schedule.epoch, est._optimizer_steps, n_batches)
            total = net.train_epoch(
                theta, X_dev, Y_dev, sw_dev, order, batch_size,
                bool(est.shuffle), seed, opt_block, est._optimizer_state,
                opt_hp, lrs, est._optimizer_steps, reg_block, reg_hp, alpha,
                ws, clip_value, clip_norm, dropout, est.input_noise,
                est.mixup_alpha, running, est.batch_norm_momentum, frozen,
            )
            est._optimizer_steps += n_batches
            est.n_iter_ += 1
            est.loss_ = total / n_samples
            est.t_ += n_samples
            est.loss_curve_.append(est.loss_)

            val_loss = val_score = None
            if validate:
                val_loss = float(net.loss_grad(
                    theta, X_val_dev, Y_val_dev, sw_val_dev, reg_block, reg_hp,
                    alpha, val_ws, running,
                ))
                outputs = net.predict(theta, X_val_dev, running)
                val_score = est._score_outputs(outputs, y_val, sw_val)
                est.validation_loss_curve_.append(val_loss)
                est.validation_scores_.append(val_score)
            progress.epoch(est.n_iter_, est.loss_, val_loss, val_score)
            if est.early_stopping:
                if _track_validation(est, val_loss, val_score, monitor_loss):
                    est._best_theta = theta.copy()
                    best_running[:] = running
            else:
                _track_training_loss(est)
            record = {
                "epoch": len(est.loss_curve_),
                "loss": est.loss_,
                "score": _training_score(ws.totals, score_scale),
                "validation_loss": val_loss,
                "validation_score": val_score,
                "learning_rate": float(lrs[0]),
                "time": time.perf_counter() - started,
                "update_ratio": _update_ratios(net.layout, before, theta),
            }
            est.history_.append(record)
            schedule.iteration_ends(est.t_)
            message = schedule.epoch_end(est.loss_ if val_loss is None else val_loss)
            if message:
                which = "Training" if val_loss is None else "Validation"
                progress.message(f"{which} loss: {message}")
            if any([callback(est, record) is True for callback in callbacks]):
                break

            if est._no_improvement_count > est.n_iter_no_change:
                if est.early_stopping:
                    metric = "loss" if monitor_loss else "score"
                    msg = (
                        "Validation %s did not improve more than "
                        "tol=%f for %d consecutive epochs."
                        % (metric, est.tol, est.n_iter_no_change)
                    )
                else:
                    msg = (
                        "Training loss did not improve more than tol=%f"
                        " for %d consecutive epochs."
                        % (est.tol, est.n_iter_no_change)
                    )
                if schedule.trigger_stopping(msg, progress.message):
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
    finally:
        progress.close()

    if restore_best and getattr(est, "_best_theta", None) is not None:
        theta[:] = est._best_theta
        running[:] = best_running
    est.__dict__.pop("_best_theta", None)


def _track_validation(est, val_loss, val_score, monitor_loss):
    """Early-stopping bookkeeping; returns whether this epoch is the best."""
    if not (np.isfinite(val_loss) and np.isfinite(val_score)):
        # A diverging run never counts as an improvement.
        est._no_improvement_count += 1
        return False
    if val_loss < est.best_validation_loss_:
        est.best_validation_loss_ = val_loss
    if monitor_loss:
        best = est._best_monitored
        if val_loss > best - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        improved = val_loss < best
        if improved:
            est._best_monitored = val_loss
    else:
        if val_score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        improved = val_score > est.best_validation_score_
    if val_score > est.best_validation_score_:
        est.best_validation_score_ = val_score
    return improved


def _track_training_loss(est):
    if est.loss_curve_[-1] > est.best_loss_ - est.tol:
        est._no_improvement_count += 1
    else:
        est._no_improvement_count = 0
    if est.loss_curve_[-1] < est.best_loss_:
        est.best_loss_ = est.loss_curve_[-1]


def _update_ratios(layout, before, theta):
    """Per layer ``||W_after - W_before|| / ||W_before||``."""
    ratios = []
    # sqrt(x @ x) is what np.linalg.norm computes for a vector, without its
    # per-call overhead (40 us per epoch of a digits fit, about 5%).
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run
        for i, (fan_in, fan_out) in enumerate(layout.shapes):
            weights = slice(layout.w_off[i], layout.w_off[i] + fan_in * fan_out)
            w_before = before[weights]
            change = theta[weights] - w_before
            norm = math.sqrt(float(w_before @ w_before))
            ratios.append(math.sqrt(float(change @ change)) / norm if norm > 0
                          else float("inf"))
    return ratios


def regularizer(net, plugin_and_hp):
    """Compile a resolved regularizer into ``(block, hyperparameters)``."""
    plugin, hp = plugin_and_hp
    return net.regularizer_block(plugin), hyperparameter_vector(hp)
