"""
Grid search over plugin hyperparameters
=======================================

Activations, optimizers and learning-rate schedules can be given as small
objects that carry their hyperparameters: ``Optimizer("rmsprop", rho=0.9)``,
``Activation("leaky_relu", alpha=0.1)``, ``StepDecay(step_size=10)``. They
expose them through ``get_params``, so a grid names them like any nested
parameter: ``solver__rho``, ``activation__alpha``, ``learning_rate__gamma``
(with a pipeline step's name in front).

Hyperparameters are runtime arguments of the compiled kernels: the search
compiles nothing per grid point, so after the first fit every candidate
costs only its training time.
"""

# %%
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import Activation, MLPClassifier, Optimizer, StepDecay

warnings.simplefilter("ignore", ConvergenceWarning)

X, y = load_digits(return_X_y=True)
model = make_pipeline(
    StandardScaler(),
    MLPClassifier(
        hidden_layer_sizes=(64,),
        activation=Activation("leaky_relu"),
        solver=Optimizer("rmsprop"),
        learning_rate=StepDecay(step_size=10),
        max_iter=30,
        random_state=0,
    ),
)
grid = {
    "mlpclassifier__solver__rho": [0.9, 0.99],
    "mlpclassifier__activation__alpha": [0.01, 0.1],
    "mlpclassifier__learning_rate__gamma": [0.5, 1.0],
}
search = GridSearchCV(model, grid, cv=3).fit(X, y)
print(f"best cross-validated accuracy {search.best_score_:.4f}")
for key, value in search.best_params_.items():
    print(f"  {key} = {value}")

# %%
# All candidates, best first
# --------------------------
# ``mean_fit_time`` shows that no grid point pays for compilation (the
# first fit of the search loaded the kernels).
results = pd.DataFrame(search.cv_results_)
columns = [f"param_{name}" for name in grid] + [
    "mean_test_score", "std_test_score", "mean_fit_time"]
results = results[columns].sort_values("mean_test_score", ascending=False)
results.columns = [c.replace("param_mlpclassifier__", "") for c in columns]
results.round(4)

# %%
# The fitted best model keeps the objects, with the chosen values:
print(search.best_estimator_[-1].solver)
