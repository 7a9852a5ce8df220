"""
Export a pipeline to ONNX and run it with onnxruntime
=====================================================

Fits a ``StandardScaler`` + :class:`skdeep.MLPClassifier` pipeline on the
digits data set, with a different activation in each hidden layer (GELU,
then PReLU with its learned slopes), batch normalization and dropout,
exports it with :func:`skdeep.onnx.to_onnx` and checks that onnxruntime
gives the same probabilities and labels as ``predict_proba`` and
``predict``. The model file is written to the directory given as the first
command-line argument (default: the current directory)::

    python examples/plot_onnx_export.py /tmp

Needs the ``onnx`` extra: ``pip install "skdeep-mlp[onnx]"``.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import MLPClassifier
from skdeep.onnx import to_onnx

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)  # float32 in, float32 graph
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

pipe = make_pipeline(
    StandardScaler(),
    MLPClassifier((64, 32), activation=("gelu", "prelu"), batch_norm=True,
                  dropout=0.1, max_iter=30, random_state=0),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    pipe.fit(X_train, y_train)

# X_sample fixes the input's width and dtype; zipmap=False returns the
# probabilities as a matrix rather than a list of dicts.
onx = to_onnx(pipe, X_train[:1], zipmap=False)
path = out_dir / "digits_mlp.onnx"
path.write_bytes(onx.SerializeToString())

session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
label, proba = session.run(None, {"X": X_test})

expected = pipe.predict_proba(X_test)
print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")
print(f"max |onnxruntime - predict_proba|: {np.abs(proba - expected).max():.2e}")
print(f"labels equal to predict: {bool((label == pipe.predict(X_test)).all())}")
