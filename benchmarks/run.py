"""skdeep vs sklearn (and PyTorch when importable): training and prediction
speed, memory and accuracy: per-epoch workloads in float32 and float64,
a fresh-process fit, a grid search and small-batch prediction latency. See ``benchmarks/README.md``.

Usage::

    python benchmarks/run.py                       # full suite (~4-7 minutes)
    python benchmarks/run.py --quick               # smoke run (< 2 minutes)
    python benchmarks/run.py --workloads W1,P --repeats 5 --epochs 3
    python benchmarks/run.py --workloads W6,W7 --repeats 5
    python benchmarks/run.py --threads 1 --out /tmp/bench

Writes ``OUT/results.md``, ``OUT/results.json`` and ``OUT/results.png``
(default ``OUT = benchmarks/results``) and prints the Markdown to stdout.
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "P")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS),
        help="comma-separated subset of %s (default: all); P = prediction "
        "speed on the W1 and W2 test sets" % ",".join(WORKLOADS),
    )
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs per peer (default 3, --quick 1)")
    parser.add_argument(
        "--epochs", type=int, default=None,
        help="epochs of every per-epoch timing fit, W1/W2/W4/W5 alike "
        "(default W1 2, W2 5, W4 3, W5 150; --quick 1, 2, 1, 10)",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small subsets and few epochs, for smoke testing")
    parser.add_argument("--out", default=str(HERE / "results"),
                        help="output directory (default benchmarks/results)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of every BLAS / OpenMP / PyTorch pool "
                        "(default 2)")
    parser.add_argument("--peers", default="skdeep,sklearn,torch",
                        help="comma-separated peers (default all available; "
                        "skdeep is always included)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the per-peer peak-memory subprocesses")
    parser.add_argument("--dtypes", default="float32,float64",
                        help="dtypes of the per-epoch workloads and W7 "
                        "(default float32,float64)")
    parser.add_argument("--activations", default=None,
                        help="comma-separated activations for every per-epoch "
                        "workload (default: relu, tanh, logistic for W2 and W5, "
                        "relu for W1 and W4)")
    args = parser.parse_args(argv)
    args.workloads = [w.strip().upper() for w in args.workloads.split(",") if w]
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {WORKLOADS}")
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d]
    if not set(args.dtypes) <= {"float32", "float64"}:
        parser.error("--dtypes takes float32 and/or float64")
    if args.activations is not None:
        args.activations = [a.strip() for a in args.activations.split(",") if a]
    args.peers = [p.strip().lower() for p in args.peers.split(",") if p]
    if "skdeep" not in args.peers:
        args.peers.insert(0, "skdeep")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    return args


def main(argv=None):
    args = parse_args(argv)
    # Thread pools read these when their library loads: set them before
    # NumPy, SciPy, Numba or PyTorch is imported (the suite also applies
    # threadpoolctl limits and torch.set_num_threads afterwards).
    for name in THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    sys.path.insert(0, str(HERE))
    from _suite import run_suite

    run_suite(args)


if __name__ == "__main__":
    main()
