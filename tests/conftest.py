"""Shared fixtures: real Hydra composition, real sqlite MLflow stores under tmp_path, small data files."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from omegaconf import DictConfig

from nlpkit.config import compose

LABELS = ["escalatory", "de_escalatory", "neutral"]
ESCALATORY = ["Artillery shelled the border town overnight", "The army mobilised reserves and issued an ultimatum",
              "Missiles struck the port as threats mounted", "Troops massed near the frontier after the attack"]
DE_ESCALATORY = ["Both sides agreed a ceasefire and reopened the hotline", "Negotiators welcomed progress in the talks",
                 "Forces withdrew from the disputed ridge under the truce", "Prisoners were exchanged as calm returned"]
NEUTRAL = ["The ministry published the schedule for the next session", "Parliament will debate the budget on Tuesday",
           "The annual exercise was held as planned", "Officials released trade statistics for the quarter"]


def tiny_rows(copies: int = 3) -> list[dict]:
    """A small, clearly separable labelled set (12 distinct texts per copy) with sources for group splits."""
    rows = []
    for c in range(copies):
        for label, texts in zip(LABELS, (ESCALATORY, DE_ESCALATORY, NEUTRAL)):
            for i, text in enumerate(texts):
                rows.append({"id": f"{label}-{c}-{i}", "title": f"Report {c}-{i}", "text": f"{text} (item {c}{i}).",
                             "label": label, "source": f"outlet{(c * 4 + i) % 6}", "target": "the truce"})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def make_cfg(tmp_path: Path, tracking_uri: str):
    """Compose the real config tree with overrides; outputs and the MLflow store go under tmp_path."""

    def make(*overrides: str, tracking: bool = True) -> DictConfig:
        base = [f"output_dir={tmp_path / 'out'}", f"tracking.uri={tracking_uri}"]
        if not tracking:
            base.append("tracking=off")
        return compose([*base, *overrides])

    return make


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())


def file_overrides(path: Path, *extra: str) -> list[str]:
    """Overrides that train the escalation task on a small file with a random split."""
    return ["data=file", f"data.path={path}", "data.columns.escalation=label", "model.char_ngrams=false", *extra]


# -- tiny randomly initialised encoders for the transformer families (built once per test session) ------------
TINY_VOCAB_WORDS = sorted({w.strip(".,()").lower() for t in ESCALATORY + DE_ESCALATORY + NEUTRAL for w in t.split()}
                          | {"the", "truce", "report", "item", "a", "of", "and", "in", "to"})


@functools.lru_cache(maxsize=1)
def tiny_encoder() -> str:
    """A BERT with hidden size 32, 2 layers, 2 heads and a ~150-token vocabulary, saved with save_pretrained.

    Words outside the vocabulary split into single letters (``##x`` pieces), so any English text tokenizes.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.set_num_threads(1)  # a 32-wide model gains nothing from threads, and loses 30x on a busy 2-core machine
    directory = Path(tempfile.mkdtemp(prefix="nlpkit-tiny-encoder-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters), *TINY_VOCAB_WORDS]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    BertTokenizer(vocab=vocab).save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(directory)
    return str(directory)


def tiny_model_overrides(kind: str) -> dict:
    """Model-config overrides that make an encoder kind use the tiny encoder and learn a tiny set quickly."""
    if kind.startswith("embed_logreg"):
        return {"encoder": tiny_encoder(), "max_length": 32, "chunk_stride": 8, "batch_size": 8, "C": 10.0}
    if kind.startswith("finetune"):
        return {"encoder": tiny_encoder(), "max_length": 32, "chunk_stride": 8, "batch_size": 8, "epochs": 30, "learning_rate": 1e-2,
                "warmup_ratio": 0.0, "validation_fraction": 0.0, "progress": False}
    if kind.startswith("blend"):
        return {"finetune": tiny_model_overrides("finetune.v1"), "tfidf": {"C": 10.0}}
    return {}


def tunable_param(kind: str) -> tuple[str, list[float]]:
    """A float hyper-parameter of ``kind`` and two values for a grid search (contract tests)."""
    if kind.startswith("blend"):
        return "encoder_weight", [0.3, 0.7]
    return ("learning_rate", [3e-3, 1e-2]) if kind.startswith("finetune") else ("C", [0.5, 2.0])


def batch_tolerance(kind: str) -> float:
    """How far batched and one-at-a-time probabilities may differ: encoders run float32 on padded batches."""
    return 1e-6 if kind.startswith(("embed_logreg", "finetune", "blend")) else 1e-10


@pytest.fixture(scope="session")
def tiny_encoder_dir() -> str:
    pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")
    return tiny_encoder()
