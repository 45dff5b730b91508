"""What .ci/run checks besides the tests (ruff, mypy, the import graph), and how a test without its extra behaves."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, require_extra

README_COMMAND_HEAD = "python3 -m venv .venv && .venv/bin/pip install -e "


def ci_lines() -> list[str]:
    return [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]


def test_ci_runs_the_readme_command_then_ruff_mypy_and_the_import_graph():
    lines = ci_lines()
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith(README_COMMAND_HEAD)]
    assert readme and readme[0] in lines  # the README's test command, verbatim
    after = lines[lines.index(readme[0]) + 1:]
    assert [line.split("  #")[0].strip() for line in after if line.startswith(".venv/bin/") and "pip list" not in line] == [
        ".venv/bin/ruff check .", ".venv/bin/mypy", ".venv/bin/python tests/import_graph.py >/dev/null"]
    assert 'test = ["pytest>=8", "ruff>=0.6", "mypy>=1.10"]' in (ROOT / "pyproject.toml").read_text()  # installed by it


def test_ruff_passes_on_the_tree():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        require_extra("test", "ruff")  # skips (or fails under CI) naming the install
    out = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]


@pytest.mark.slow  # mypy over nlpkit/ takes 20 s to a minute (cold cache); .ci/run runs it anyway
def test_mypy_passes():
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]


def test_a_missing_extra_skips_naming_the_install_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r'^needs nlpkit_absent\.sub \(the \'research\' extra\): '
                                                    r'pip install -e "\.\[research\]"$'):
        require_extra("research", "json", "nlpkit_absent.sub")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"needs nlpkit_absent \(the 'research' extra\).*CI installs"):
        require_extra("research", "nlpkit_absent")
    require_extra("research", "json")  # present: nothing happens
