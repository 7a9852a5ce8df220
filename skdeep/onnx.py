"""Export fitted skdeep estimators to ONNX.

Needs the ``onnx`` extra (``pip install "skdeep-mlp[onnx]"``: onnx, skl2onnx
and onnxruntime). skdeep registers converters for its estimators with
skl2onnx, so a pipeline or any other composite that skl2onnx converts may
contain them::

    from skdeep.onnx import to_onnx
    onx = to_onnx(pipeline, X[:1].astype("float32"))

To call ``skl2onnx.to_onnx`` or ``convert_sklearn`` directly, call
:func:`register_converters` once first.

Hidden activations, built-in or from plugins, are translated from their
Python scalar functions; a construct without an ONNX translation raises
:class:`OnnxTranslationError` naming the plugin and the construct, and a
plugin can supply its own builder (``ActivationPlugin(onnx=...)``).
"""

from __future__ import annotations

import inspect

from ._onnx_translate import OnnxGraph, OnnxTranslationError

__all__ = ["OnnxGraph", "OnnxTranslationError", "register_converters", "to_onnx"]


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs onnx and skl2onnx (and onnxruntime to run the "
            "result): pip install \"skdeep-mlp[onnx]\"."
        ) from exc
    return skl2onnx


def register_converters():
    """Register skdeep's estimators with skl2onnx.

    After this call, ``skl2onnx.to_onnx``/``convert_sklearn`` convert
    :class:`skdeep.MLPClassifier` and :class:`skdeep.MLPRegressor`, alone
    or inside pipelines, with the classifier options skl2onnx gives
    sklearn's MLP (``zipmap``, ``nocl``, ``output_class_labels``). Calling
    it again does nothing more.

    Examples
    --------
    >>> import skl2onnx
    >>> from skdeep.onnx import register_converters
    >>> register_converters()
    >>> # skl2onnx.to_onnx(fitted_pipeline, X[:1].astype("float32"))
    """
    update_registered_converter = _skl2onnx().update_registered_converter

    from . import _onnx_convert as convert
    from ._mlp import MLPClassifier, MLPRegressor

    update_registered_converter(
        MLPClassifier, "SkdeepMLPClassifier", convert.calculate_classifier_shapes,
        convert.convert_classifier, options=convert.CLASSIFIER_OPTIONS)
    update_registered_converter(
        MLPRegressor, "SkdeepMLPRegressor", convert.calculate_regressor_shapes,
        convert.convert_regressor)


def to_onnx(model, X_sample, **options):
    """Convert a fitted skdeep estimator, or a pipeline holding one, to ONNX.

    Parameters
    ----------
    model : fitted estimator
        A :class:`skdeep.MLPClassifier` or :class:`skdeep.MLPRegressor`, or
        any scikit-learn pipeline or composite that skl2onnx converts and
        that contains them.
    X_sample : ndarray or DataFrame of shape (n_samples, n_features)
        A few input rows. Their dtype (float32 or float64) sets the graph's
        input and computation type. For a skdeep estimator alone, a
        DataFrame is taken as one matrix input ``X``; for a pipeline,
        skl2onnx makes each DataFrame column an input (as a
        ``ColumnTransformer`` needs).
    **options
        Keyword arguments of :func:`skl2onnx.to_onnx` (``target_opset``,
        ``options``, ``name``, ...) are passed on; any other keyword is a
        converter option for every estimator that accepts it, e.g.
        ``zipmap=False`` for a probability matrix rather than a list of
        dicts.

    Returns
    -------
    onnx.ModelProto
        Classifiers output ``label`` and ``probabilities`` as skl2onnx
        gives them for sklearn's MLP (``output_label`` and a list of
        ``{class: probability}`` dicts, ``output_probability``, with the
        default ``zipmap=True``; ZipMap takes float32, so a float64 graph's
        zipped probabilities are float32). Regressors output ``variable``
        of shape (n_samples, n_outputs).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from skdeep import MLPClassifier
    >>> from skdeep.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> clf = MLPClassifier((8,), activation="gelu", max_iter=20).fit(X, y)
    >>> onx = to_onnx(clf, X[:1], zipmap=False)
    >>> session = ort.InferenceSession(onx.SerializeToString())
    >>> label, proba = session.run(None, {"X": X[:5]})
    >>> bool(np.allclose(proba, clf.predict_proba(X[:5]), rtol=1e-5, atol=1e-7))
    True
    """
    from sklearn.utils.validation import check_is_fitted

    skl2onnx = _skl2onnx()
    check_is_fitted(model)
    register_converters()
    from ._mlp import BaseMultilayerPerceptron

    if isinstance(model, BaseMultilayerPerceptron) and hasattr(X_sample, "to_numpy"):
        X_sample = X_sample.to_numpy()
    accepted = inspect.signature(skl2onnx.to_onnx).parameters
    passed = {k: v for k, v in options.items() if k in accepted}
    converter_options = {k: v for k, v in options.items() if k not in accepted}
    if converter_options:
        merged = dict(passed.get("options") or {})
        merged.update(_per_estimator(model, converter_options))
        passed["options"] = merged
    return skl2onnx.to_onnx(model, X_sample, **passed)


def _per_estimator(model, options):
    """``{id(estimator): options}`` for each estimator in ``model`` whose
    skl2onnx converter declares the options (skl2onnx refuses an option on
    a converter that does not declare it)."""
    from skl2onnx import get_model_alias
    from skl2onnx.common._registration import get_converter
    from sklearn.base import BaseEstimator

    per_estimator, used = {}, set()
    for estimator in _estimators(model, BaseEstimator):
        try:
            declared = get_converter(get_model_alias(type(estimator)))
            declared = declared.get_allowed_options() or {}
        except (RuntimeError, ValueError):  # no converter: skl2onnx will say
            continue
        mine = {k: v for k, v in options.items() if k in declared}
        if mine:
            per_estimator[id(estimator)] = mine
            used.update(mine)
    unused = set(options) - used
    if unused:
        raise TypeError(
            f"to_onnx got {', '.join(sorted(unused))}, which is neither a "
            "keyword of skl2onnx.to_onnx nor a converter option of an "
            f"estimator in this {type(model).__name__}."
        )
    return per_estimator


def _estimators(model, base, seen=None):
    """``model`` and every estimator inside it, fitted ones included
    (``best_estimator_``, ``estimators_``, pipeline steps...)."""
    seen = set() if seen is None else seen
    if id(model) in seen:
        return
    seen.add(id(model))
    yield model
    for value in vars(model).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, tuple):  # (name, estimator[, columns])
                item = next((v for v in item if isinstance(v, base)), None)
            if isinstance(item, base):
                yield from _estimators(item, base, seen)
