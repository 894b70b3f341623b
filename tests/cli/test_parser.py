"""Tests of the option parser (gluonts_iqf.cli.parser): defaults, option
types and the level-list option, a thin wrapper over
:func:`gluonts_iqf.levels.check_levels`."""

from __future__ import annotations

import pytest

from gluonts_iqf.cli import DEFAULTS, MODELS, CLIError, build_parser, parse_levels


def test_backtest_defaults():
    args = build_parser().parse_args(["backtest"])
    assert (args.dataset, args.model, args.epochs, args.batches_per_epoch) == ("m4_hourly", "mqcnn", 30, 30)
    assert args.data_dir is None and args.levels == DEFAULTS["levels"]
    assert args.model in MODELS


def test_help_names_no_relative_data_folder(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["backtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--data-dir" in text and "GLUONTS_IQF_DATA_DIR" in text
    assert "shared" not in text


def test_positive_int_options():
    with pytest.raises(CLIError, match="--epochs must be a positive integer, got '0'"):
        build_parser().parse_args(["backtest", "--epochs", "0"])
    with pytest.raises(CLIError, match="--threads must be a positive integer, got 'x'"):
        build_parser().parse_args(["forecast", "--predictor", "p", "--input", "i", "--threads", "x"])


def test_parse_levels_sorts_and_accepts_ranges():
    assert parse_levels("0.9,0.1, 0.5") == [0.1, 0.5, 0.9]
    assert parse_levels("0.90:0.93") == [0.9, 0.91, 0.92, 0.93]
    assert isinstance(parse_levels("0.5")[0], float)


@pytest.mark.parametrize(
    "text, parts",
    [
        ("0.5,1.5", ["--levels", "1.5", "strictly inside (0, 1)"]),
        ("0,0.5", ["--levels", "strictly inside (0, 1)"]),
        ("0.5,abc", ["--levels", "'abc' is not a number"]),
        ("0.5,0.5", ["--levels", "repeated level"]),
        ("0.5,,0.6", ["--levels", "comma-separated list"]),
        ("nan", ["--levels", "NaN"]),
    ],
)
def test_parse_levels_errors(text, parts):
    with pytest.raises(CLIError) as info:
        parse_levels(text)
    msg = str(info.value)
    assert "\n" not in msg
    for p in parts:
        assert p in msg, (p, msg)


def test_parse_levels_names_the_option():
    with pytest.raises(CLIError, match="--quantiles"):
        parse_levels("2", option="--quantiles")
