"""The peers of the benchmark (skdeep, sklearn, PyTorch), a GEMM-only floor,
matmul peaks and memory probes. Shared by ``_suite.py`` and ``_child.py``.

Every peer is used through the same sklearn-like interface
(``fit`` / ``predict`` / ``score`` / ``n_iter_``); PyTorch through
:class:`TorchMLP`, a plain training loop.
"""

import contextlib
import math
import resource
import time

import numpy as np

PEERS = ("skdeep", "sklearn", "torch")


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def estimator_params(spec, epochs, seed):
    """sklearn parameters of a per-epoch timing fit: exactly ``epochs``
    epochs (``tol=0`` and ``n_iter_no_change > epochs`` never stop early)."""
    return {
        "hidden_layer_sizes": tuple(spec["hidden"]),
        "activation": spec.get("activation", "relu"),
        "solver": "adam",
        "alpha": spec["alpha"],
        "batch_size": spec["batch_size"],
        "learning_rate_init": spec["lr"],
        "max_iter": epochs,
        "tol": 0.0,
        "n_iter_no_change": epochs + 1,
        "shuffle": True,
        "random_state": seed,
    }


def make_estimator(peer, spec, epochs, seed):
    params = estimator_params(spec, epochs, seed)
    classifier = spec["task"] == "clf"
    if peer == "skdeep":
        from skdeep import MLPClassifier, MLPRegressor
    elif peer == "sklearn":
        from sklearn.neural_network import MLPClassifier, MLPRegressor
    elif peer == "torch":
        return TorchMLP(task=spec["task"], **params)
    else:
        raise ValueError(f"unknown peer {peer!r}")
    return MLPClassifier(**params) if classifier else MLPRegressor(**params)


def set_torch_threads(threads):
    import torch

    torch.set_num_threads(threads)


class TorchMLP:
    """sklearn-shaped wrapper around a plain PyTorch training loop.

    ``nn.Sequential`` of ``Linear`` + ``ReLU``; sklearn's initialization
    (uniform +-sqrt(6 / (fan_in + fan_out)) for weights and biases); Adam with
    sklearn's lr / betas / eps; softmax cross-entropy (classification) or
    half squared error (regression, as sklearn); sklearn's L2 penalty
    ``0.5 * alpha * ||W||^2 / batch`` when ``alpha > 0``; no DataLoader: each
    epoch indexes the tensors with a fresh random permutation, last batch
    smaller as in sklearn. The loss of every batch is read back (``item``)
    for ``loss_curve_``, as sklearn and skdeep compute it too.
    """

    def __init__(self, task, hidden_layer_sizes, batch_size, learning_rate_init,
                 alpha, max_iter, random_state, shuffle=True, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, **ignored):
        self.task = task
        self.hidden_layer_sizes = hidden_layer_sizes
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.max_iter = max_iter
        self.random_state = random_state
        self.shuffle = shuffle
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _build(self, n_in, n_out, generator):
        from torch import nn

        sizes = [n_in, *self.hidden_layer_sizes, n_out]
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            linear = nn.Linear(fan_in, fan_out)
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            linear.weight.data.uniform_(-bound, bound, generator=generator)
            linear.bias.data.uniform_(-bound, bound, generator=generator)
            layers.append(linear)
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def fit(self, X, y):
        import torch
        import torch.nn.functional as F

        generator = torch.Generator().manual_seed(int(self.random_state))
        X_t = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        classifier = self.task == "clf"
        if classifier:
            self.classes_, codes = np.unique(y, return_inverse=True)
            y_t = torch.from_numpy(codes.astype(np.int64))
            n_out = len(self.classes_)
        else:
            y_t = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(-1, 1))
            n_out = 1
        model = self._build(X_t.shape[1], n_out, generator)
        weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        optimizer = torch.optim.Adam(
            model.parameters(), lr=self.learning_rate_init,
            betas=(self.beta_1, self.beta_2), eps=self.epsilon,
        )
        n = X_t.shape[0]
        batch = min(self.batch_size, n)
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            if self.shuffle:
                order = torch.randperm(n, generator=generator)
            else:
                order = torch.arange(n)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                xb = X_t[idx]
                yb = y_t[idx]
                out = model(xb)
                if classifier:
                    loss = F.cross_entropy(out, yb)
                else:
                    loss = 0.5 * F.mse_loss(out, yb)
                if self.alpha:
                    penalty = sum((w * w).sum() for w in weights)
                    loss = loss + 0.5 * self.alpha * penalty / xb.shape[0]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item() * xb.shape[0]
            self.loss_curve_.append(total / n)
        self.model_ = model
        self.n_iter_ = self.max_iter
        return self

    def predict(self, X):
        import torch

        with torch.no_grad():
            out = self.model_(torch.from_numpy(np.ascontiguousarray(X, np.float32)))
            if self.task == "clf":
                return self.classes_[out.argmax(dim=1).numpy()]
            return out[:, 0].numpy()

    def score(self, X, y):
        from sklearn.metrics import accuracy_score, r2_score

        if self.task == "clf":
            return accuracy_score(y, self.predict(X))
        return r2_score(y, self.predict(X))


