"""GPU benchmark: skdeep on ``device="cuda"`` against skdeep on the CPU.

Per-epoch training time of two networks, as in the performance workloads:

- G1: 784-512-512-10 relu, Adam, batch 512, on 60,000 x 784 float32;
- G2: 64-64-64-5 relu, Adam, batch 32, on 20,000 x 64 float32;

for skdeep on the GPU, skdeep on the CPU and, when PyTorch with CUDA is
installed, a plain PyTorch loop on the GPU. Reports seconds per epoch
(median of ``--repeats`` fits of ``--epochs`` epochs after a warm-up fit that
compiles), the speed-up over skdeep's CPU path and the achieved GFLOP/s
(3 x the forward matrix-product FLOPs per epoch); skdeep's epoch times are
its ``history_`` records, which leave out the one copy of the data to the
device. Needs an NVIDIA GPU and
``pip install "skdeep-mlp[cuda]"``::

    python benchmarks/gpu.py [--repeats 3] [--epochs 3] [--quick]

Prints a Markdown table and writes it to ``benchmarks/results/gpu.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

WORKLOADS = {
    "G1": dict(n=60_000, d=784, hidden=(512, 512), k=10, batch=512),
    "G2": dict(n=20_000, d=64, hidden=(64, 64), k=5, batch=32),
}


def _data(spec, rng):
    X = rng.normal(size=(spec["n"], spec["d"])).astype(np.float32)
    teacher = rng.normal(size=(spec["d"], spec["k"])).astype(np.float32)
    return X, (X @ teacher).argmax(axis=1)


def _flops(spec):
    units = [spec["d"], *spec["hidden"], spec["k"]]
    forward = sum(2 * a * b for a, b in zip(units[:-1], units[1:], strict=False))
    return 3 * forward * spec["n"]


def _time_skdeep(device, spec, X, y, epochs, repeats):
    from skdeep import MLPClassifier

    params = dict(hidden_layer_sizes=spec["hidden"], batch_size=spec["batch"],
                  alpha=0.0, tol=0.0, n_iter_no_change=epochs + 1,
                  random_state=0, device=device)
    MLPClassifier(max_iter=1, **params).fit(X[:2048], y[:2048])  # compile
    times = []
    for _ in range(repeats):
        est = MLPClassifier(max_iter=epochs, **params).fit(X, y)
        # Epoch times exclude input validation and the one copy of the data
        # to the device, as the PyTorch loop below does.
        times.append(statistics.median(r["time"] for r in est.history_))
    return times


def _time_torch(spec, X, y, epochs, repeats):
    import torch

    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    units = [spec["d"], *spec["hidden"], spec["k"]]
    Xt = torch.from_numpy(X).to(dev)
    yt = torch.from_numpy(y).to(dev)
    times = []
    for _ in range(repeats + 1):  # the first round warms up
        layers = []
        for a, b in zip(units[:-1], units[1:], strict=False):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers[:-1]).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            perm = torch.randperm(len(Xt), device=dev)
            for i in range(0, len(Xt), spec["batch"]):
                idx = perm[i:i + spec["batch"]]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / epochs)
    return times[1:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the data, one epoch, one repeat")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    from skdeep._device import cuda_status

    usable, reason = cuda_status()
    if not usable:
        print(f"No usable GPU: {reason}.")
        return 1
    from numba import cuda

    gpu_name = cuda.get_current_device().name
    gpu_name = gpu_name.decode() if isinstance(gpu_name, bytes) else gpu_name
    repeats, epochs = (1, 1) if args.quick else (args.repeats, args.epochs)
    rng = np.random.RandomState(0)
    rows, raw = [], {}
    for name, spec in WORKLOADS.items():
        spec = dict(spec)
        if args.quick:
            spec["n"] //= 10
        X, y = _data(spec, rng)
        peers = {"skdeep cuda": _time_skdeep("cuda", spec, X, y, epochs, repeats),
                 "skdeep cpu": _time_skdeep("cpu", spec, X, y, epochs, repeats)}
        try:
            torch_times = _time_torch(spec, X, y, epochs, repeats)
        except ImportError:
            torch_times = None
        if torch_times is not None:
            peers["PyTorch cuda"] = torch_times
        cpu = statistics.median(peers["skdeep cpu"])
        for peer, times in peers.items():
            median = statistics.median(times)
            rows.append(f"| {name} | {peer} | {median:.4f} | {cpu / median:.2f}x | "
                        f"{_flops(spec) / median / 1e9:.1f} |")
        raw[name] = {"spec": spec, "times": peers}
    table = "\n".join([
        f"# skdeep GPU benchmark\n\nGPU: {gpu_name}; {epochs} epoch(s) per fit, "
        f"median of {repeats}.\n",
        "| workload | peer | s/epoch | speed-up over skdeep cpu | GFLOP/s |",
        "| --- | --- | ---: | ---: | ---: |",
        *rows,
    ])
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.md").write_text(table + "\n")
    (out / "gpu.json").write_text(json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
