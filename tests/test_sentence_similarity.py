"""Sentence-encoder similarity columns (nlpkit/models/sentence_similarity.py) on small handmade (headline, body)
pairs with the packaged all-MiniLM-L6-v2, and ``model.sentence_encoder`` in tfidf_mlp.v1: learning, save/load
without torch, what a logged or packaged predictor needs, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import build_model, family_of
from nlpkit.models.sentence_similarity import COLUMNS, DIRECTORY, SentenceSimilarity
from nlpkit.models.tfidf_mlp_arrays import SPEC_FILE, load, save
from test_tfidf_mlp import X, Y

ENCODER = "all-MiniLM-L6-v2"
CLAIM = "Border guards shot down a military drone over the river"
SAME = "Guards at the frontier downed an army drone above the river on Sunday."
NEGATED = "The defence ministry denied that any drone had been shot down over the river."
QUOTED = '"No drone was shot down by our guards, this is a fabrication," the ministry spokesman said.'
OTHER = "The city council approved a new budget for public libraries and parks."
FILLER = "Markets opened higher on Monday as traders awaited the quarterly figures."


@pytest.fixture(scope="module")
def similarity() -> SentenceSimilarity:
    return SentenceSimilarity.from_encoder(ENCODER)


@pytest.fixture(scope="module")
def fitted():
    return build_model({"kind": "tfidf_mlp.v1", "epochs": 200, "learning_rate": 1e-2, "gate_label": "unrelated",
                        "sentence_encoder": ENCODER}).fit(X, Y)


def columns(similarity: SentenceSimilarity, headline: str, body: str) -> dict[str, float]:
    return dict(zip(COLUMNS, similarity.transform([(headline, body)])[0]))


def test_a_paraphrase_with_no_shared_content_word_scores_far_above_an_unrelated_text(similarity):
    same, other = columns(similarity, CLAIM, SAME), columns(similarity, CLAIM, OTHER)
    assert same["best"] > 0.6 > 0.2 > other["best"]  # "downed" / "shot down", "frontier" / "border"
    # one sentence: best, best3, mean, first and centroid are the same number
    assert len({round(v, 6) for k, v in same.items() if k != "best_position"}) == 1 and same["best_position"] == 0.0


def test_a_negated_claim_and_a_quoted_counter_position_are_found_as_about_the_claim(similarity):
    # negation: the denial is about the same event, so it is the best sentence of its body; polarity is left to
    # the network (and pair_overlap's cue words), not to these columns
    negated = columns(similarity, CLAIM, f"{FILLER} {NEGATED} {OTHER}")
    assert negated["best"] > 0.5 and negated["best_position"] == 0.5  # the middle one of three sentences
    quoted = columns(similarity, CLAIM, f"{FILLER} {OTHER} {QUOTED}")
    assert quoted["best"] > 0.4 and quoted["best_position"] == 1.0
    assert quoted["first"] < 0.2 and quoted["best3"] < quoted["best"]
    assert quoted["mean"] == pytest.approx(quoted["best3"])  # three sentences: the best three are all of them
    unrelated = columns(similarity, CLAIM, f"{FILLER} {OTHER}")
    assert unrelated["best"] < 0.2 < negated["best"] - unrelated["best"]


def test_equal_texts_are_embedded_once_and_rows_follow_the_pairs(similarity, monkeypatch):
    seen: list[str] = []
    embed = similarity.embed

    def counting(texts):
        seen.extend(texts)
        return embed(texts)

    monkeypatch.setattr(similarity, "embed", counting)
    body = f"{FILLER} {NEGATED}"
    pairs = [(CLAIM, body), (CLAIM, OTHER), ("Markets rise", body)] * 10
    rows = similarity.transform(pairs)
    assert rows.shape == (30, len(COLUMNS)) and sorted(seen) == sorted([CLAIM, "Markets rise", FILLER, NEGATED, OTHER])
    assert np.array_equal(rows[:3], rows[27:]) and rows[0, 0] != rows[2, 0]
    alone = similarity.transform([("Markets rise", body)])[0]
    assert np.allclose(alone, rows[2], atol=1e-6)  # padding with other texts changes nothing beyond float noise


def test_an_empty_text_and_a_very_long_sentence_get_finite_columns(similarity):
    rows = similarity.transform([(CLAIM, ""), (CLAIM, "drone " * 400), ("", SAME)])
    assert np.isfinite(rows).all() and rows.shape == (3, len(COLUMNS))


def test_the_columns_feed_the_gate_and_the_network_and_load_without_torch(fitted, tmp_path):
    assert fitted.features_.pair_width == 3 + len(COLUMNS) and fitted.gate_.width == 3 + len(COLUMNS)
    assert fitted.score(X, Y) == 1.0
    save(fitted, tmp_path)
    assert sorted(p.name for p in (tmp_path / DIRECTORY).iterdir()) == ["model.onnx", "tokenizer.json"]
    spec = json.loads((tmp_path / SPEC_FILE).read_text())["sentence_similarity"]
    assert spec["encoder"] == ENCODER and spec["columns"] == list(COLUMNS)
    expected = fitted.predict_proba(X)
    assert np.array_equal(load(tmp_path).predict_proba(X), expected)
    probe = ("import json, sys\nsys.modules['torch'] = None; sys.modules['transformers'] = None\n"
             "from nlpkit.models.tfidf_mlp_arrays import load\n"
             f"print(json.dumps(load(sys.argv[1]).predict_proba({X!r}).tolist()))")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True)
    assert np.array_equal(np.array(json.loads(out.stdout)), expected)  # the same ONNX graph before and after saving


def test_a_predictor_with_the_columns_needs_the_onnx_extra_and_one_without_does_not():
    from nlpkit import package

    family = family_of("tfidf_mlp.v1")
    assert family.runtime_needs({"sentence_encoder": ENCODER}) == (("numpy", "scipy", "onnxruntime", "tokenizers"),
                                                                   "onnx")
    assert family.runtime_needs({"sentence_encoder": None}) == (("numpy", "scipy"), None)
    with_columns = {"model_kind": "tfidf_mlp.v1", "config": {"model": {"sentence_encoder": ENCODER}}}
    assert package.requirement({"a": with_columns}).startswith("nlpkit-conflict[onnx]>=")
    assert "[" not in package.requirement({"a": {"model_kind": "tfidf_mlp.v1", "config": {"model": {}}}})


def test_a_missing_encoder_file_is_refused_in_one_line(fitted, tmp_path):
    save(fitted, tmp_path)
    (tmp_path / DIRECTORY / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"lacks tokenizer\.json; expected .* Fix: copy the whole predictor") as err:
        load(tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", ["", "  ", 3])
def test_a_bad_encoder_setting_is_refused_before_anything_is_exported(value):
    with pytest.raises(ConfigError, match=r"model.sentence_encoder must be an encoder name or directory, or null; "
                                          r"got .* Fix: model.sentence_encoder=all-MiniLM-L6-v2"):
        build_model({"kind": "tfidf_mlp.v1", "sentence_encoder": value}).fit(X, Y)


def test_plain_texts_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"model.sentence_encoder='all-MiniLM-L6-v2' reads the text's sentences .* "
                                          r"Fix: model.sentence_encoder=null"):
        build_model({"kind": "tfidf_mlp.v1", "sentence_encoder": ENCODER}).fit([b for _, b in X], Y)


def test_an_unknown_encoder_directory_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"is neither an existing directory nor a hub name"):
        build_model({"kind": "tfidf_mlp.v1", "sentence_encoder": str(tmp_path / "no" / "such" / "dir")}).fit(X, Y)


def test_the_saved_spec_is_checked(fitted, tmp_path):
    save(fitted, tmp_path)
    path = tmp_path / SPEC_FILE
    spec = json.loads(path.read_text())
    spec["sentence_similarity"]["columns"] = ["best"]
    path.write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match="inconsistent TF-IDF \\+ MLP model"):
        load(tmp_path)


def test_a_logged_stance_model_with_the_columns_lists_what_its_predictor_needs(make_cfg):
    import mlflow

    from nlpkit.train import train

    result = train(make_cfg("task=stance", "model=tfidf_mlp", f"model.sentence_encoder={ENCODER}", "model.epochs=5",
                         "data.max_rows=160"))
    assert 0.0 <= result.metrics["test/macro_f1"] <= 1.0 and (result.predictor_dir / DIRECTORY / "model.onnx").is_file()
    mlflow.set_tracking_uri(result.tracking_uri)
    lines = Path(mlflow.pyfunc.get_model_dependencies(result.model_uri)).read_text().split()
    names = {line.split("==")[0].split(">=")[0] for line in lines}
    assert {"onnxruntime", "tokenizers", "numpy", "scipy"} <= names and "torch" not in names
