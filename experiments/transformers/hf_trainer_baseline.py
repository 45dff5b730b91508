"""The accuracy bar of issue 4: a plain Hugging Face ``Trainer`` fine-tune of all-MiniLM-L6-v2 on ConfliBERT's
cameo_class data, measured on this machine next to nlpkit's ``finetune``.

Protocol of the bar: all 1,349 training sentences, 6 epochs, lr 5e-5, batch 8, linear decay, 128 tokens,
no early stopping, scored on the 451 test sentences (macro-F1). Run from the repository root:

    python experiments/transformers/hf_trainer_baseline.py --labels escalation --seeds 0
    python experiments/transformers/hf_trainer_baseline.py --labels five --seeds 0

``--system nlpkit`` runs the same protocol through nlpkit's own fine-tuning loop (``FinetuneClassifier`` with
no hold-out, no warm-up, no weight decay: the Trainer recipe), to separate the loop from nlpkit's defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import benchmark_dir, load_average  # noqa: E402

from experiments.benchmarks.peers import HfTrainerPeer  # noqa: E402

ESCALATION = {"material_conflict": "escalatory", "verbal_conflict": "escalatory",
              "material_cooperation": "de_escalatory", "verbal_cooperation": "de_escalatory",
              "make_a_statement": "neutral"}


def load(split: str, labels: str) -> tuple[list[str], list[str]]:
    frame = pd.read_csv(benchmark_dir() / "conflibert_cameo" / f"{split}.csv", keep_default_na=False)
    names = frame["label_name"].map(ESCALATION) if labels == "escalation" else frame["label_name"]
    return frame["text"].tolist(), names.tolist()


def fit(system: str, epochs: float, texts: list[str], labels: list[str], seed: int) -> Any:
    """The bar's recipe (6 epochs, lr 5e-5, batch 8, linear decay, no warm-up, no weight decay, all training
    sentences) through the HF Trainer or through nlpkit's fine-tuning loop; either has ``predict(texts)``."""
    if system == "trainer":
        return HfTrainerPeer(epochs=epochs).fit(texts, labels, seed=seed)
    from nlpkit.models.finetune import FinetuneClassifier

    return FinetuneClassifier(epochs=int(epochs), learning_rate=5e-5, batch_size=8, validation_fraction=0,
                              warmup_ratio=0, weight_decay=0, progress=False, random_state=seed).fit(texts, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", choices=["escalation", "five"], default="escalation")
    parser.add_argument("--system", choices=["trainer", "nlpkit"], default="trainer")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=float, default=6.0)
    parser.add_argument("--out", type=Path, default=None, help="write test predictions to OUT/hf_<labels>_seed<k>.csv")
    args = parser.parse_args()
    train_x, train_y = load("train", args.labels)
    test_x, test_y = load("test", args.labels)
    for seed in args.seeds:
        load_before, start = load_average(), time.perf_counter()
        model = fit(args.system, args.epochs, train_x, train_y, seed)
        fit_s = time.perf_counter() - start
        pred = list(model.predict(test_x))
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            prefix = "hf" if args.system == "trainer" else args.system
            pd.DataFrame({"text": test_x, "label": test_y, "predicted": pred}).to_csv(
                args.out / f"{prefix}_{args.labels}_seed{seed}.csv", index_label="id")
        print(json.dumps({
            "system": args.system, "labels": args.labels, "seed": seed, "n_train": len(train_x), "n_test": len(test_x),
            "test_macro_f1": round(f1_score(test_y, pred, average="macro"), 4),
            "test_accuracy": round(accuracy_score(test_y, pred), 4), "fit_s": round(fit_s, 1),
            "load": f"{load_before}->{load_average()}",
        }), flush=True)


if __name__ == "__main__":
    main()
