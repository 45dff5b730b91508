"""Vocabulary-free pair features (nlpkit/models/pair_overlap.py) on small handmade (headline, body) pairs, and
``model.pair_overlap`` in tfidf_mlp.v1: learning, plain-array save/load, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import build_model, family_of
from nlpkit.models.pair_overlap import COLUMNS, PairOverlap
from nlpkit.models.tfidf_mlp_arrays import SPEC_FILE
from test_tfidf_mlp import PAIRS, X, Y

BODY_QUARRY = ("Residents of Vrelnitsa woke to a loud blast on Tuesday. Mayor Obradek Tsvilling said the quarry "
               "at Vrelnitsa had exploded. Firefighters reached the site within the hour.")


def features(headline: str, body: str) -> dict[str, float]:
    """The named feature values of one pair."""
    return dict(zip(COLUMNS, PairOverlap().transform([(headline, body)])[0]))


def test_an_unseen_name_shared_by_headline_and_body_counts_where_a_trained_vocabulary_sees_nothing():
    headline = "Tsvilling confirms Vrelnitsa quarry blast"
    shared = features(headline, BODY_QUARRY)
    other = features(headline, "Two men robbed a bank in Ohio and escaped in a stolen van on Tuesday.")
    assert shared["share_text"] == 0.8 and other["share_text"] == 0.0  # 4 of 5: not "confirms"
    assert shared["log_names"] == pytest.approx(np.log1p(2))  # Tsvilling, Vrelnitsa: capitalised mid-sentence
    assert shared["share_char4"] > other["share_char4"] and shared["share_best_sentence"] >= 0.5
    # the TF-IDF family's own similarities: its vocabulary (fitted on the handmade pairs) has none of these words
    model = build_model({"kind": "tfidf_mlp.v1", "epochs": 5}).fit(X, Y)
    similarities = model.features_.transform([(headline, BODY_QUARRY)]).toarray()[0, -3:]
    assert similarities[0] == 0.0 and similarities[2] == 0.0


def test_numbers_bigrams_and_inflections_are_matched():
    body = "At least 43 students disappeared after the police clash, officials said. Mass graves were found."
    row = features("Mass graves found where 43 students disappeared", body)
    assert row["log_numbers"] == pytest.approx(np.log1p(1))
    assert row["share_bigrams"] > 0.5  # (mass, graves), (students, disappeared)
    assert features("Student disappearance", body)["share_prefix5"] == 1.0  # stude-, disap-
    assert features("Student disappearance", body)["share_text"] == 0.0


def test_a_refuting_word_counts_near_the_headline_words_only():
    headline = "Vrelnitsa quarry exploded"
    near = features(headline, "The mayor called the Vrelnitsa quarry story a hoax. The weather was fine.")
    far = features(headline, "The Vrelnitsa quarry is large. Elsewhere, a separate story was a hoax.")
    assert near["log_refuting_near"] == pytest.approx(np.log1p(1)) and far["log_refuting_near"] == 0.0
    assert features("Quarry blast was a hoax, mayor denies", BODY_QUARRY)["log_refuting_target"] == pytest.approx(
        np.log1p(2))


def test_negation_in_headline_and_near_sentences_including_contractions():
    body = "The quarry at Vrelnitsa did not explode. The mayor didn't comment. Police never came to the quarry."
    row = features("Vrelnitsa quarry didn't explode", body)
    assert row["log_negation_target"] == pytest.approx(np.log1p(1))
    assert row["log_negation_near"] == pytest.approx(np.log1p(2))  # "not" and "never" share quarry; "didn't" does not
    assert features("Vrelnitsa quarry exploded", BODY_QUARRY)["log_negation_near"] == 0.0


def test_a_quoted_counter_position_is_told_from_a_plain_report():
    headline = "Vrelnitsa quarry exploded"
    quoted = features(headline, 'Residents heard a noise. "The quarry never exploded," the Vrelnitsa mayor said.')
    plain = features(headline, "Residents heard a noise. The Vrelnitsa mayor said the quarry had exploded.")
    reported = features(headline, 'Residents heard a noise. "The quarry exploded at dawn," the Vrelnitsa mayor said.')
    assert quoted["log_quoted_counter"] > 0 and plain["log_quoted_counter"] == 0.0
    assert reported["log_quoted_counter"] == 0.0  # a quote that does not refute or negate


def test_hedging_and_a_question_mark_in_the_headline():
    row = features("Did a quarry reportedly explode in Vrelnitsa?", BODY_QUARRY)
    assert row["log_hedging_target"] == pytest.approx(np.log1p(1)) and row["question_target"] == 1.0


def test_rows_do_not_depend_on_the_batch():
    pairs = X + [("Tsvilling confirms Vrelnitsa quarry blast", BODY_QUARRY)]
    batch = PairOverlap().transform(pairs)
    np.testing.assert_array_equal(batch, np.vstack([PairOverlap().transform([p]) for p in pairs]))
    assert batch.shape == (len(pairs), len(COLUMNS)) and np.isfinite(batch).all()
    assert PairOverlap().transform([]).shape == (0, len(COLUMNS))


def test_the_model_learns_with_the_overlap_features_and_loads_to_identical_predictions(tmp_path: Path):
    params = {"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, "gate_label": "unrelated",
              "pair_overlap": True}
    model = build_model(params).fit(X, Y)
    assert model.features_.width == 2 * model.features_.vectorizer.width + 3 + len(COLUMNS)
    assert model.gate_.coef.shape == (3 + len(COLUMNS),) and list(model.predict(X)) == Y
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    assert json.loads((tmp_path / SPEC_FILE).read_text())["pair_overlap"]["columns"] == list(COLUMNS)
    loaded = family_of("tfidf_mlp.v1").load(tmp_path)
    new = [("Tsvilling confirms Vrelnitsa quarry blast", BODY_QUARRY), ("Police deny the Lima meteorite", PAIRS[0][1])]
    np.testing.assert_array_equal(loaded.predict_proba(X + new), model.predict_proba(X + new))


def test_overlap_needs_pairs_and_an_unknown_feature_list_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"model.pair_overlap=true .* needs \(target, text\) pairs; got plain texts. "
                                          "Fix: model.pair_overlap=false"):
        build_model({"kind": "tfidf_mlp.v1", "pair_overlap": True}).fit([b for _, b in X], Y)
    model = build_model({"kind": "tfidf_mlp.v1", "epochs": 5, "pair_overlap": True}).fit(X, Y)
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    spec = json.loads((tmp_path / SPEC_FILE).read_text())
    spec["pair_overlap"]["columns"] = spec["pair_overlap"]["columns"][:-1]
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match="inconsistent TF-IDF \\+ MLP model .*pair features"):
        family_of("tfidf_mlp.v1").load(tmp_path)


def test_a_hidden_layer_gate_decides_unrelated_and_loads_to_identical_predictions(tmp_path: Path):
    params = {"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, "gate_label": "unrelated",
              "pair_overlap": True, "gate_hidden_units": 8}
    model = build_model(params).fit(X, Y)
    assert model.gate_.hidden.hidden_weights.shape == (3 + len(COLUMNS), 8)
    gate = model.gate_.proba(model.features_.transform(X))
    assert gate[[3, 7]].min() > gate[[0, 1, 2, 4, 5, 6]].max()  # the two unrelated pairs
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    new = [("Tsvilling confirms Vrelnitsa quarry blast", BODY_QUARRY)]
    np.testing.assert_array_equal(family_of("tfidf_mlp.v1").load(tmp_path).predict_proba(X + new),
                                  model.predict_proba(X + new))
    with pytest.raises(ConfigError, match="model.gate_hidden_units must be an integer >= 0 .*got -1. Fix: "):
        build_model({**params, "gate_hidden_units": -1}).fit(X, Y)


def test_an_ensemble_of_networks_averages_them_and_loads_to_identical_predictions(tmp_path: Path):
    params = {"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, "gate_label": "unrelated",
              "pair_overlap": True}
    model = build_model({**params, "n_networks": 3}).fit(X, Y)
    members = model.network_.members
    assert len(members) == 3 and not np.array_equal(members[0].hidden_weights, members[1].hidden_weights)
    rows = model.features_.transform(X)
    np.testing.assert_allclose(model.network_.proba(rows), np.mean([m.proba(rows) for m in members], axis=0))
    single = build_model(params).fit(X, Y)  # the first member is the one-network model of the same seed
    np.testing.assert_array_equal(members[0].hidden_weights, single.network_.hidden_weights)
    assert list(model.predict(X)) == Y
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    assert json.loads((tmp_path / SPEC_FILE).read_text())["networks"] == 3
    new = [("Tsvilling confirms Vrelnitsa quarry blast", BODY_QUARRY)]
    np.testing.assert_array_equal(family_of("tfidf_mlp.v1").load(tmp_path).predict_proba(X + new),
                                  model.predict_proba(X + new))
