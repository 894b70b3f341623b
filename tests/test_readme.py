"""The README's examples run as written, and CI runs the README's test
command verbatim."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_examples_run(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # Lightning writes its checkpoints here
    code = blocks("python")[index]
    namespace = {"__name__": "__readme__"}
    exec(compile(code, f"README.md[python {index}]", "exec"), namespace)
    if "service_level_tradeoff" in code:
        out = capsys.readouterr().out
        assert "0.9" in out and "stock" in out
        assert namespace["metrics"]["mean_wQuantileLoss"] < 1.0
    else:  # the drop-in example builds a GluonTS estimator with the IQF head
        assert namespace["estimator"].distr_output.num_pieces == 3


def test_ci_runs_the_readme_test_command():
    bash = blocks("bash")
    assert len(bash) == 2, "README has exactly two set-up commands"
    test_cmd = bash[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    # CI creates its own venv first, then runs the README's install + test part
    install_and_test = test_cmd.split("&& ", 2)[-1]
    assert install_and_test in ci
    assert "pytest" in test_cmd and "torch==2.13.0" in test_cmd
    assert "gluonts-iqf backtest" in bash[0]
