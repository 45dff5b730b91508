"""Train the default model of each task on the embedded corpus and label the example article.

    python experiments/example_article/run.py

Prints, per task, the predicted label and the probabilities; the README shows this output.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nlpkit import compose, train

HERE = Path(__file__).resolve().parent
TARGETS = ["U.S. airstrikes in Iraq and Syria", "the 2015 Iran nuclear deal"]


def main() -> None:
    title, body = HERE.joinpath("article.txt").read_text(encoding="utf-8").split("\n\n", 1)
    doc = {"title": title, "text": body}
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("topic", "escalation", "stance"):
            result = train(compose([f"task={task}", "tracking=off", f"output_dir={tmp}/{task}"]))
            p = result.predictor
            inputs = [{**doc, "target": t} for t in TARGETS] if task == "stance" else [doc]
            names = [f"stance toward {t!r}" for t in TARGETS] if task == "stance" else [task]
            for name, label, proba in zip(names, p.predict(inputs), p.predict_proba(inputs)):
                probs = ", ".join(f"{l} {v:.2f}" for l, v in zip(p.labels, proba))
                print(f"{name:<52} {label:<18} ({probs})  [test macro-F1 {result.metrics['test/macro_f1']:.3f}]")


if __name__ == "__main__":
    main()
