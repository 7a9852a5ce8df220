"""The command line, run as users run it: ``python -m skdeep ...``."""

import subprocess
import sys

import pytest

import skdeep


def run(*args):
    return subprocess.run([sys.executable, "-m", "skdeep", *args],
                          capture_output=True, text=True, timeout=600)


def test_no_arguments_prints_help_and_version_prints_the_version():
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m skdeep")
    for command in ("demo", "plugins", "compile"):
        assert command in proc.stdout
    proc = run("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, f"skdeep {skdeep.__version__}")


@pytest.mark.parametrize("args, expected", [
    (["demo", "--activation", "gleu"], "did you mean 'gelu'?"),
    (["demo", "--solver", "adan"], "did you mean 'adam'?"),
    (["demo", "--hidden", "64,0"], "positive integers"),
    (["demo", "--epochs", "-3"], "not a positive int"),
    (["demo", "--no-such-option"], "unrecognized arguments"),
    (["train"], "invalid choice"),
    (["plugins", "--kind", "layer"], "invalid choice"),
])
def test_bad_options_give_one_line_and_exit_status_2(args, expected):
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    # An installed plugin package that fails to load adds its own warning.
    lines = [line for line in proc.stderr.splitlines()
             if not line.startswith("PluginWarning: ")]
    assert len(lines) == 1 and expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_every_option_has_a_description():
    for command in ("demo", "plugins", "compile"):
        proc = run(command, "--help")
        assert proc.returncode == 0
        options = proc.stdout.split("options:", 1)[1]
        # Each option line ("  --name ...") is followed by its text,
        # on the same line or the next one.
        lines = [line for line in options.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            if line.lstrip().startswith("-"):
                described = len(line.split("  ")) > 2 or (
                    i + 1 < len(lines) and not lines[i + 1].lstrip().startswith("-"))
                assert described, f"{command}: {line.strip()} has no description"


def test_plugin_listing_shows_typed_hyperparameters_once_per_plugin():
    proc = run("plugins", "--kind", "optimizer")
    assert proc.returncode == 0, proc.stderr
    sgd = next(line for line in proc.stdout.splitlines() if line.startswith("  sgd("))
    assert "momentum: float = 0.9" in sgd
    assert "nesterovs_momentum: bool = True" in sgd
    assert sgd.endswith("[built-in]")
    assert "entry point" not in proc.stdout


def test_demo_trains_several_layers_and_compares_with_sklearn():
    proc = run("demo", "--epochs", "3", "--hidden", "16,8", "--compare")
    assert proc.returncode == 0, proc.stderr
    assert "network 64-16-8-10" in proc.stdout
    assert "sklearn MLPClassifier: test accuracy" in proc.stdout
    assert "x as fast" in proc.stdout
    proc = run("demo", "--epochs", "3", "--solver", "lbfgs", "--activation", "gelu")
    assert proc.returncode == 0, proc.stderr
    assert "after 3 iterations" in proc.stdout


_FIRST_FIT_COMPILES = """
import numpy as np
from numba.core import base
from skdeep import MLPClassifier, MLPRegressor

set_ups = []
original = base.BaseContext.refresh
base.BaseContext.refresh = lambda self: (set_ups.append(1), original(self))[1]
X = np.random.RandomState(0).normal(size=(60, 4))
MLPClassifier((5, 3), activation="tanh", solver="rmsprop", regularizer="l1",
              max_iter=2).fit(X, X[:, 0] > 0).predict(X)
MLPRegressor(hidden_layer_sizes=(5,), loss="huber", solver="lbfgs", max_iter=2).fit(X, X[:, 1])
print(len(set_ups))
"""


def test_compile_leaves_nothing_to_compile_for_a_later_process():
    # Numba sets up its compiler only to compile (a cache hit skips it).
    proc = run("compile", "--dtype", "float64", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAILED" not in proc.stdout
    fit = subprocess.run([sys.executable, "-W", "ignore", "-c", _FIRST_FIT_COMPILES],
                         capture_output=True, text=True, check=True)
    assert fit.stdout.strip() == "0"
