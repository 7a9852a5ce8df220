"""Install plugins/skdeep-extra and show it is discovered and trains."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "skdeep-extra"

SCRIPT = """
import warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from skdeep import MLPClassifier, Optimizer, list_plugins
from skdeep.testing import check_plugin

sources = {row["name"]: row["source"] for row in list_plugins()}
for name in ("softsign", "adadelta", "lion"):
    assert "skdeep-extra" in sources[name], sources.get(name)
check_plugin("activation", "softsign")
check_plugin("optimizer", "adadelta")
check_plugin("optimizer", "lion")
X, y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)
for solver, lr in (("adadelta", 1.0), (Optimizer("lion", beta_1=0.9), 0.003)):
    clf = MLPClassifier(activation="softsign", solver=solver, learning_rate_init=lr,
                        max_iter=100, random_state=0).fit(X, y)
    print(solver, clf.score(X, y))
    assert clf.score(X, y) > 0.9
print("OK")
"""


@pytest.fixture(scope="module")
def installed():
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
           "--no-build-isolation", str(PACKAGE)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:  # no setuptools in this environment: let pip fetch it
        cmd.remove("--no-build-isolation")
        subprocess.run(cmd, check=True, capture_output=True, text=True)


def test_installed_plugin_is_discovered_and_trains(installed):
    env = dict(os.environ)
    env.pop("SKDEEP_DISABLE_PLUGIN_AUTOLOAD", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")


def test_disabling_autoload_hides_it(installed):
    env = dict(os.environ, SKDEEP_DISABLE_PLUGIN_AUTOLOAD="1")
    out = subprocess.run(
        [sys.executable, "-m", "skdeep", "plugins", "--kind", "optimizer"],
        capture_output=True, text=True, env=env, check=True).stdout
    assert "lion" not in out and "adam" in out
