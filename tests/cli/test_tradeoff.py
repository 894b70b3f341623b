"""Tests of ``gluonts-iqf tradeoff`` (gluonts_iqf.cli.tradeoff): the table
of one series of the user CSV, forecast by the tiny backtest's predictor,
equals :func:`gluonts_iqf.decision.service_level_tradeoff`; its levels are
checked by :func:`gluonts_iqf.levels.check_levels`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cli_helpers import COLS, assert_one_line_error, main_in_process, run_cli

from gluonts_iqf import datasets


@pytest.mark.slow
def test_tradeoff_subprocess(run_dir, user_csv):
    proc = run_cli(["tradeoff", "--predictor", str(run_dir["out"] / "predictor"), "--input", str(user_csv),
                    *COLS, "--item", "store-1", "--levels", "0.90:0.95", "--lead-time", "6"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "item store-1" in out and "lead time 6" in out
    assert "total stock" in out and "comonotone" in out and "independent" in out
    for level in ("0.9 ", "0.91", "0.92", "0.93", "0.94", "0.95"):
        assert level in out, level


@pytest.mark.slow
def test_tradeoff_matches_decision_module(run_dir, user_csv, tmp_path, capsys):
    from gluonts.model.predictor import Predictor

    from gluonts_iqf.decision import service_level_tradeoff

    out = tmp_path / "tab.csv"
    pdir = run_dir["out"] / "predictor"
    code, text, err = main_in_process(["tradeoff", "--predictor", str(pdir), "--input", str(user_csv), *COLS,
                                       "--item", "store-2", "--levels", "0.94,0.95", "--output", str(out)], capsys)
    assert code == 0, err
    tab = pd.read_csv(out, index_col=0)
    entries = datasets.load_long_frame(user_csv, item_id="series", timestamp="time", target="sales")
    f = next(iter(Predictor.deserialize(pdir, device="cpu").predict([entries[2]])))
    expected = service_level_tradeoff(f, levels=[0.94, 0.95])
    np.testing.assert_allclose(tab["stock|total_comonotone"], expected[("stock", "total_comonotone")], rtol=1e-5)


@pytest.mark.slow
def test_tradeoff_bad_input(run_dir, user_csv, capsys):
    pdir = str(run_dir["out"] / "predictor")
    cases = [
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-9"],
         ["unknown item 'store-9'", "'store-0'"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-0",
          "--lead-time", "13"], ["--lead-time 13", "horizon 12"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS, "--item", "store-0",
          "--levels", "0.99:0.90"], ["--levels"]),
        (["tradeoff", "--predictor", pdir, "--input", str(user_csv), *COLS], ["--item"]),
    ]
    for argv, parts in cases:
        code, out, err = main_in_process(argv, capsys)
        assert code == 2, (argv, err)
        assert_one_line_error(err, *parts)


@pytest.mark.parametrize(
    "levels, parts",
    [
        ("0.99:0.90", ["--levels", "greater than stop"]),
        ("0.95,0.9", ["--levels", "unsorted"]),
        ("0.9,0.9", ["--levels", "repeated"]),
        ("0.9,1.2", ["--levels", "strictly inside (0, 1)"]),
        ("0.9,abc", ["--levels", "'abc' is not a number"]),
        ("0.90:0.99:0.004", ["--levels", "whole number of steps"]),
    ],
)
def test_tradeoff_levels_checked_first(tmp_path, capsys, levels, parts):
    # the levels are checked before the predictor or the input is read
    code, _, err = main_in_process(["tradeoff", "--predictor", str(tmp_path / "none"), "--input",
                                    str(tmp_path / "none.csv"), "--item", "a", "--levels", levels], capsys)
    assert code == 2
    assert_one_line_error(err, *parts)
