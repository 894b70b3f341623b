"""The package ``gluonts_iqf.decision``: its public names and the examples
in the docstrings of its modules."""

import doctest
import importlib
import pkgutil

import gluonts_iqf.decision as decision


def test_public_names():
    assert sorted(decision.__all__) == [
        "OptimalStock", "aggregate_quantiles", "lead_time_quantiles",
        "newsvendor_level", "optimal_stock", "service_level_tradeoff",
    ]
    for name in decision.__all__:
        assert getattr(decision, name).__module__.startswith("gluonts_iqf.decision.")


def test_docstring_examples_run():
    attempted = 0
    for info in pkgutil.iter_modules(decision.__path__):
        module = importlib.import_module(f"gluonts_iqf.decision.{info.name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, info.name
        attempted += result.attempted
    assert attempted >= 10
