"""The package's layers import only downwards (docs/architecture.md,
"Import direction"): the check printed there, run as a test."""

import ast
import pathlib
import re

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "gluonts_iqf"


def test_no_import_runs_up_or_sideways(capsys, monkeypatch):
    """The documented checker (executed from the page itself, so page and
    test cannot drift apart) prints nothing for the package; a planted
    upward import is reported."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), flags=re.S).group(1)
    monkeypatch.chdir(PACKAGE.parent)
    exec(compile(code, str(DOC), "exec"), {})
    assert capsys.readouterr().out == ""
    planted = PACKAGE / "nn" / "_planted_upward_import.py"
    planted.write_text("from ..model.mqcnn import MQCNNEstimator\n")
    try:
        exec(compile(code, str(DOC), "exec"), {})
    finally:
        planted.unlink()
    out = capsys.readouterr().out
    assert "_planted_upward_import.py" in out and "nn imports model.mqcnn" in out
