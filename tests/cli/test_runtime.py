"""Tests of the run set-up (gluonts_iqf.cli.runtime): default threads,
device choice and the run record."""

from __future__ import annotations

import os
import sys

import pytest

from gluonts_iqf.cli import default_threads, process_age
from gluonts_iqf.cli import runtime


def test_default_threads_bounds():
    n = default_threads()
    assert 1 <= n <= 4
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert n == max(1, min(4, cores // 2))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux-only")
def test_process_age_includes_start_up():
    age = process_age()
    assert age is not None and age >= 0.0
    assert runtime.since_start() >= 0.0


def test_resolve_device_cpu_and_missing_cuda(monkeypatch):
    import torch

    assert runtime.resolve_device("cpu") == ("cpu", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("auto") == ("cpu", "cpu")
    with pytest.raises(runtime.CLIError, match="no CUDA device"):
        runtime.resolve_device("cuda")


def test_record_versions_and_hardware():
    v = runtime.versions()
    assert {"gluonts_iqf", "python", "torch", "gluonts", "lightning", "numpy", "pandas"} == set(v)
    hw = runtime.hardware("cpu", 1)
    assert hw["device"] == "cpu" and hw["torch_threads"] == 1 and "gpu" not in hw
