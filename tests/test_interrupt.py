"""Ctrl-C (a real SIGINT) stops training within the epoch, not after it."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CHILD = textwrap.dedent("""
    import json, sys, time, warnings
    import numpy as np
    from skdeep import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(30000, 64))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    started = []

    def announce(est, record):
        started.append(time.perf_counter())
        print("epoch", record["time"], flush=True)

    clf = MLPClassifier(hidden_layer_sizes=(256, 256), batch_size=64, max_iter=20,
                        random_state=0, callbacks=[announce])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    returned = time.perf_counter()
    print(json.dumps({
        "latency_after_last_epoch": returned - started[-1],
        "n_iter": clf.n_iter_, "curve": len(clf.loss_curve_),
        "history": len(clf.history_), "steps": clf.training_state_.steps,
        "t": clf.t_, "finite": bool(np.isfinite(clf.predict_proba(X[:5])).all()),
        "warned": any("interrupted" in str(w.message) for w in caught),
    }), flush=True)
""")


def test_sigint_stops_inside_the_epoch_and_keeps_a_consistent_model(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        first = proc.stdout.readline()  # the first epoch (kernels compiled)
        assert first.startswith("epoch"), first
        epoch_seconds = float(first.split()[1])
        time.sleep(min(0.3, epoch_seconds / 4))  # inside the second epoch
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        report = json.loads(proc.stdout.readline())
        latency = time.perf_counter() - sent
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0
    # It returned before the second epoch could have ended.
    assert latency < 0.5 * epoch_seconds + 0.2, (latency, epoch_seconds)
    assert report["warned"] and report["finite"]
    # One completed epoch counted; the interrupted one's minibatches trained.
    assert report["n_iter"] == report["curve"] == report["history"] == 1
    batches = -(-30000 // 64)
    assert batches < report["steps"] < 2 * batches
    assert 30000 < report["t"] < 60000
