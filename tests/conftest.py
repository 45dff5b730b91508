"""Shared fixtures: real Hydra composition, real sqlite MLflow stores under tmp_path, small data files."""

from __future__ import annotations

import json
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
