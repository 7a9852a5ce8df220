"""Training-curve visualization in the style of scikit-learn's displays."""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from ._public import public

_CURVES = ("train_loss", "validation_loss", "train_score", "validation_score")


def _check_matplotlib_support(caller_name):
    """Raise an ImportError that says how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib, an optional dependency of "
            "skdeep. Install it with `pip install matplotlib` or "
            "`pip install 'skdeep-mlp[plot]'`."
        ) from e


def _per_epoch(curve, history, key, n_epochs):
    """One value per epoch from ``curve`` or, failing that, ``history``.

    Returns a float array of length ``n_epochs`` (NaN where an epoch has no
    value) or None when no epoch has one.
    """
    if curve is not None and len(curve) == n_epochs:
        values = np.asarray(curve, dtype=float)
    elif history:
        # history_ has one record per epoch, so it aligns values with epochs
        # even when a curve covers only some of them (e.g. warm starts).
        values = np.array(
            [np.nan if rec.get(key) is None else rec[key] for rec in history],
            dtype=float,
        )
    elif curve is not None and len(curve):
        # No history to align with: assume the curve covers the last epochs.
        values = np.full(n_epochs, np.nan)
        tail = np.asarray(curve, dtype=float)[-n_epochs:]
        values[n_epochs - len(tail):] = tail
    else:
        return None
    return None if np.isnan(values).all() else values


@public
class TrainingCurveDisplay:
    """Training curves (loss and score per epoch) of a neural network.

    It is recommended to use :meth:`TrainingCurveDisplay.from_estimator` to
    create a :class:`TrainingCurveDisplay`. All parameters are stored as
    attributes.

    The plot has up to two panels side by side: the loss per epoch (training
    and, when available, validation) on the left and the score per epoch
    (validation and, when available, training) on the right. The score panel
    is left out when there is no score to show.

    Parameters
    ----------
    epochs : array-like of shape (n_epochs,)
        Epoch numbers (1-based).

    train_loss : array-like of shape (n_epochs,)
        Training loss at the end of each epoch.

    validation_loss : array-like of shape (n_epochs,), default=None
        Validation loss of each epoch, or None when there is none.

    train_score : array-like of shape (n_epochs,), default=None
        Training score of each epoch, or None when there is none.

    validation_score : array-like of shape (n_epochs,), default=None
        Validation score of each epoch, or None when there is none.

    score_name : str, default="score"
        Name of the score, used to label the score axis.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the loss curves.

    score_ax_ : matplotlib Axes or None
        Axes with the score curves, or None when no score panel was drawn.

    figure_ : matplotlib Figure
        Figure containing the curves.

    lines_ : dict of str to matplotlib Line2D or None
        The drawn lines under the keys ``"train_loss"``,
        ``"validation_loss"``, ``"train_score"`` and ``"validation_score"``;
        None for a curve that was not drawn.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Score against the number
        of training samples.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from skdeep import TrainingCurveDisplay
    >>> display = TrainingCurveDisplay(
    ...     epochs=[1, 2, 3],
    ...     train_loss=[1.2, 0.8, 0.6],
    ...     validation_loss=[1.3, 0.9, 0.8],
    ...     validation_score=[0.6, 0.8, 0.9],
    ...     score_name="accuracy",
    ... )
    >>> display.plot()
    <...>
    >>> plt.show()
    """

    def __init__(
        self,
        *,
        epochs,
        train_loss,
        validation_loss=None,
        train_score=None,
        validation_score=None,
        score_name="score",
    ):
        self.epochs = epochs
        self.train_loss = train_loss
        self.validation_loss = validation_loss
        self.train_score = train_score
        self.validation_score = validation_score
        self.score_name = score_name

    def plot(self, ax=None, *, log_scale=False, line_kw=None):
        """Plot the training curves.

        Parameters
        ----------
        ax : matplotlib Axes or sequence of two Axes, default=None
            Where to draw. None creates a figure with one panel per kind of
            curve (loss, and score when there is one). A single Axes gets
            the loss curves only. A sequence of two Axes gets the loss
            curves on the first and the score curves on the second.

        log_scale : bool, default=False
            Whether to use a logarithmic scale for the loss axis.

        line_kw : dict, default=None
            Keyword arguments passed to every ``Axes.plot`` call.

        Returns
        -------
        display : TrainingCurveDisplay
            Object that stores the computed values and the drawn artists.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        from matplotlib.axes import Axes
        from matplotlib.ticker import MaxNLocator

        epochs = np.asarray(self.epochs)
        curves = {}
        for name in _CURVES:
            values = getattr(self, name)
            if values is not None:
                values = np.asarray(values, dtype=float)
                if values.shape != epochs.shape:
                    raise ValueError(
                        f"{name} has shape {values.shape} but epochs has "
                        f"shape {epochs.shape}; give one value per epoch."
                    )
            curves[name] = values
        if curves["train_loss"] is None:
            raise ValueError("train_loss is required.")
        has_score = (
            curves["train_score"] is not None
            or curves["validation_score"] is not None
        )

        if ax is None:
            import matplotlib.pyplot as plt

            n_panels = 2 if has_score else 1
            fig, axes = plt.subplots(
                1, n_panels, figsize=(5 * n_panels, 4), layout="constrained"
            )
            loss_ax, score_ax = (axes[0], axes[1]) if has_score else (axes, None)
        elif isinstance(ax, Axes):
            loss_ax, score_ax = ax, None
        else:
            axes = list(np.ravel(np.asarray(ax, dtype=object)))
            if len(axes) not in (1, 2) or not all(
                isinstance(a, Axes) for a in axes
            ):
                raise ValueError(
                    "ax must be None, a matplotlib Axes or a sequence of two "
                    f"Axes (loss, score); got {ax!r}."
                )
            loss_ax = axes[0]
            score_ax = axes[1] if len(axes) == 2 and has_score else None

        line_kw = {} if line_kw is None else dict(line_kw)
        # Training in C0, validation in C1, on both panels.
        styles = {
            "train_loss": (loss_ax, "train", "C0"),
            "validation_loss": (loss_ax, "validation", "C1"),
            "train_score": (score_ax, "train", "C0"),
            "validation_score": (score_ax, "validation", "C1"),
        }
        self.lines_ = {}
        for name in _CURVES:
            target, label, color = styles[name]
            values = curves[name]
            if target is None or values is None:
                self.lines_[name] = None
                continue
            kw = {"label": label, "color": color, **line_kw}
            (self.lines_[name],) = target.plot(epochs, values, **kw)

        for target, ylabel in ((loss_ax, "loss"), (score_ax, self.score_name)):
            if target is None:
                continue
            target.set_xlabel("epoch")
            target.set_ylabel(ylabel)
            target.xaxis.set_major_locator(MaxNLocator(integer=True))
            target.legend()
        if log_scale:
            loss_ax.set_yscale("log")

        self.ax_ = loss_ax
        self.score_ax_ = score_ax
        self.figure_ = loss_ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, log_scale=False, line_kw=None):
        """Plot the training curves of a fitted neural network.

        The curves come from the per-epoch records of a stochastic solver
        (``loss_curve_``, ``validation_loss_curve_``, ``validation_scores_``
        and ``history_``); validation curves exist when the estimator was
        fitted with ``early_stopping=True`` or with ``validation_data``.

        Parameters
        ----------
        estimator : MLPClassifier or MLPRegressor
            Fitted estimator with a stochastic solver (such as ``"adam"`` or
            ``"sgd"``). scikit-learn's MLP estimators work too.

        ax : matplotlib Axes or sequence of two Axes, default=None
            Where to draw; see :meth:`plot`.

        log_scale : bool, default=False
            Whether to use a logarithmic scale for the loss axis.

        line_kw : dict, default=None
            Keyword arguments passed to every ``Axes.plot`` call.

        Returns
        -------
        display : TrainingCurveDisplay
            Object that stores the curves and the drawn artists.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.

        ValueError
            If the estimator has no per-epoch loss curve, as after fitting
            with ``solver="lbfgs"``.

        Examples
        --------
        >>> import matplotlib.pyplot as plt
        >>> from sklearn.datasets import load_iris
        >>> from skdeep import MLPClassifier
        >>> from skdeep import TrainingCurveDisplay
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = MLPClassifier(max_iter=50, early_stopping=True, random_state=0)
        >>> clf = clf.fit(X, y)
        >>> display = TrainingCurveDisplay.from_estimator(clf)
        >>> display.score_name
        'accuracy'
        >>> plt.show()
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)

        loss_curve = getattr(estimator, "loss_curve_", None)
        name = type(estimator).__name__
        if loss_curve is None:
            solver = getattr(estimator, "solver", None)
            fitted_with = "" if solver is None else f" (solver={solver!r})"
            raise ValueError(
                f"This {name} was fitted{fitted_with} without per-epoch "
                "training curves: it has no loss_curve_. Full-batch solvers "
                "such as 'lbfgs' record none. Refit with a stochastic solver "
                "such as solver='adam' (or 'sgd') to plot training curves."
            )
        n_epochs = len(loss_curve)
        if n_epochs == 0:
            raise ValueError(
                f"This {name} has an empty loss_curve_: no epoch was run."
            )

        history = getattr(estimator, "history_", None) or []
        if len(history) != n_epochs:
            history = []  # out of step with loss_curve_: do not rely on it
        recorded = [rec.get("epoch") for rec in history]
        if history and all(epoch is not None for epoch in recorded):
            epochs = np.asarray(recorded)
        else:
            epochs = np.arange(1, n_epochs + 1)

        display = cls(
            epochs=epochs,
            train_loss=np.asarray(loss_curve, dtype=float),
            validation_loss=_per_epoch(
                getattr(estimator, "validation_loss_curve_", None),
                history, "validation_loss", n_epochs,
            ),
            # No attribute holds training scores; history_ may.
            train_score=_per_epoch(None, history, "score", n_epochs),
            validation_score=_per_epoch(
                getattr(estimator, "validation_scores_", None),
                history, "validation_score", n_epochs,
            ),
            score_name="accuracy" if is_classifier(estimator) else "R²",
        )
        return display.plot(ax=ax, log_scale=log_scale, line_kw=line_kw)
