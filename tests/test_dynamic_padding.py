"""Dynamic padding: every batch is padded to the longest window of its length-sorted batch, for the torch runner
and the ONNX Runtime runner alike, and the shipped graph has dynamic batch and sequence axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides  # noqa: E402
from nlpkit import Predictor  # noqa: E402
from nlpkit.models import long_text  # noqa: E402

TEXTS = ESCALATORY + DE_ESCALATORY + NEUTRAL
LABELS = ["escalatory"] * 4 + ["de_escalatory"] * 4 + ["neutral"] * 4
# short to long: 1 to ~30 words, so windows of very different lengths, all under max_length (32 tokens)
VARIED = ["truce", "the truce", *TEXTS[:6], " ".join(TEXTS[6:8]), "a", "report of the truce", TEXTS[9]]


@pytest.fixture(scope="module")
def saved(tiny_encoder_dir, tmp_path_factory) -> Path:
    from nlpkit.models.embed import EmbedLogregClassifier

    model = EmbedLogregClassifier(**{**tiny_model_overrides("embed_logreg.v1"), "batch_size": 4}).fit(TEXTS, LABELS)
    meta = {"model_kind": "embed_logreg.v1", "labels": sorted(set(LABELS)), "task": "escalation",
            "text_fields": ["text"]}
    return Predictor(model, meta).save(tmp_path_factory.mktemp("embed"))


def record_widths(model) -> list[tuple[int, int]]:
    """Wrap the model's real runner so each call notes (rows, width) of the batch it is given."""
    seen: list[tuple[int, int]] = []
    runner = model.runner_

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        seen.append(batch["input_ids"].shape)
        return runner(batch)

    model.runner_ = run
    return seen


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_each_batch_is_as_wide_as_its_longest_window(saved, runtime):
    predictor = Predictor.load(saved, runtime=runtime)
    model = predictor.model
    seen = record_widths(model)
    proba = predictor.predict_proba(VARIED)
    lengths = sorted(len(w) for w in model._encode(VARIED).ids)
    expected = [(len(lengths[s:s + 4]), max(lengths[s:s + 4])) for s in range(0, len(lengths), 4)]
    assert seen == expected
    assert len({width for _, width in seen}) > 1 and max(w for _, w in seen) < model.max_length
    one_by_one = np.vstack([predictor.predict_proba([t]) for t in VARIED])
    np.testing.assert_allclose(proba, one_by_one, atol=1e-5)


def test_batches_are_length_sorted_and_padded_to_their_longest():
    encoded = long_text.Encoded(ids=[[1] * n for n in (5, 2, 9, 3, 7)], types=[[0] * n for n in (5, 2, 9, 3, 7)])
    widths = [(batch["input_ids"].shape, list(index)) for batch, index in long_text.batches(encoded, 2, pad_id=0)]
    assert widths == [((2, 3), [1, 3]), ((2, 7), [0, 4]), ((1, 9), [2])]


def test_the_shipped_graph_has_dynamic_batch_and_sequence_axes(saved):
    import onnx

    graph = onnx.load(str(saved / "model.onnx")).graph
    for tensor in graph.input:
        dims = tensor.type.tensor_type.shape.dim
        assert len(dims) == 2 and all(d.dim_param and not d.dim_value for d in dims), (tensor.name, dims)
