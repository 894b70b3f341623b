"""The entry point: parse, run the sub-command, turn errors into one line
on stderr and an exit status."""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

from ..datasets import DataError
from .backtest import cmd_backtest
from .errors import EXIT_INTERNAL, EXIT_USAGE, CLIError
from .forecast import cmd_forecast
from .parser import build_parser
from .tradeoff import cmd_tradeoff

COMMANDS = {"backtest": cmd_backtest, "forecast": cmd_forecast, "tradeoff": cmd_tradeoff}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input,
    1 unexpected failure, 130 interrupted)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise CLIError("choose a command: backtest, forecast or tradeoff (see 'gluonts-iqf --help')")
        args.argv = argv
        return COMMANDS[args.command](args)
    except (CLIError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: one line too
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"error: unexpected failure: {msg}", file=sys.stderr)
        if os.environ.get("GLUONTS_IQF_DEBUG"):
            raise
        return EXIT_INTERNAL
