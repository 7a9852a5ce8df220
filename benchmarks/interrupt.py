"""Ctrl-C latency: seconds from SIGINT to ``fit`` returning, on a long epoch.

A child process fits a 1024-1024 network on random data (``--rows`` x
``--features``, default 100,000 x 256) and announces the end of its first
epoch; the parent waits ``--delay`` seconds into the second epoch, sends
SIGINT and times how long ``fit`` takes to return. Without a prompt
interrupt that is the rest of the epoch.

Usage: ``python benchmarks/interrupt.py [--rows N] [--repeats N]`` (the
``skdeep`` imported is the one on ``PYTHONPATH``/installed).
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import json, sys, time, warnings
    import numpy as np
    from skdeep import MLPClassifier

    rows, features = int(sys.argv[1]), int(sys.argv[2])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)

    def announce(est, record):
        print(json.dumps({"epoch": record["time"]}), flush=True)

    clf = MLPClassifier(hidden_layer_sizes=(1024, 1024), max_iter=3,
                        random_state=0, callbacks=[announce])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    print(json.dumps({"returned": True, "n_iter": clf.n_iter_}), flush=True)
""")


def one_run(rows, features, delay):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(rows), str(features)],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        epoch = json.loads(proc.stdout.readline())["epoch"]
        time.sleep(delay)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline()
        latency = time.perf_counter() - sent
        proc.wait(timeout=600)
    finally:
        proc.kill()
    return epoch, latency, line.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--delay", type=float, default=1.0,
                        help="seconds into the second epoch (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(args.rows, args.features, args.delay)
               for _ in range(args.repeats)]
    for epoch, latency, line in results:
        print(f"epoch {epoch:.2f} s, SIGINT -> return {latency:.3f} s  {line}")
    print(f"median latency {statistics.median(r[1] for r in results):.3f} s, "
          f"median epoch {statistics.median(r[0] for r in results):.2f} s")


if __name__ == "__main__":
    main()
