"""Every command in the README's ```bash blocks is executed by some test, so a README command cannot silently
break again.

A test that runs a README command fetches its text with ``conftest.readme_command("<the command, or its start>")``,
which fails unless the README holds exactly one such command, and then runs what it got (placeholders such as
``<run id>`` substituted). This module finds those calls statically (Python's ``ast``, in every file under
tests/) and fails listing, one per line, each README command that no test fetches. The one exception is a
command that CI itself runs: a line of ``.ci/run`` identical to the README command (quick start, command 2, which
runs this very suite) counts as executed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import README, readme_command, readme_commands

TESTS = Path(__file__).resolve().parent
CI_SCRIPT = TESTS.parent / ".ci" / "run"


def fetched_commands() -> dict[str, list[str]]:
    """README command -> the test files whose ``readme_command("...")`` calls resolve to it."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if _is_fetch(node):
                wanted = " ".join(node.args[0].value.split())
                commands = readme_commands()
                matches = [wanted] if wanted in commands else [c for c in commands if c.startswith(wanted + " ")]
                for command in matches[:1] if len(matches) == 1 else []:
                    found.setdefault(command, []).append(path.name)
    ci_lines = {" ".join(line.split()) for line in CI_SCRIPT.read_text().splitlines()} if CI_SCRIPT.is_file() else set()
    for command in readme_commands():
        if command in ci_lines:
            found.setdefault(command, []).append(".ci/run")
    return found


def _is_fetch(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return name == "readme_command" and isinstance(node.args[0].value, str)


def test_every_readme_command_is_executed_by_a_test():
    fetched = fetched_commands()
    missing = [c for c in readme_commands() if c not in fetched]
    assert not missing, (
        f"{len(missing)} README command(s) are executed by no test (fetch each with "
        "conftest.readme_command(\"...\") in the test that runs it):\n" + "\n".join(f"  {c}" for c in missing))


def test_commands_are_parsed_with_continuations_joined_and_comments_dropped():
    text = ("x\n```bash\n# a comment\nnlpkit-train a=1 \\\n  'b={c: d}'   # trailing # comment\n\n"
            "nlpkit report --x 'y # z'\n```\n```python\nnot = 'a command'\n```\n")
    assert readme_commands(text) == ["nlpkit-train a=1 'b={c: d}'", "nlpkit report --x 'y # z'"]


def test_readme_command_fails_for_text_the_readme_does_not_hold():
    with pytest.raises(pytest.fail.Exception, match="0 README commands start with 'nlpkit no-such-command'"):
        readme_command("nlpkit no-such-command")
    assert README.is_file()
