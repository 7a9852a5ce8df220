import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skdeep import MLPClassifier, MLPRegressor, TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(est):
    X, y = load_iris(return_X_y=True)
    if is_regressor(est):
        y = X[:, 0]  # sepal length from the other features
        X = X[:, 1:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def clf():
    return _fit(MLPClassifier(max_iter=8, random_state=0))


@pytest.fixture(scope="module")
def clf_es():
    return _fit(MLPClassifier(max_iter=8, early_stopping=True, random_state=0))


@pytest.fixture(scope="module")
def reg_es():
    return _fit(MLPRegressor(max_iter=8, early_stopping=True, random_state=0))


def _assert_line(line, x, y):
    np.testing.assert_array_equal(line.get_xdata(), x)
    np.testing.assert_array_equal(line.get_ydata(), y)


def test_lines_are_the_estimator_curves(clf_es):
    display = TrainingCurveDisplay.from_estimator(clf_es)
    n = len(clf_es.loss_curve_)
    epochs = np.arange(1, n + 1)
    assert n == 8 and len(clf_es.validation_scores_) == n
    _assert_line(display.lines_["train_loss"], epochs, clf_es.loss_curve_)
    _assert_line(
        display.lines_["validation_loss"], epochs, clf_es.validation_loss_curve_
    )
    _assert_line(
        display.lines_["validation_score"], epochs, clf_es.validation_scores_
    )
    _assert_line(display.lines_["train_score"], epochs,
                 [record["score"] for record in clf_es.history_])
    np.testing.assert_array_equal(display.epochs, epochs)
    np.testing.assert_array_equal(display.train_loss, clf_es.loss_curve_)
    np.testing.assert_array_equal(
        display.validation_loss, clf_es.validation_loss_curve_
    )
    np.testing.assert_array_equal(display.validation_score, clf_es.validation_scores_)
    np.testing.assert_array_equal(
        display.train_score, [record["score"] for record in clf_es.history_]
    )
    # Loss on the left panel, score on the right one, of one figure.
    assert display.ax_.get_lines() == [
        display.lines_["train_loss"],
        display.lines_["validation_loss"],
    ]
    assert display.score_ax_.get_lines() == [
        display.lines_["train_score"],
        display.lines_["validation_score"],
    ]
    assert display.figure_.axes == [display.ax_, display.score_ax_]
    assert display.ax_.get_xlabel() == "epoch"
    assert display.ax_.get_ylabel() == "loss"
    assert display.score_ax_.get_xlabel() == "epoch"
    legend = [t.get_text() for t in display.ax_.get_legend().get_texts()]
    assert legend == ["train", "validation"]


def test_no_validation_data_draws_loss_only(clf):
    assert clf.validation_scores_ is None
    display = TrainingCurveDisplay.from_estimator(clf)
    assert display.validation_loss is None and display.validation_score is None
    assert display.lines_["validation_loss"] is None
    assert display.lines_["validation_score"] is None
    # the running training score is still there, on its own panel
    assert display.score_ax_.get_lines() == [display.lines_["train_score"]]
    (line,) = display.ax_.get_lines()
    _assert_line(line, np.arange(1, len(clf.loss_curve_) + 1), clf.loss_curve_)


@pytest.mark.parametrize(
    "fixture, score_name", [("clf_es", "accuracy"), ("reg_es", "R²")]
)
def test_score_axis_label(request, fixture, score_name):
    est = request.getfixturevalue(fixture)
    display = TrainingCurveDisplay.from_estimator(est)
    assert display.score_name == score_name
    assert display.score_ax_.get_ylabel() == score_name
    _assert_line(
        display.lines_["validation_score"],
        np.arange(1, len(est.loss_curve_) + 1),
        est.validation_scores_,
    )


def test_draws_on_given_axes(clf_es):
    fig, (left, right) = plt.subplots(1, 2)
    display = TrainingCurveDisplay.from_estimator(clf_es, ax=[left, right])
    assert display.ax_ is left and display.score_ax_ is right
    assert display.figure_ is fig
    assert len(left.get_lines()) == 2 and len(right.get_lines()) == 2

    fig, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(clf_es, ax=ax)
    assert display.ax_ is ax and display.score_ax_ is None
    assert display.figure_ is fig and fig.axes == [ax]
    _assert_line(ax.get_lines()[0], display.epochs, clf_es.loss_curve_)
    assert display.lines_["validation_score"] is None


def test_rejects_bad_ax(clf_es):
    with pytest.raises(ValueError, match="ax must be"):
        TrainingCurveDisplay.from_estimator(clf_es, ax="left")


def test_log_scale(clf):
    assert TrainingCurveDisplay.from_estimator(clf).ax_.get_yscale() == "linear"
    display = TrainingCurveDisplay.from_estimator(clf, log_scale=True)
    assert display.ax_.get_yscale() == "log"


def test_lbfgs_raises():
    est = _fit(MLPClassifier(solver="lbfgs", max_iter=5, random_state=0))
    with pytest.raises(ValueError, match="stochastic solver such as solver='adam'"):
        TrainingCurveDisplay.from_estimator(est)


def test_unfitted_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        TrainingCurveDisplay.from_estimator(MLPClassifier())


def test_missing_matplotlib(monkeypatch, clf):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        TrainingCurveDisplay.from_estimator(clf)
    display = TrainingCurveDisplay(epochs=[1, 2], train_loss=[1.0, 0.5])
    with pytest.raises(ImportError, match=r"skdeep-mlp\[plot\]"):
        display.plot()


def test_training_score_from_history(clf_es):
    est = clone(clf_es)
    _fit(est)
    scores = [0.5 + 0.01 * i for i in range(len(est.history_))]
    for record, score in zip(est.history_, scores, strict=True):
        record["score"] = score
    display = TrainingCurveDisplay.from_estimator(est)
    _assert_line(display.lines_["train_score"], display.epochs, scores)
    assert display.score_ax_.get_lines() == [
        display.lines_["train_score"],
        display.lines_["validation_score"],
    ]

    # A "score" key holding None everywhere means no training score.
    for record in est.history_:
        record["score"] = None
    display = TrainingCurveDisplay.from_estimator(est)
    assert display.train_score is None and display.lines_["train_score"] is None


def test_history_aligns_partial_validation_curve(clf_es):
    # Validation that covers only some epochs is placed by history_.
    est = clone(clf_es)
    _fit(est)
    est.validation_scores_ = est.validation_scores_[:-2]
    for record in est.history_[-2:]:
        record["validation_score"] = None
    display = TrainingCurveDisplay.from_estimator(est)
    expected = np.r_[est.validation_scores_, np.nan, np.nan]
    np.testing.assert_array_equal(display.validation_score, expected)


def test_plot_checks_lengths():
    display = TrainingCurveDisplay(
        epochs=[1, 2, 3], train_loss=[1.0, 0.5, 0.4], validation_score=[0.5]
    )
    with pytest.raises(ValueError, match="one value per epoch"):
        display.plot()


def test_sklearn_mlp():
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    est = _fit(SkMLPClassifier(max_iter=5, early_stopping=True, random_state=0))
    display = TrainingCurveDisplay.from_estimator(est)
    _assert_line(display.lines_["train_loss"], [1, 2, 3, 4, 5], est.loss_curve_)
    _assert_line(
        display.lines_["validation_score"], [1, 2, 3, 4, 5], est.validation_scores_
    )
    assert display.lines_["validation_loss"] is None
