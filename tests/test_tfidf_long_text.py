"""The TF-IDF model's long-text rule: ``C=None`` is 10 on short training text and ``LONG_TEXT_C`` on long text
(more than ``AUTO_CHAR_LIMIT`` characters, the rule that also turns character n-grams off), recorded in
``fit_report_``; a model fitted on long text saves and loads as ``nlpkit-tfidf/2`` and predicts identically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL
from nlpkit import compose
from nlpkit.config import validate
from nlpkit.errors import ConfigError
from nlpkit.models import tfidf, tfidf_arrays
from nlpkit.models.tfidf import TfidfClassifier

TEXTS = ESCALATORY + DE_ESCALATORY
LABELS = ["escalatory"] * 4 + ["de_escalatory"] * 4


def articles(texts: list[str], characters: int) -> list[str]:
    """Each text repeated (words kept, sentences joined) until all together hold more than ``characters``."""
    copies = characters // sum(map(len, texts)) + 1
    return [" ".join([text] * copies) for text in texts]


def test_short_training_text_keeps_C_10_and_character_ngrams():
    model = TfidfClassifier().fit(TEXTS, LABELS)
    assert model.C_ == tfidf.SHORT_TEXT_C == 10.0 and model.classifier_.C == 10.0
    assert model.fit_report_ == {"char_ngrams": 1.0, "C": 10.0}


def test_long_training_text_switches_to_the_long_text_C():
    long_texts = articles(TEXTS, tfidf.AUTO_CHAR_LIMIT)
    assert sum(map(len, long_texts)) > tfidf.AUTO_CHAR_LIMIT
    model = TfidfClassifier().fit(long_texts, LABELS)
    assert model.C_ == tfidf.LONG_TEXT_C != tfidf.SHORT_TEXT_C and model.classifier_.C == tfidf.LONG_TEXT_C
    assert model.fit_report_ == {"char_ngrams": 0.0, "C": tfidf.LONG_TEXT_C}


def test_the_limit_itself_is_short_and_an_explicit_C_wins_on_either_side():
    at_limit = [TEXTS[0] * (tfidf.AUTO_CHAR_LIMIT // len(TEXTS[0]))]
    at_limit.append("x" * (tfidf.AUTO_CHAR_LIMIT - len(at_limit[0])))
    assert sum(map(len, at_limit)) == tfidf.AUTO_CHAR_LIMIT and not tfidf.long_texts(at_limit)
    assert tfidf.long_texts([*at_limit, "y"]) and tfidf.default_C([*at_limit, "y"]) == tfidf.LONG_TEXT_C
    long_texts = articles(TEXTS, tfidf.AUTO_CHAR_LIMIT)
    for X in (TEXTS, long_texts):
        model = TfidfClassifier(C=2.0, char_ngrams=False).fit(X, LABELS)
        assert model.C_ == 2.0 and model.classifier_.C == 2.0 and model.fit_report_["C"] == 2.0


def test_a_model_fitted_on_long_text_predicts_identically_after_loading(tmp_path):
    long_texts = articles(TEXTS, tfidf.AUTO_CHAR_LIMIT)
    model = TfidfClassifier().fit(long_texts, LABELS)
    tfidf_arrays.save(model, tmp_path)
    assert json.loads((tmp_path / "tfidf.json").read_text())["format"] == "nlpkit-tfidf/2"
    loaded = tfidf_arrays.load(tmp_path)
    probes = [*NEUTRAL, *TEXTS, "Shelling resumed as the talks collapsed", "talks", ""]
    np.testing.assert_array_equal(loaded.predict_proba(probes), model.predict_proba(probes))
    assert list(loaded.predict(probes)) == list(model.predict(probes))


def test_the_schema_shows_the_rule_and_rejects_a_bad_C():
    assert validate(compose([])).model.C is None
    assert validate(compose(["model=tfidf_svm"])).model.C == 0.5
    assert validate(compose(["model.C=null"])).model.C is None
    with pytest.raises(ConfigError, match=r"^model\.C must be a float > 0; got -3\.0\. Fix: e\.g\. model\.C=1\.0\.$"):
        validate(compose(["model.C=-3"]))
    with pytest.raises(ConfigError, match=r"model\.C must be a float > 0 or null .*; got 0\.0\. Fix: e\.g\. model\.C=1"):
        TfidfClassifier(C=0.0).fit(TEXTS, LABELS)
