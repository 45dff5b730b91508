"""The fine-tuning loop's batches and optimizer (nlpkit/models/finetune_loop.py): each epoch uses every document
exactly once, batches are padded to their longest window, length grouping is seeded and cuts padding, AdamW is
fused. Real tokenizer and a tiny randomly initialised BERT (conftest.tiny_encoder); no timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides  # noqa: E402
from nlpkit.errors import ConfigError  # noqa: E402
from nlpkit.models.finetune import FinetuneClassifier  # noqa: E402
from nlpkit.models.finetune_loop import Loop, fill_batches, length_grouped  # noqa: E402

# Texts of very different lengths (1 to 12 copies of a sentence), so padding depends on who shares a batch.
TEXTS = [" ".join([t] * (1 + i % 6)) for i, t in enumerate((ESCALATORY + DE_ESCALATORY + NEUTRAL) * 4)]
LABELS = (["escalatory"] * 4 + ["de_escalatory"] * 4 + ["neutral"] * 4) * 4
MANY = TEXTS * 5  # 240 documents: more than one mega-batch (50 batches of 4), so length grouping applies


def fitted(texts: list[str] = TEXTS, **params) -> FinetuneClassifier:
    overrides = {**tiny_model_overrides("finetune.v1"), "epochs": 1, "batch_size": 4, "max_length": 64, **params}
    return FinetuneClassifier(**overrides).fit(texts, (LABELS * 5)[: len(texts)])


def loop_of(clf: FinetuneClassifier, long_text: str = "head", texts: list[str] = MANY) -> Loop:
    """A fresh loop over TEXTS with ``clf``'s settings (its tokenizer, seed and batching); ``chunks``: windows of
    at most 24 tokens, so that the longer texts (up to 44 tokens) span several windows."""
    clf.set_params(long_text=long_text, max_length=24 if long_text == "chunks" else 64)
    labels = np.searchsorted(clf.classes_, (LABELS * 5)[: len(texts)])
    return Loop(clf, clf._encode(texts), labels, None, None)


def padded_cells(loop: Loop) -> tuple[int, int]:
    """(padding cells, real tokens) over one epoch of ``loop``'s batches."""
    pads = real = 0
    for docs in loop._doc_batches():
        mask = loop._inputs(docs)["attention_mask"].numpy()
        pads, real = pads + int((mask == 0).sum()), real + int(mask.sum())
    return pads, real


@pytest.fixture(scope="module")
def grouped(tiny_encoder_dir) -> FinetuneClassifier:
    return fitted()


@pytest.mark.parametrize("long_text", ["head", "chunks"])
def test_every_document_once_per_epoch_and_each_batch_padded_to_its_longest_window(grouped, long_text):
    loop = loop_of(grouped, long_text)
    assert (max(len(w) for w in loop.windows) > 1) == (long_text == "chunks")  # chunks: documents of several windows
    for _ in range(3):  # three epochs
        batches = loop._doc_batches()
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(MANY)))
        for docs in batches:
            ids = loop._inputs(docs)["input_ids"]
            windows = [loop.train.ids[w] for d in docs for w in loop.windows[d]]
            assert ids.shape == (len(windows), max(len(w) for w in windows))
            assert [row[: len(w)] for row, w in zip(ids.tolist(), windows)] == windows
    loop_of(grouped)  # back to the fixture's settings


def test_length_grouping_is_seeded_changes_each_epoch_and_cuts_padding(grouped):
    a, b = loop_of(grouped), loop_of(grouped)
    first, again = a._doc_batches(), b._doc_batches()
    assert [x.tolist() for x in first] == [x.tolist() for x in again]  # same seed, same batches
    assert [x.tolist() for x in a._doc_batches()] != [x.tolist() for x in first]  # the next epoch reshuffles
    other = loop_of(grouped.set_params(random_state=1))._doc_batches()
    assert [x.tolist() for x in other] != [x.tolist() for x in first]
    grouped.set_params(random_state=0)
    grouped_pads, real = padded_cells(loop_of(grouped))
    random_pads, same_real = padded_cells(loop_of(grouped.set_params(group_by_length=False)))
    grouped.set_params(group_by_length=True)
    assert real == same_real and grouped_pads < 0.5 * random_pads, (grouped_pads, random_pads)


