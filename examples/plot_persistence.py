"""
Save and load a model safely
============================

A fitted skdeep estimator keeps its parameters as NumPy arrays and holds no
compiled code, so it pickles and loads with ``pickle`` or ``joblib`` like any
scikit-learn model, on a machine with or without a GPU. Loading a pickle runs
arbitrary code, though: load only files you trust.

:mod:`skops.io` stores the same model in a format that loads without running
code: it refuses types you have not declared trusted.
:func:`skops.io.get_untrusted_types` lists them before you load; review the
list, then pass it as ``trusted=``. ``pip install skops`` is needed.
"""

# %%
import pickle
import warnings

import numpy as np
import skops.io as sio
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier, Optimizer

warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
clf = MLPClassifier(hidden_layer_sizes=(32,), solver=Optimizer("rmsprop"),
                    max_iter=20, random_state=0).fit(X / 16.0, y)

# %%
# pickle (for files you trust)
# ----------------------------
restored = pickle.loads(pickle.dumps(clf))
assert np.array_equal(restored.predict_proba(X / 16.0),
                      clf.predict_proba(X / 16.0))

# %%
# skops.io
# --------
# The types skops does not trust by default are skdeep's classes the model
# holds: the estimator and the plugin specification or schedule objects it
# was given (here :class:`~skdeep.Optimizer`).
data = sio.dumps(clf)
untrusted = sio.get_untrusted_types(data=data)
print(untrusted)

# %%
# After checking that every name on the list is one of skdeep's documented
# classes, load with exactly that list:
loaded = sio.loads(data, trusted=untrusted)
assert np.array_equal(loaded.predict_proba(X / 16.0),
                      clf.predict_proba(X / 16.0))
print(f"skops round trip: same predictions, accuracy "
      f"{loaded.score(X / 16.0, y):.4f}")
