"""The ``device`` parameter without a GPU: clear errors and CPU fallback."""

import builtins
import warnings

import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning

from skdeep import MLPClassifier
from skdeep._device import cuda_status, resolve_device


@pytest.fixture
def iris():
    return datasets.load_iris(return_X_y=True)


@pytest.fixture
def no_gpu():
    if cuda_status()[0]:
        pytest.skip("a GPU (or the simulator) is usable here")


def test_cuda_without_gpu_is_a_clear_error_and_keeps_the_model(iris, no_gpu):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=2, random_state=0).fit(X, y)
    before = clf.coefs_[0].copy()
    clf.set_params(device="cuda", warm_start=True)
    with pytest.raises(RuntimeError, match="device='cuda' is not available"):
        clf.fit(X, y)
    assert (clf.coefs_[0] == before).all() and clf.device_ == "cpu"


def test_auto_falls_back_and_says_so(iris, no_gpu, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(device="auto", max_iter=1, verbose=2).fit(*iris)
    assert clf.device_ == "cpu"
    assert "device='auto': training on the CPU" in capsys.readouterr().out


def test_missing_numba_cuda_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "numba_cuda" or (name == "numba" and "cuda" in (fromlist or ())):
            raise ImportError("No module named 'numba_cuda'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    cuda_status.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r'pip install "skdeep-mlp\[cuda\]"'):
            resolve_device("cuda")
    finally:
        monkeypatch.undo()
        cuda_status.cache_clear()
