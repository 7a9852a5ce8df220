"""The progress bar's clock starts after the first epoch."""

import time

import pytest

from skdeep._training import Progress


def test_a_slow_first_epoch_is_kept_out_of_the_time_estimate():
    pytest.importorskip("tqdm")
    progress = Progress(True, total=20)
    time.sleep(0.5)  # a first epoch that loads or compiles the kernels
    progress.epoch(1, 1.0, None, None)
    for n_iter in range(2, 6):
        progress.epoch(n_iter, 1.0, None, None)
    meter = progress.bar.format_dict
    progress.close()
    assert meter["n"] == 5 and meter["total"] == 20
    assert meter["elapsed"] < 0.25  # the 0.5 s epoch is not in it