# -- FLOPs, peaks and the GEMM-only floor -------------------------------------


def forward_flops(n_samples, sizes):
    """Matmul FLOPs of one forward pass: 2 * n * sum(fan_in * fan_out)."""
    return 2.0 * n_samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:],
                                                       strict=True))


def training_flops(n_samples, sizes):
    """Conventional training FLOPs of one epoch: 3 x the forward matmuls
    (forward, weight gradient, input gradient)."""
    return 3.0 * forward_flops(n_samples, sizes)


def needed_training_flops(n_samples, sizes):
    """Matmul FLOPs an epoch really needs: the first layer's input gradient
    (``D @ W.T`` into the data) is computed by no peer."""
    return training_flops(n_samples, sizes) - 2.0 * n_samples * sizes[0] * sizes[1]


def _median_time(fn, runs):
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def matmul_peak(n=2048, runs=7):
    """GFLOP/s of float32 ``n x n @ n x n``: NumPy's BLAS and Numba's
    ``np.dot`` (the BLAS that skdeep's kernels call, SciPy's)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    result = {"n": n, "numpy": flops / _median_time(lambda: np.dot(a, b, out=c), runs)
              / 1e9}
    try:
        dot = _numba_dot()
        result["numba"] = flops / _median_time(lambda: dot(a, b, c), runs) / 1e9
    except Exception as exc:  # pragma: no cover - numba is a skdeep dependency
        result["numba_error"] = repr(exc)
    return result


def _numba_dot():
    import numba

    @numba.njit(cache=True)
    def dot(a, b, c):
        np.dot(a, b, c)

    return dot


_GEMM_EPOCH = None


def _gemm_epoch_kernel():
    global _GEMM_EPOCH
    if _GEMM_EPOCH is None:
        import numba

        @numba.njit(cache=True)
        def gemm_epoch(X, Ws, As, Ds, Gs, batch_size):
            n = X.shape[0]
            n_layers = len(Ws)
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                np.dot(X[start:start + m], Ws[0], As[0][:m])
                for i in range(1, n_layers):
                    np.dot(As[i - 1][:m], Ws[i], As[i][:m])
                for i in range(n_layers - 1, 0, -1):
                    np.dot(As[i - 1][:m].T, Ds[i][:m], Gs[i])
                    np.dot(Ds[i][:m], Ws[i].T, Ds[i - 1][:m])
                np.dot(X[start:start + m].T, Ds[0][:m], Gs[0])

        _GEMM_EPOCH = gemm_epoch
    return _GEMM_EPOCH


class GemmFloor:
    """One epoch of the network's matrix products alone (forward ``A @ W``,
    weight gradients ``A.T @ D``, input gradients ``D @ W.T`` except the first
    layer's), same shapes and batch size, through Numba's ``np.dot`` in one
    compiled loop: no shuffling or gathering, bias, activation, loss or
    optimizer. A lower bound for an epoch with this BLAS."""

    def __init__(self, sizes, batch_size, dtype=np.float32):
        rng = np.random.default_rng(0)
        self.sizes = list(sizes)
        self.batch_size = batch_size
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        self.Ws = tuple((rng.standard_normal((a, b)) * 0.01).astype(dtype)
                        for a, b in pairs)
        self.As = tuple(np.zeros((batch_size, b), dtype) for _, b in pairs)
        self.Ds = tuple(rng.standard_normal((batch_size, b)).astype(dtype)
                        for _, b in pairs)
        self.Gs = tuple(np.zeros((a, b), dtype) for a, b in pairs)

    def epoch(self, X):
        import threadpoolctl

        kernel = _gemm_epoch_kernel()
        # The thread rule of skdeep's kernels: products of a batch below
        # 2**25 FLOPs on one BLAS thread (two threads' start-up and spinning
        # made this floor 10x slower than skdeep's whole epoch on W5 on a
        # busy machine).
        largest = max(2 * self.batch_size * a * b
                      for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))
        limit = (threadpoolctl.threadpool_limits(1, user_api="blas")
                 if largest < 2 ** 25 else contextlib.nullcontext())
        with limit:
            started = time.perf_counter()
            kernel(X, self.Ws, self.As, self.Ds, self.Gs, self.batch_size)
            return time.perf_counter() - started


# -- memory ------------------------------------------------------------------


def _status_mb(field):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def rss_mb():
    """Current resident set size (MB), None where /proc is missing."""
    return _status_mb("VmRSS")


def peak_rss_mb():
    """Resident high-water mark (MB): VmHWM, else ``ru_maxrss``."""
    hwm = _status_mb("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss():
    """Reset the high-water mark (Linux ``/proc/self/clear_refs``); False
    where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True
