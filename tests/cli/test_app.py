"""Tests of the entry point (gluonts_iqf.cli.app.main, ``python -m
gluonts_iqf.cli``): help, no command, unknown options."""

from __future__ import annotations

import pytest
from cli_helpers import assert_one_line_error, main_in_process, no_leftovers, run_cli

from gluonts_iqf import cli


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("backtest", "forecast", "tradeoff"):
        assert word in out


def test_no_command(capsys):
    code, _, err = main_in_process([], capsys)
    assert code == cli.EXIT_USAGE == 2
    assert_one_line_error(err, "choose a command")


@pytest.mark.slow
def test_unknown_option_subprocess(tmp_path):
    proc = run_cli(["backtest", "--epochz", "3"], cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "unrecognized arguments: --epochz")
    no_leftovers(tmp_path, "gluonts-iqf-output")


def test_unexpected_failure_is_one_line(monkeypatch, capsys):
    def boom(args):
        raise RuntimeError("out of\nluck")

    monkeypatch.setitem(cli.COMMANDS, "forecast", boom)
    monkeypatch.delenv("GLUONTS_IQF_DEBUG", raising=False)
    code, _, err = main_in_process(["forecast", "--predictor", "p", "--input", "i"], capsys)
    assert code == cli.EXIT_INTERNAL == 1
    assert_one_line_error(err, "unexpected failure", "RuntimeError: out of luck")