def test_length_grouped_sorts_within_mega_batches_and_keeps_every_index():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000)
    order = rng.permutation(1000)
    out = length_grouped(order, lengths, batch_size=8)  # mega-batches of 50 x 8 = 400; the last takes the rest
    assert sorted(out.tolist()) == list(range(1000))
    for start, end in ((0, 400), (400, 1000)):
        part = out[start:end]
        assert set(part.tolist()) == set(order[start:end].tolist())  # grouping never crosses a mega-batch
        assert np.all(np.diff(lengths[part]) <= 0)  # longest first


def test_fewer_documents_than_one_mega_batch_are_not_grouped():
    order = np.random.default_rng(1).permutation(399)
    assert length_grouped(order, np.arange(399), batch_size=8) is order


def test_fill_batches_closes_a_batch_once_it_holds_batch_size_windows():
    sizes = np.array([1, 3, 1, 1, 2, 1, 1])
    batches = fill_batches(np.arange(7), sizes, batch_size=4)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3, 4], [5, 6]]


def test_adamw_is_fused_and_grouped_training_is_reproducible(grouped):
    optimizer, _ = loop_of(grouped)._optimizer()
    assert optimizer.defaults["fused"] is True
    a, b = fitted(MANY, epochs=2), fitted(MANY, epochs=2)  # 240 documents: the length-grouped path
    np.testing.assert_array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))
    assert [r["train_loss"] for r in a.history_] == [r["train_loss"] for r in b.history_]
    ungrouped = fitted(MANY, epochs=2, group_by_length=False)
    assert [r["train_loss"] for r in ungrouped.history_] != [r["train_loss"] for r in a.history_]


def test_group_by_length_must_be_a_bool(tiny_encoder_dir):
    with pytest.raises(ConfigError, match=r"^model\.group_by_length must be true or false; got 'yes'\. "
                                          r"Fix: e\.g\. model\.group_by_length=false\.$"):
        fitted(group_by_length="yes")


SPEED = Path(__file__).resolve().parents[1] / "experiments" / "finetune_speed" / "run.py"


def test_speed_benchmark_skips_with_the_reason_when_the_data_is_absent(tmp_path):
    done = subprocess.run([sys.executable, str(SPEED), "--data", str(tmp_path / "nowhere")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"skipping conflibert_cameo: {tmp_path / 'nowhere' / 'train.csv'} not found (pass --data FOLDER)" in done.stdout


@pytest.mark.slow
def test_speed_benchmark_runs_nlpkit_and_the_trainer_on_the_same_steps(tmp_path):
    """Two steps of each system on a written 16-sentence file (the packaged MiniLM; about a minute per system)."""
    rows = [("The army shelled the town.", "material_conflict"), ("Leaders met for talks.", "verbal_cooperation"),
            ("He made a statement.", "make_a_statement"), ("They condemned the vote.", "verbal_conflict")] * 4
    lines = ["text,label,label_name"] + [f'"{t}",0,{name}' for t, name in rows]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = [sys.executable, str(SPEED), "--data", str(tmp_path), "--steps", "2", "--rounds", "1", "--threads", "1",
           "--systems", "nlpkit", "trainer_random"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(r["system"], r["steps"], r["examples"], r["threads"]) for r in results] == [
        ("nlpkit", 2, 16, 1), ("trainer_random", 2, 16, 1)]
    assert all(r["examples_per_s"] > 0 and 0 < r["train_loss"] < 5 for r in results)
    assert "| conflibert_cameo | nlpkit | 1 |" in done.stdout and "vs faster Trainer" in done.stdout
