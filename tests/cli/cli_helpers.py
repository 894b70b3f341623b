"""Helpers shared by the command-line tests: the tiny run settings, running
``gluonts-iqf`` in a subprocess or in process, and the checks that bad input
gives one line on stderr and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gluonts_iqf import cli

H = 12  # prediction length of the tiny runs
TINY = [
    "--max-series", "6", "--epochs", "1", "--batches-per-epoch", "3",
    "--prediction-length", str(H), "--context-length", "24", "--quiet",
]
PNGS = ["fan_chart_0.png", "fan_chart_1.png", "fan_chart_2.png", "fan_chart_3.png",
        "quantile_function.png", "calibration.png"]
LEVELS = ["0.05", "0.1", "0.25", "0.5", "0.75", "0.9", "0.95"]
#: Column options of the user CSV (the ``user_csv`` fixture).
COLS = ["--item-id", "series", "--timestamp", "time", "--target", "sales"]


def _env():
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def run_cli(args, cwd=None, exe=None, timeout=240, env=None):
    """``python -m gluonts_iqf.cli ARGS`` (or ``exe ARGS``) in a subprocess."""
    cmd = [exe] if exe else [sys.executable, "-m", "gluonts_iqf.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env or _env(),
                          cwd=cwd, timeout=timeout)


def assert_one_line_error(stderr: str, *parts: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    line = lines[0]
    assert line.startswith("error: "), line
    for p in parts:
        assert p in line, f"{p!r} not in {line!r}"
    return line


def main_in_process(argv, capsys):
    """cli.main in process -> (exit status, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def no_leftovers(folder: Path, name: str) -> None:
    assert not (folder / name).exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(f".{name}.")], list(folder.iterdir())
