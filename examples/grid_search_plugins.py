"""Search plugin hyperparameters and schedules with GridSearchCV.

Optimizer, activation and schedule objects expose their hyperparameters
through ``get_params``, so a grid can name them like any nested parameter
(``solver__rho``, ``learning_rate__gamma``). Hyperparameters are runtime
values of the compiled kernels: the search compiles nothing per grid point::

    python examples/grid_search_plugins.py
"""

import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeep import Activation, MLPClassifier, Optimizer, StepDecay

if __name__ == "__main__":
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
    search = GridSearchCV(model, grid, cv=3, n_jobs=2).fit(X, y)
    print(f"best cross-validated accuracy {search.best_score_:.4f}")
    for key, value in search.best_params_.items():
        print(f"  {key} = {value}")
