"""The sentences of a body about its headline (nlpkit/models/claim_sentences.py) on small handmade pairs, and
``model.claim_sentences`` in tfidf_mlp.v1: the extra TF-IDF block, learning, plain-array save/load, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import build_model, family_of
from nlpkit.models.claim_sentences import CUE_COLUMNS, claim_cues, claim_sentences
from nlpkit.models.tfidf_mlp_arrays import SPEC_FILE
from test_benchmarks import bench_env  # noqa: F401  (the fake FNC-1 files and the harness's paths)
from test_tfidf_mlp import X, Y

BODY = ("Residents of Vrelnitsa woke to a loud blast on Tuesday. The weather was mild and the market opened as usual. "
        "Mayor Tsvilling said the quarry blast was not an accident, and denied the reports. "
        "Firefighters reached the quarry within the hour.")
HEADLINE = "Tsvilling confirms Vrelnitsa quarry blast"


def test_the_sentences_sharing_most_headline_words_are_chosen_in_text_order():
    one, two, three = claim_sentences([(HEADLINE, BODY)] * 3, 1)[0], *claim_sentences([(HEADLINE, BODY)], 2), \
        claim_sentences([(HEADLINE, BODY)], 3)[0]
    assert one == "Mayor Tsvilling said the quarry blast was not an accident, and denied the reports."
    assert two == ("Residents of Vrelnitsa woke to a loud blast on Tuesday. Mayor Tsvilling said the quarry blast was "
                   "not an accident, and denied the reports.")  # a tie on 2 words goes to the earlier sentence
    assert "weather" not in three and three.endswith("Firefighters reached the quarry within the hour.")


def test_an_unrelated_body_gives_no_sentence_and_stop_words_do_not_count():
    assert claim_sentences([("Bank robbers escape in Ohio", BODY)], 2) == [""]
    assert claim_sentences([("It was the", BODY)], 1) == [""]  # only stop words: nothing shared
    assert claim_sentences([("Quarry", "QUARRY closed!\nA quarry. No.")], 5) == ["QUARRY closed! A quarry."]


def test_the_row_of_the_claim_sentences_sits_beside_the_whole_bodys_row():
    model = build_model({"kind": "tfidf_mlp.v1", "epochs": 5, "claim_sentences": 1}).fit(X, Y)
    features, width = model.features_, model.features_.vectorizer.width
    assert features.width == 3 * width + 3
    rows = features.transform([(HEADLINE, BODY), ("Bank robbers escape in Ohio", BODY)]).toarray()
    claim = features.vectorizer.transform(["Mayor Tsvilling said the quarry blast was not an accident, and denied "
                                           "the reports."]).toarray()[0]
    np.testing.assert_array_equal(rows[0, 2 * width:3 * width], claim)
    np.testing.assert_array_equal(rows[0, width:2 * width], features.vectorizer.transform([BODY]).toarray()[0])
    assert not rows[1, 2 * width:3 * width].any()  # no sentence about the headline: an empty row


def test_the_model_learns_with_claim_sentences_and_loads_to_identical_predictions(tmp_path: Path):
    params = {"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, "gate_label": "unrelated",
              "pair_overlap": True, "claim_sentences": 2}
    model = build_model(params).fit(X, Y)
    assert list(model.predict(X)) == Y
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    assert json.loads((tmp_path / SPEC_FILE).read_text())["claim_sentences"] == 2
    loaded = family_of("tfidf_mlp.v1").load(tmp_path)
    new = [(HEADLINE, BODY), ("Police deny the Vrelnitsa blast", BODY)]
    np.testing.assert_array_equal(loaded.predict_proba(X + new), model.predict_proba(X + new))
    assert loaded.features_.width == model.features_.width


def test_claim_sentences_need_pairs_and_a_count():
    with pytest.raises(ConfigError, match=r"model.claim_sentences=2 .* needs \(target, text\) pairs; got plain texts. "
                                          "Fix: model.claim_sentences=0"):
        build_model({"kind": "tfidf_mlp.v1", "claim_sentences": 2}).fit([b for _, b in X], Y)
    with pytest.raises(ConfigError, match=r"model.claim_sentences must be an integer >= 0 \(0: none\); got -1. Fix: "):
        build_model({"kind": "tfidf_mlp.v1", "claim_sentences": -1}).fit(X, Y)


def test_class_balance_weighs_rare_labels_more_and_changes_only_the_training():
    from nlpkit.models.tfidf_mlp import balance_weights

    labels = np.array(["discuss"] * 6 + ["agree"] * 3 + ["disagree"])
    assert balance_weights(labels, 0.0) is None
    full = balance_weights(labels, 1.0)
    assert full is not None and full.mean() == pytest.approx(1.0)
    totals = {label: full[labels == label].sum() for label in ("discuss", "agree", "disagree")}
    assert totals["discuss"] == pytest.approx(totals["agree"]) == pytest.approx(totals["disagree"])
    half = balance_weights(labels, 0.5)
    assert half is not None and half[-1] / half[0] == pytest.approx(6 ** 0.5)
    params = {"kind": "tfidf_mlp.v1", "epochs": 20, "learning_rate": 1e-2}
    plain = build_model(params).fit(X[:7], Y[:7])  # unrelated once, the other labels twice
    balanced = build_model({**params, "class_balance": 1.0}).fit(X[:7], Y[:7])
    assert not np.array_equal(plain.network_.output_weights, balanced.network_.output_weights)
    even = build_model({**params, "class_balance": 1.0}).fit(X, Y)  # two of each label: every weight is 1
    np.testing.assert_array_equal(even.network_.output_weights, build_model(params).fit(X, Y).network_.output_weights)
    with pytest.raises(ConfigError, match=r"model.class_balance must be a float >= 0; got -0.5. Fix: "):
        build_model({**params, "class_balance": -0.5}).fit(X, Y)


def cues(headline: str, body: str) -> dict[str, float]:
    """The named claim-cue values of one pair."""
    return dict(zip(CUE_COLUMNS, claim_cues([(headline, body)])[0]))


def test_cues_of_the_best_sentence_only_negation_polarity_and_a_quoted_denial():
    denial = cues(HEADLINE, BODY)  # best: "Mayor Tsvilling said the quarry blast was not an accident, and denied ..."
    assert denial["log_refuting_best"] == pytest.approx(np.log(2)) and denial["log_negation_best"] == pytest.approx(np.log(2))
    assert denial["same_polarity_best"] == 0.0 and denial["position_best"] == pytest.approx(2 / 3)
    negated = cues("Tsvilling says quarry blast was not an accident", BODY)
    assert negated["same_polarity_best"] == 1.0  # both negated
    quoted = cues("Quarry blast at Vrelnitsa", 'Weather was mild. "The quarry blast at Vrelnitsa is a hoax," he said.')
    assert quoted["quoted_best"] == 1.0 and quoted["log_refuting_best"] == pytest.approx(np.log(2))
    assert quoted["position_best"] == 1.0 and quoted["log_hedging_best"] == 0.0
    hedged = cues("Quarry blast at Vrelnitsa", "Did the quarry at Vrelnitsa reportedly explode? The mayor confirmed a fire.")
    assert hedged["question_best"] == 1.0 and hedged["log_hedging_best"] == pytest.approx(np.log(2))
    assert hedged["log_asserting_best"] == 0.0  # "confirmed" is in a sentence without the headline's words
    assert not claim_cues([("Bank robbers escape in Ohio", BODY)]).any()  # no sentence about the headline


def test_the_model_learns_with_claim_cues_before_the_gates_columns_and_loads_identically(tmp_path: Path):
    params = {"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, "gate_label": "unrelated",
              "pair_overlap": True, "claim_cues": True}
    model = build_model(params).fit(X, Y)
    features = model.features_
    assert features.width == 2 * features.vectorizer.width + len(CUE_COLUMNS) + features.pair_width
    rows = features.transform([(HEADLINE, BODY)]).toarray()[0]
    start = 2 * features.vectorizer.width
    np.testing.assert_array_equal(rows[start:start + len(CUE_COLUMNS)], claim_cues([(HEADLINE, BODY)])[0])
    assert model.gate_.width == features.pair_width and list(model.predict(X)) == Y
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    loaded = family_of("tfidf_mlp.v1").load(tmp_path)
    new = [(HEADLINE, BODY), ("Police deny the Vrelnitsa blast", BODY)]
    np.testing.assert_array_equal(loaded.predict_proba(X + new), model.predict_proba(X + new))
    spec = json.loads((tmp_path / SPEC_FILE).read_text())
    (tmp_path / SPEC_FILE).write_text(json.dumps({**spec, "claim_cues": list(CUE_COLUMNS)[:-1]}))
    with pytest.raises(ModelLoadError, match="inconsistent TF-IDF \\+ MLP model .*claim cue columns"):
        family_of("tfidf_mlp.v1").load(tmp_path)
    with pytest.raises(ConfigError, match=r"model.claim_cues=True .* Fix: model.claim_cues=false"):
        build_model({"kind": "tfidf_mlp.v1", "claim_cues": True}).fit([b for _, b in X], Y)


def test_fnc1_validation_takes_a_model_seed_and_the_fourth_rounds_options(bench_env: Path,  # noqa: F811
                                                                          capsys: pytest.CaptureFixture[str]):
    from experiments.stance.fnc1_validation import main

    main(["--split", "story", "--model-seed", "1", "--param", "claim_cues=true", "--param", "claim_sentences=2"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["model_seed"] == 1 and row["params"]["claim_cues"] is True and row["params"]["claim_sentences"] == 2
    assert row["n_validation"] == 4 and 0.0 <= row["fnc_score"] <= 1.0
