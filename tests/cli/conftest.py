"""Fixtures of the command-line tests: one tiny backtest run through
``python -m gluonts_iqf.cli`` (its saved predictor serves the forecast and
tradeoff tests) and a long-format CSV of real m4_hourly values.

Also makes ``cli_helpers.py`` importable: pytest runs with
``--import-mode=importlib``, which does not put test folders on
``sys.path``.
"""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_helpers import TINY, run_cli  # noqa: E402

from gluonts_iqf import datasets  # noqa: E402


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """A tiny backtest on the embedded m4_hourly, through a subprocess."""
    base = tmp_path_factory.mktemp("cli")
    out = base / "run"
    proc = run_cli(["backtest", *TINY, "--output", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"out": out, "stdout": proc.stdout, "stderr": proc.stderr, "base": base}


@pytest.fixture(scope="session")
def user_csv(tmp_path_factory):
    """Long-format CSV from real m4_hourly values: three series with real
    hourly timestamps (different end times), the last 120 values each."""
    test = datasets.load("m4_hourly").test
    rows = []
    for k, item in enumerate((0, 1, 2)):
        y = test[item]["target"][-120 - k:len(test[item]["target"]) - k]
        ts = pd.date_range("2024-03-01 00:00", periods=len(y), freq="h") + pd.Timedelta(hours=k)
        rows.append(pd.DataFrame({"series": f"store-{item}", "time": ts.strftime("%Y-%m-%d %H:%M"),
                                  "sales": y}))
    path = tmp_path_factory.mktemp("data") / "sales.csv"
    pd.concat(rows).to_csv(path, index=False)
    return path
