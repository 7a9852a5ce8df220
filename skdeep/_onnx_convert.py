"""skl2onnx shape calculators and converters for skdeep's estimators.

The graph is the prediction path of the fitted network: each layer's
``MatMul`` and ``Add``, batch normalization with the running statistics,
layer normalization over each row, the hidden activation translated from its plugin
(:mod:`skdeep._onnx_translate`), and the output activation. Dropout, input
noise and mixup act in training only and have no node. Outputs follow
skl2onnx's converter for sklearn's MLP: a label and the class
probabilities for the classifier (binary as two columns), the
``(n_samples, n_outputs)`` predictions for the regressor. The graph
computes in the input's dtype (float32 or float64), as skl2onnx does.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    guess_proto_type,
)
from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
from skl2onnx.common.utils import check_input_and_output_numbers
from skl2onnx.common.utils_classifier import get_label_classes
from sklearn.utils.validation import check_is_fitted

from ._kernels.layout import BN_EPSILON
from ._onnx_translate import OnnxGraph, activation_nodes
from ._spec import resolve

MIN_OPSET = 13  # LessOrEqual/GreaterOrEqual (12), Softmax along one axis (13)


def _dtype(operator):
    if guess_proto_type(operator.inputs[0].type) == TensorProto.DOUBLE:
        return np.float64
    return np.float32


def _zipped(scope, model):
    """Whether skl2onnx's ZipMap follows the probabilities (it takes float32
    only, so float64 probabilities are cast for it)."""
    options = scope.get_options(model, dict(zipmap=True))
    return options["zipmap"] is True


def _label_values(scope, model):
    """The class labels as the label output holds them: int64 for numbers
    and booleans (float labels are whole numbers, or sklearn's
    ``type_of_target`` would have refused them), str otherwise."""
    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind in "iubf":
        return classes.astype(np.int64)
    return classes.astype(str)


def calculate_classifier_shapes(operator):
    """Shapes and types of the classifier's label and probabilities."""
    model = operator.raw_operator
    check_is_fitted(model)
    calculate_linear_classifier_output_shapes(operator)
    n = operator.inputs[0].get_first_dimension()
    n_columns = max(model.n_outputs_, 2)
    if model.out_activation_ == "logistic" and model.n_outputs_ > 1:  # multilabel
        operator.outputs[0].type = Int64TensorType([n, model.n_outputs_])
        n_columns = model.n_outputs_
    float64 = _dtype(operator) == np.float64
    if float64 and not _zipped(operator.scope_inst, model):
        operator.outputs[1].type = DoubleTensorType([n, n_columns])
    else:
        operator.outputs[1].type = FloatTensorType([n, n_columns])


def calculate_regressor_shapes(operator):
    """Shape and type of the regressor's predictions."""
    model = operator.raw_operator
    check_is_fitted(model)
    check_input_and_output_numbers(operator, input_count_range=1,
                                   output_count_range=1)
    n = operator.inputs[0].get_first_dimension()
    tensor_type = (DoubleTensorType if _dtype(operator) == np.float64
                   else FloatTensorType)
    operator.outputs[0].type = tensor_type([n, model.n_outputs_])


def _hidden_activations(model, n_hidden):
    """(record, hyperparameters) of each hidden layer, as ``fit`` resolves
    them from the ``activation`` parameter."""
    value = model.activation
    per_layer = list(value) if isinstance(value, (tuple, list)) else [value] * n_hidden
    return [resolve("activation", v, param_name="activation") for v in per_layer]


def _network(graph, model, x):
    """Nodes of the forward pass from input ``x``; returns the outputs'
    name (after the output activation)."""
    if graph.opset is not None and graph.opset < MIN_OPSET:
        raise ValueError(
            f"skdeep's ONNX export needs target_opset >= {MIN_OPSET}, got "
            f"{graph.opset}."
        )
    dtype = graph.dtype
    n_layers = len(model.coefs_)
    activations = _hidden_activations(model, n_layers - 1)
    bn_scales = getattr(model, "bn_scales_", None) or [None] * (n_layers - 1)
    ln_scales = getattr(model, "ln_scales_", None) or [None] * (n_layers - 1)
    learned = getattr(model, "activation_params_", None) or [None] * (n_layers - 1)
    a = graph.op("Cast", x, to=_proto(dtype))
    for i in range(n_layers):
        weights = graph.initializer(np.asarray(model.coefs_[i], dtype), "coefficient")
        bias = graph.initializer(np.asarray(model.intercepts_[i], dtype), "intercepts")
        z = graph.op("Add", graph.op("MatMul", a, weights), bias)
        if i == n_layers - 1:
            return _output_activation(graph, model.out_activation_, z)
        if bn_scales[i] is not None:
            z = _batch_norm(graph, model, i, z)
        if ln_scales[i] is not None:
            z = _layer_norm(graph, model, i, z)
        record, hyperparameters = activations[i]
        slopes = None
        if record.learnable is not None:
            slopes = graph.initializer(np.asarray(learned[i], dtype),
                                       f"{record.name}_{record.learnable}")
        a = activation_nodes(graph, record, hyperparameters, z, slopes)
    raise AssertionError("unreachable")  # pragma: no cover


