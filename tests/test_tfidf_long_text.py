"""The TF-IDF model's long-text rule: ``ngram_max=None`` is word 1-2-grams on short training text and
``LONG_TEXT_NGRAM_MAX`` (1-3-grams) on long text (more than ``AUTO_CHAR_LIMIT`` characters, the rule that also
turns character n-grams off), recorded in ``fit_report_``; a model fitted on long text saves and loads as
``nlpkit-tfidf/2`` and predicts identically."""

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
    """Each text repeated until all together hold more than ``characters``."""
    copies = characters // sum(map(len, texts)) + 1
    return [" ".join([text] * copies) for text in texts]


def word_ngram_lengths(model: TfidfClassifier) -> set[int]:
    """The lengths (in words) of the word block's n-grams."""
    word = dict(model.features_.transformer_list)["word"]
    return {len(term.split()) for term in word.get_feature_names_out()}


def test_short_training_text_keeps_word_bigrams_and_character_ngrams():
    model = TfidfClassifier(min_df=1).fit(TEXTS, LABELS)  # min_df=1: every bigram is kept where there are any
    assert model.ngram_max_ == tfidf.SHORT_TEXT_NGRAM_MAX == 2 and word_ngram_lengths(model) == {1, 2}
    assert [name for name, _ in model.features_.transformer_list] == ["word", "char"]
    assert model.fit_report_ == {"char_ngrams": 1.0, "ngram_max": 2.0}


def test_long_training_text_switches_to_the_long_text_ngram_max():
    long_texts = articles(TEXTS, tfidf.AUTO_CHAR_LIMIT)
    assert sum(map(len, long_texts)) > tfidf.AUTO_CHAR_LIMIT
    model = TfidfClassifier(min_df=1).fit(long_texts, LABELS)
    long_range = set(range(1, tfidf.LONG_TEXT_NGRAM_MAX + 1))
    assert tfidf.LONG_TEXT_NGRAM_MAX != tfidf.SHORT_TEXT_NGRAM_MAX
    assert model.ngram_max_ == tfidf.LONG_TEXT_NGRAM_MAX and word_ngram_lengths(model) == long_range
    assert [name for name, _ in model.features_.transformer_list] == ["word"]
    assert model.fit_report_ == {"char_ngrams": 0.0, "ngram_max": float(tfidf.LONG_TEXT_NGRAM_MAX)}


def test_the_limit_itself_is_short_and_an_explicit_ngram_max_wins_on_either_side():
    at_limit = [TEXTS[0] * (tfidf.AUTO_CHAR_LIMIT // len(TEXTS[0]))]
    at_limit.append("x" * (tfidf.AUTO_CHAR_LIMIT - len(at_limit[0])))
    assert sum(map(len, at_limit)) == tfidf.AUTO_CHAR_LIMIT and tfidf.default_ngram_max(at_limit) == 2
    assert tfidf.default_ngram_max([*at_limit, "y"]) == tfidf.LONG_TEXT_NGRAM_MAX and not tfidf.use_char_ngrams([*at_limit, "y"])
    for X, n in ((TEXTS, 3), (articles(TEXTS, tfidf.AUTO_CHAR_LIMIT), tfidf.SHORT_TEXT_NGRAM_MAX)):
        model = TfidfClassifier(ngram_max=n, char_ngrams=False, min_df=1).fit(X, LABELS)
        assert model.ngram_max_ == n and word_ngram_lengths(model) == set(range(1, n + 1))
        assert model.fit_report_["ngram_max"] == n


def test_a_model_fitted_on_long_text_predicts_identically_after_loading(tmp_path):
    model = TfidfClassifier().fit(articles(TEXTS, tfidf.AUTO_CHAR_LIMIT), LABELS)
    tfidf_arrays.save(model, tmp_path)
    spec = json.loads((tmp_path / "tfidf.json").read_text())
    assert spec["format"] == "nlpkit-tfidf/2" and [b["ngram_range"] for b in spec["blocks"]] == [[1, tfidf.LONG_TEXT_NGRAM_MAX]]
    loaded = tfidf_arrays.load(tmp_path)
    probes = [*NEUTRAL, *TEXTS, "Shelling resumed as the talks collapsed", "talks", ""]
    np.testing.assert_array_equal(loaded.predict_proba(probes), model.predict_proba(probes))
    assert list(loaded.predict(probes)) == list(model.predict(probes))


def test_the_schema_shows_the_rule_and_rejects_a_bad_ngram_max():
    assert validate(compose([])).model.ngram_max is None
    assert validate(compose(["model.ngram_max=3"])).model.ngram_max == 3
    with pytest.raises(ConfigError, match=r"^model\.ngram_max must be an integer in \[1, 5\] or null; got 0\. Fix: "):
        validate(compose(["model.ngram_max=0"]))
