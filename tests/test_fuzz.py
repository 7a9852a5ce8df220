"""Property-based fuzzing of the estimators with Numba bounds checks.

Runs ``tests/fuzz_estimators.py`` in its own process (bounds checking is a
compile-time switch, ``NUMBA_BOUNDSCHECK=1``) with its own compile cache.
CI runs a small number of examples; set ``SKDEEP_FUZZ_EXAMPLES`` (e.g. 500)
for a larger run, ``SKDEEP_FUZZ_SEED`` (non-zero) for a random one.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_random_configurations_never_crash(tmp_path):
    pytest.importorskip("hypothesis")
    env = dict(os.environ,
               NUMBA_BOUNDSCHECK="1",
               NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               SKDEEP_CACHE_DIR=str(tmp_path / "skdeep"),
               PYTHONPATH=os.path.dirname(HERE))
    env.setdefault("SKDEEP_FUZZ_EXAMPLES", "30")
    proc = subprocess.run([sys.executable, os.path.join(HERE, "fuzz_estimators.py")],
                          env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "FUZZ OK" in proc.stdout
