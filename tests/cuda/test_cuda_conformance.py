"""The conformance kit's GPU part: every registered plugin's device
functions against the CPU, on the simulator (or a GPU)."""

import numpy as np
import pytest

from skdeep import testing
from skdeep._registry import get_registry

PLUGINS = [(kind, name) for kind, table in get_registry().tables().items()
           for name in sorted(table) if kind != "initializer"]


@pytest.mark.parametrize(("kind", "name"), PLUGINS, ids=[f"{k}-{n}" for k, n in PLUGINS])
def test_plugin_device_functions_match_the_cpu(kind, name):
    outcome = testing.check_gpu(get_registry().get(kind, name))
    assert outcome.startswith("compared with the CPU") or outcome == (
        "nothing runs on the GPU"), outcome


def test_gpu_check_catches_a_device_function_that_differs(monkeypatch):
    # Stand-in for a GPU compilation that computes something else (float32
    # rounding, a libdevice function): the kit must notice.
    from skdeep._kernels.cuda import compile as cuda_compile

    original = cuda_compile.device_function

    def off_by_a_bit(fn, dtype=None):
        if getattr(fn, "__name__", "") != "tanh":
            return original(fn, dtype)

        def shifted(x):
            return np.tanh(x) * (1 + 1e-6)

        return original(shifted, dtype)

    monkeypatch.setattr(cuda_compile, "device_function", off_by_a_bit)
    plugin = get_registry().get("activation", "tanh")
    with pytest.raises(AssertionError, match="tanh: value .*GPU and CPU results differ"):
        testing.check_gpu(plugin, dtypes=(np.float64,))
