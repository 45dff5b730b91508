"""Train the default model of each task on the embedded corpus, bundle the three, and analyze the example article.

    python experiments/example_article/run.py example-bundle

Trains topic and escalation (``tfidf_logreg``) and stance (``experiment=stance_best``: ``tfidf_logreg`` on the text
with the codebook's stance cues, ``experiments/stance/README.md``), with no tracking, into a temporary folder, saves them as one
bundle in ``example-bundle`` (``nlpkit.analyze.save_bundle``), then runs and prints the README's command::

    nlpkit analyze experiments/example_article/article.txt --bundle example-bundle \\
        --target "U.S. airstrikes in Iraq and Syria" --target "the 2015 Iran nuclear deal" --pretty
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from nlpkit import compose, train
from nlpkit.analyze import save_bundle

HERE = Path(__file__).resolve().parent
ARTICLE = HERE / "article.txt"
TARGETS = ["U.S. airstrikes in Iraq and Syria", "the 2015 Iran nuclear deal"]
TASKS = ("topic", "escalation", "stance")
OVERRIDES = {"topic": ["task=topic"], "escalation": ["task=escalation"], "stance": ["experiment=stance_best"]}


def build_bundle(bundle: Path) -> Path:
    """Train each task's predictor on the corpus (stance: the best stance configuration) and save the three as a
    bundle in ``bundle``."""
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {task: train(compose([*OVERRIDES[task], "tracking=off", f"output_dir={tmp}/{task}"])).predictor_dir
                for task in TASKS}
        return save_bundle(bundle, **dirs)


def analyze_command(bundle: str | Path, article: str | Path = ARTICLE) -> list[str]:
    """The README's ``nlpkit analyze`` command (with the console script of this Python's environment)."""
    script = Path(sys.executable).parent / "nlpkit"
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "nlpkit.cli"]
    targets = [arg for target in TARGETS for arg in ("--target", target)]
    return [*launcher, "analyze", str(article), "--bundle", str(bundle), *targets, "--pretty"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path, help="new (or empty) folder for the bundle")
    bundle = build_bundle(parser.parse_args().bundle)
    article = ARTICLE.relative_to(Path.cwd()) if ARTICLE.is_relative_to(Path.cwd()) else ARTICLE
    command = analyze_command(bundle, article)
    print("$ " + shlex.join(["nlpkit", *command[command.index("analyze"):]]), flush=True)
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