def _batch_norm(graph, model, i, z):
    """Batch normalization with the running statistics, as the kernels do
    it: ``(z - mean) * inv * scale + shift`` with ``inv = 1 / sqrt(var +
    eps)`` rounded to the dtype. Not ONNX's BatchNormalization: its
    epsilon is a float32 attribute, 2.5e-13 off 1e-5, which moved float64
    probabilities by 1e-12."""
    dtype = graph.dtype
    variance = np.asarray(model.bn_running_vars_[i], np.float64)
    inv = (1.0 / np.sqrt(variance + BN_EPSILON)).astype(dtype)
    mean = np.asarray(model.bn_running_means_[i], dtype)
    h = graph.op("Mul", graph.op("Sub", z, graph.initializer(mean, "bn_mean")),
                 graph.initializer(inv, "bn_inv_std"))
    scaled = graph.op("Mul", h, graph.initializer(
        np.asarray(model.bn_scales_[i], dtype), "bn_scale"))
    return graph.op("Add", scaled, graph.initializer(
        np.asarray(model.bn_shifts_[i], dtype), "bn_shift"))


def _layer_norm(graph, model, i, z):
    """Layer normalization as the kernels compute it: per row ``h = (z -
    mean) / sqrt(var + eps)`` over the layer's units (biased variance),
    then ``h * scale + shift``. Row sums are products with a column of
    ones, which every opset has (ReduceMean's ``axes`` moved from an
    attribute to an input in opset 18)."""
    dtype = graph.dtype
    width = np.shape(model.ln_scales_[i])[0]
    ones = graph.initializer(np.ones((width, 1), dtype), "ln_ones")
    count = graph.initializer(np.asarray(width, dtype), "ln_count")
    mean = graph.op("Div", graph.op("MatMul", z, ones), count)
    centered = graph.op("Sub", z, mean)
    variance = graph.op("Div", graph.op("MatMul", graph.op(
        "Mul", centered, centered), ones), count)
    epsilon = graph.initializer(np.asarray(model.layer_norm_epsilon, dtype),
                                "ln_epsilon")
    h = graph.op("Div", centered, graph.op("Sqrt", graph.op("Add", variance,
                                                            epsilon)))
    scaled = graph.op("Mul", h, graph.initializer(
        np.asarray(model.ln_scales_[i], dtype), "ln_scale"))
    return graph.op("Add", scaled, graph.initializer(
        np.asarray(model.ln_shifts_[i], dtype), "ln_shift"))


def _output_activation(graph, kind, z):
    if kind == "identity":
        return z
    if kind == "exp":
        return graph.op("Exp", z)
    if kind == "softmax":
        return graph.op("Softmax", z, axis=1)
    if kind == "logistic":
        # The kernels' form (exp(-|z|) never overflows, each branch exact),
        # not Sigmoid: onnxruntime's float32 Sigmoid is 2e-4 off at z = -10
        # and 0 below -17.
        e = graph.op("Exp", graph.op("Neg", graph.op("Abs", z)))
        denominator = graph.op("Add", e, 1.0)
        return graph.op("Where", graph.op("GreaterOrEqual", z, 0.0),
                        graph.op("Div", 1.0, denominator),
                        graph.op("Div", e, denominator))
    raise ValueError(f"unknown output activation {kind!r}")


def _proto(dtype):
    return TensorProto.DOUBLE if np.dtype(dtype) == np.float64 else TensorProto.FLOAT


def convert_classifier(scope, operator, container):
    """Label and probabilities of a skdeep ``MLPClassifier``."""
    model = operator.raw_operator
    dtype = _dtype(operator)
    graph = OnnxGraph(scope, container, dtype)
    p = _network(graph, model, operator.inputs[0].full_name)
    multilabel = model.out_activation_ == "logistic" and model.n_outputs_ > 1
    if model.out_activation_ == "logistic" and not multilabel:
        p = graph.op("Concat", graph.op("Sub", 1.0, p), p, axis=1)
    probabilities = operator.outputs[1].full_name
    if dtype == np.float64 and _zipped(scope, model):
        container.add_node("Cast", [p], [probabilities], to=TensorProto.FLOAT,
                           name=scope.get_unique_operator_name("Cast"))
    else:
        container.add_node("Identity", [p], [probabilities],
                           name=scope.get_unique_operator_name("Identity"))
    label = operator.outputs[0].full_name
    if multilabel:
        # LabelBinarizer's threshold: a label is on when p > 0.5.
        container.add_node("Cast", [graph.op("Greater", p, 0.5)], [label],
                           to=TensorProto.INT64,
                           name=scope.get_unique_operator_name("Cast"))
        return
    classes = graph.initializer(_label_values(scope, model), "classes")
    index = graph.op("ArgMax", p, axis=1, keepdims=0)
    container.add_node("Gather", [classes, index], [label], axis=0,
                       name=scope.get_unique_operator_name("Gather"))


def convert_regressor(scope, operator, container):
    """Predictions of a skdeep ``MLPRegressor``, shape (n_samples, n_outputs)."""
    model = operator.raw_operator
    graph = OnnxGraph(scope, container, _dtype(operator))
    y = _network(graph, model, operator.inputs[0].full_name)
    container.add_node("Identity", [y], [operator.outputs[0].full_name],
                       name=scope.get_unique_operator_name("Identity"))


CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "output_class_labels": [False, True],
}

