"""Per-epoch control loop: schedules, early stopping, history, L-BFGS.

Python runs here once per epoch; the minibatches of an epoch run in the
backend (``network.train_epoch``): on the CPU inside one compiled call, on
CUDA in a host loop that launches device kernels with no Python math
between them. What a stochastic fit evolves is one :class:`TrainingState`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import os
import threading
import time
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.optimize import _check_optimize_result

from ._kernels.layout import (
    CONTROL_DIVERGED,
    CONTROL_SIZE,
    CONTROL_STEPS,
    CONTROL_STOP,
    batch_length,
    hyperparameter_vector,
    n_minibatches,
)
from ._parameters import unpack
from ._public import public

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

    losses = []

    def fun(x):
        theta[:] = x
        loss = net.loss_grad(theta, X, Y, sw, reg_block, reg_hp, alpha, ws)
        grad = ws.grad.astype(np.float64)
        for start, stop in frozen:
            grad[start:stop] = 0.0
        losses.append(loss)
        return loss, grad

    def report(xk):
        # scipy >= 1.15 ignores iprint, so verbose printed nothing: print
        # the stochastic solvers' line (L-BFGS-B evaluates the accepted
        # point last before it calls back).
        report.iteration += 1
        print(f"Iteration {report.iteration}, loss = {losses[-1]:.8f}")

    report.iteration = 0
    iprint = 1 if est.verbose is True or est.verbose >= 1 else -1
    result = scipy.optimize.minimize(
        fun,
        theta.astype(np.float64),
        method="L-BFGS-B",
        jac=True,
        callback=report if est.verbose else None,
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


@public
@dataclasses.dataclass(eq=False)
class TrainingState:
    """What a stochastic fit evolves, and what ``partial_fit`` continues from.

    A fitted estimator keeps it in ``training_state_`` (stochastic solvers).
    Training never changes a stored state: it works on a :meth:`copy` and
    stores the result, so a failed fit leaves the previous one intact.

    Attributes
    ----------
    optimizer_state : ndarray of shape (n_state, n_params)
        The optimizer's per-parameter state (moments, velocities), in the
        network's dtype.
    steps : int
        Optimizer steps taken since the state started.
    epoch : int
        Epochs since the state started (the schedules' clock).
    learning_rate : float
        Current rate of sklearn's ``constant``/``invscaling``/``adaptive``.
    schedule_state : skdeep.ScheduleState or None
        State of a :class:`skdeep.LearningRateSchedule`.
    no_improvement_count : int
        Epochs without improvement, for ``n_iter_no_change``.
    best_monitored : float
        Best monitored validation loss (``early_stopping_metric="loss"``).
    best_params : ndarray of shape (n_params,) or None
        With ``early_stopping``: the flat parameters of the best validation
        epoch so far, what ``restore_best_weights`` restores. It carries
        over into a ``warm_start`` fit, as ``best_validation_score_`` does:
        when no epoch of that fit beats the earlier best, the earlier best
        weights are restored.
    best_running : ndarray or None
        The batch-norm running statistics that go with ``best_params``.
    """

    optimizer_state: np.ndarray = dataclasses.field(default=None, repr=False)
    steps: int = 0
    epoch: int = 0
    learning_rate: float = 0.0
    schedule_state: object = None
    no_improvement_count: int = 0
    best_monitored: float = np.inf
    best_params: np.ndarray = dataclasses.field(default=None, repr=False)
    best_running: np.ndarray = dataclasses.field(default=None, repr=False)

    def copy(self):
        """A deep copy (arrays included)."""
        return copy.deepcopy(self)

    def restart(self, n_state, n_params, dtype, controller, steps_per_epoch):
        """Start the optimizer and the schedule afresh (a new fit)."""
        self.optimizer_state = np.zeros((n_state, n_params), dtype=dtype)
        self.steps = 0
        self.epoch = 0
        self.learning_rate, self.schedule_state = controller.start(steps_per_epoch)


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


def _split_validation(est, X, Y, sw, y_raw, validation_data, weighted):
    """Training and validation sets: the user's, or sklearn's split.

    Without sample weights (``weighted`` False) the split's validation score
    is unweighted, as sklearn's.
    """
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
        # sklearn stratifies on its boolean encoding (label smoothing keeps
        # positives above 1/2), so a too-rare class is reported as 'True'.
        stratify=Y > 0.5 if should_stratify else None,
    )
    if X_val.shape[0] < 2:
        raise ValueError(
            "The validation set is too small. Increase 'validation_fraction' "
            "or the size of your dataset."
        )
    sw_val = sw_val if weighted else None
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
                   incremental, running, state, weighted, validation_data=None,
                   frozen=None):
    """Minibatch training, mirroring sklearn's ``_fit_stochastic``.

    ``theta`` and the batch-norm statistics ``running`` are updated in
    place; the estimator's history attributes are updated as sklearn does.
    ``state`` (a :class:`TrainingState`, not changed) is what the previous
    call left; the evolved copy is stored in ``est.training_state_``, even
    when training is interrupted.
    """
    from ._schedules import LearningRateController

    plugin, opt_hp_dict = optimizer
    reg_block, reg_hp = reg
    dtype = net.dtype
    opt_block = net.optimizer_block(plugin)
    opt_hp = hyperparameter_vector(opt_hp_dict)
    n_state = max(plugin.n_state, 1)

    if est.early_stopping and incremental:
        raise ValueError("partial_fit does not support early_stopping=True; "
                         "use fit, or set early_stopping=False")
    validate = est.early_stopping or validation_data is not None
    if validate:
        X_train, Y_train, sw_train, X_val, Y_val, sw_val, y_val = (
            _split_validation(est, X, Y, sw, y_raw, validation_data, weighted))
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
    # One row normalizes to zero under batch normalization (its batch
    # statistics carry nothing): a last batch of one row joins the one
    # before; a single row, or batches of one, cannot be trained.
    merge_single = any(net.layout.batch_norm)
    if merge_single and n_samples == 1:
        raise ValueError(
            "batch_norm needs at least 2 rows per minibatch; got 1 training "
            "row. Pass at least 2 rows to partial_fit."
        )
    n_batches = n_minibatches(n_samples, batch_size, merge_single)

    controller = LearningRateController(est.learning_rate, est.learning_rate_init,
                                        est.power_t, plugin.follows_schedule)
    state = (state or TrainingState()).copy()
    opt_state = state.optimizer_state
    if (not incremental or opt_state is None
            or opt_state.shape != (n_state, theta.size) or opt_state.dtype != dtype):
        state.restart(n_state, theta.size, dtype, controller, n_batches)

    ws = net.workspace(batch_size + merge_single)
    control = np.zeros(CONTROL_SIZE, dtype=np.int64)
    X_dev, Y_dev, sw_dev = (net.to_device(X_train), net.to_device(Y_train),
                            net.to_device(sw_train))
    order = np.arange(n_samples, dtype=np.int64)
    alpha = float(est.alpha)
    # Callbacks see the weights being trained.
    vars(est).update(unpack(net.layout, theta, running))

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
    if not (est.early_stopping and state.best_params is not None
            and state.best_params.shape == theta.shape
            and state.best_params.dtype == theta.dtype
            and state.best_running.shape == running.shape):
        state.best_params = state.best_running = None
    progress = Progress(est.verbose, 1 if incremental else est.max_iter)
    score_scale = _score_scale(est, Y_train, sw_train)
    epoch_seconds = math.inf  # the first epoch runs interruptibly
    # Only the main thread receives Ctrl-C. A fit on another thread (joblib's
    # threading backend runs a search's fits side by side) keeps its epochs
    # there: the one epoch thread would serialize concurrent fits.
    on_main_thread = threading.current_thread() is threading.main_thread()
    # The whole fit holds its batches' thread limit, not each epoch: fits
    # side by side on threads then keep the lowered count between epochs
    # (a count restored there by one fit would not be lowered again by the
    # other, see _kernels/cpu/threads.py).
    thread_limit = net.limit_threads(min(batch_size, n_samples))
    thread_limit.__enter__()
    try:
        est.n_iter_ = 0
        for _ in range(est.max_iter):
            started = time.perf_counter()
            before = theta[:net.layout.n_weights].copy()
            seed = int(est._random_state.randint(np.iinfo(np.int32).max))
            lrs = controller.rates(state, n_batches)
            control[CONTROL_STOP] = 0

            args = (theta, X_dev, Y_dev, sw_dev, order, batch_size,
                    bool(est.shuffle), seed, opt_block, state.optimizer_state,
                    opt_hp, lrs, state.steps, reg_block, reg_hp, alpha,
                    ws, clip_value, clip_norm, dropout, est.input_noise,
                    est.mixup_alpha, running, est.batch_norm_momentum, frozen,
                    control, merge_single)
            runner = (functools.partial(run_interruptibly, control=control)
                      if on_main_thread and epoch_seconds > _SHORT_EPOCH else None)
            total = net.train_epoch(*args, runner=runner)
            epoch_seconds = time.perf_counter() - started
            steps = int(control[CONTROL_STEPS])
            state.steps += steps
            if control[CONTROL_DIVERGED] or not (
                    math.isfinite(total) and np.isfinite(theta).all()):
                raise _diverged(est, len(est.loss_curve_) + 1, total)
            if control[CONTROL_STOP]:
                # Interrupted inside the epoch: the parameters are those of
                # its last completed minibatch; the epoch is not counted.
                est.t_ += _rows_in(steps, n_samples, batch_size, merge_single)
                raise KeyboardInterrupt
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
                if _track_validation(est, state, val_loss, val_score, monitor_loss):
                    state.best_params = theta.copy()
                    state.best_running = running.copy()
            else:
                _track_training_loss(est, state)
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
            message = controller.epoch_end(
                state, est.loss_ if val_loss is None else val_loss, est.t_)
            if message:
                which = "Training" if val_loss is None else "Validation"
                progress.message(f"{which} loss: {message}")
            if any([callback(est, record) is True for callback in callbacks]):
                break

            if state.no_improvement_count > est.n_iter_no_change:
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
                if controller.trigger_stopping(state, msg, progress.message):
                    break
                state.no_improvement_count = 0

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
        thread_limit.__exit__(None, None, None)
        progress.close()
        est.training_state_ = state

    if restore_best and state.best_params is not None:
        theta[:] = state.best_params
        running[:] = state.best_running


# Epochs shorter than this run on the calling thread: Ctrl-C then waits for
# at most this long, and short epochs do not pay the hand-over to a worker
# thread (about 50 us).
_SHORT_EPOCH = 0.25

_worker = None
_worker_pid = None
_worker_lock = threading.Lock()


def run_interruptibly(task, args, control):
    """``task(*args)`` on a worker thread, so that Ctrl-C reaches this one at once.

    A compiled epoch holds no Python frame the interpreter could raise
    ``KeyboardInterrupt`` in until it returns. Here the calling thread
    waits instead; on Ctrl-C it sets ``control[CONTROL_STOP]``, which the
    epoch reads before every minibatch, and waits for the minibatch in
    flight to finish (a second Ctrl-C stops waiting).
    """
    global _worker, _worker_pid
    with _worker_lock:
        # A pool inherited through fork has no thread behind it.
        if _worker is None or _worker_pid != os.getpid():
            from concurrent.futures import ThreadPoolExecutor

            _worker = ThreadPoolExecutor(1, thread_name_prefix="skdeep-epoch")
            _worker_pid = os.getpid()
        future = _worker.submit(task, *args)
    try:
        return future.result()
    except KeyboardInterrupt:
        control[CONTROL_STOP] = 1
        return future.result()


def _rows_in(steps, n_samples, batch_size, merge_single):
    """Rows the first ``steps`` minibatches of an epoch hold."""
    rows = 0
    for _ in range(steps):
        rows += batch_length(rows, n_samples, batch_size, merge_single)
    return rows


def _diverged(est, epoch, loss):
    """The error of a fit whose loss or weights stopped being finite."""
    # The first sentence is sklearn's, for code that matches on it.
    return ValueError(
        "Solver produced non-finite parameter weights. The input data may "
        "contain large values and need to be preprocessed. Training diverged "
        f"in epoch {epoch}: the loss or the weights became non-finite (loss "
        f"{loss!r}), so the fit stopped there and the model was left as it "
        "was before this fit. Lower learning_rate_init (now "
        f"{est.learning_rate_init!r}), scale the inputs (e.g. StandardScaler), "
        "or limit the updates with clip_norm."
    )


def _track_validation(est, state, val_loss, val_score, monitor_loss):
    """Early-stopping bookkeeping; returns whether this epoch is the best."""
    if not (np.isfinite(val_loss) and np.isfinite(val_score)):
        # A diverging run never counts as an improvement.
        state.no_improvement_count += 1
        return False
    if val_loss < est.best_validation_loss_:
        est.best_validation_loss_ = val_loss
    if monitor_loss:
        best = state.best_monitored
        if val_loss > best - est.tol:
            state.no_improvement_count += 1
        else:
            state.no_improvement_count = 0
        improved = val_loss < best
        if improved:
            state.best_monitored = val_loss
    else:
        if val_score < est.best_validation_score_ + est.tol:
            state.no_improvement_count += 1
        else:
            state.no_improvement_count = 0
        improved = val_score > est.best_validation_score_
    if val_score > est.best_validation_score_:
        est.best_validation_score_ = val_score
    return improved


def _track_training_loss(est, state):
    if est.loss_curve_[-1] > est.best_loss_ - est.tol:
        state.no_improvement_count += 1
    else:
        state.no_improvement_count = 0
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
