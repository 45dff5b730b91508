"""nlpkit's array n-gram engine gives scikit-learn's TfidfVectorizer features, column for column.

The texts exercise what the analyzers care about: punctuation between words, accents (composed and combining),
non-Latin scripts, astral characters, underscores and digits, one-letter words, runs of white space, empty
texts, and a document holding the engine's own separator character.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from nlpkit.models import ngrams
from nlpkit.models.ngram_tfidf import NgramTfidf

TEXTS = [
    "The U.S. struck Iran-backed militias; Iran's ministry said: the wrong path!",
    "Café naïve résumé — ÉLAN déjà vu, cafe\u0301 decomposed",
    "a b c  d", "", "x", "Über  straße\tфото\n\n日本語 テキスト",
    "war, peace war peace WAR peace", "_under_score 12 345 a1 snake_case", "𝒜𝒷𝒸 emoji 😀 ok ok",
    "talks talks talks to de-escalate", "   leading and trailing   ",
]


def sklearn_vs_ours(analyzer: str, ngram_range: tuple[int, int], strip: bool, docs: list[str], **extra):
    sk = TfidfVectorizer(analyzer=analyzer, ngram_range=ngram_range, sublinear_tf=True,
                         strip_accents="unicode" if strip else None, **extra)
    expected = sk.fit_transform(docs).toarray()
    stop = sorted(ENGLISH_STOP_WORDS) if extra.get("stop_words") == "english" else None
    ours = NgramTfidf(analyzer=analyzer, ngram_range=ngram_range, strip_accents=strip, stop_words=stop,
                      min_df=extra.get("min_df", 1)).fit(docs)
    return sk.vocabulary_, expected, ours


@pytest.mark.parametrize("analyzer, ngram_range, strip", [
    ("word", (1, 2), True), ("word", (1, 3), False), ("word", (2, 2), True),
    ("char_wb", (2, 5), False), ("char_wb", (1, 3), True),
])
def test_features_equal_scikit_learns(analyzer, ngram_range, strip):
    vocabulary, expected, ours = sklearn_vs_ours(analyzer, ngram_range, strip, TEXTS)
    assert sorted(ours.terms_.tolist()) == sorted(vocabulary)
    columns = [vocabulary[term] for term in ours.terms_.tolist()]
    np.testing.assert_allclose(ours.transform(TEXTS).toarray(), expected[:, columns], rtol=0, atol=1e-12)


def test_stop_words_and_min_df_prune_as_scikit_learn_does():
    docs = TEXTS * 2 + ["the war and the peace", "only here once"]
    vocabulary, expected, ours = sklearn_vs_ours("word", (1, 2), True, docs, stop_words="english", min_df=3)
    assert sorted(ours.terms_.tolist()) == sorted(vocabulary)
    columns = [vocabulary[term] for term in ours.terms_.tolist()]
    np.testing.assert_allclose(ours.transform(docs).toarray(), expected[:, columns], rtol=0, atol=1e-12)


def test_unseen_text_gets_only_known_ngrams_and_an_empty_text_a_zero_row():
    ours = NgramTfidf(ngram_range=(1, 2)).fit(["peace talks resume", "strikes resume"])
    X = ours.transform(["talks resume after strikes", "", "nothing known here"]).toarray()
    terms = ours.terms_.tolist()
    assert {terms[i] for i in np.flatnonzero(X[0])} == {"talks", "resume", "talks resume", "strikes"}
    assert not X[1].any() and not X[2].any()
    assert np.isclose(np.linalg.norm(X[0]), 1.0)


def test_max_features_keeps_the_most_frequent():
    ours = NgramTfidf(ngram_range=(1, 1), max_features=2).fit(["a1 a1 a1 b2 b2 c3", "a1 b2 d4"])
    assert sorted(ours.terms_.tolist()) == ["a1", "b2"]


def test_the_separator_inside_a_document_does_not_split_it():
    ours = NgramTfidf(ngram_range=(1, 2)).fit(["left\x00right", "other"])
    assert ours.transform(["left\x00right", "other"]).shape == (2, ours.width)
    assert "left right" in ours.terms_.tolist()


def test_saved_state_round_trips_and_wrong_arrays_are_refused():
    fitted = NgramTfidf(analyzer="char_wb", ngram_range=(2, 4)).fit(TEXTS)
    again = NgramTfidf.from_saved(fitted.spec(), fitted.arrays())
    np.testing.assert_array_equal(again.transform(TEXTS).toarray(), fitted.transform(TEXTS).toarray())
    with pytest.raises(ValueError, match="not sorted"):
        NgramTfidf.from_saved(fitted.spec(), {**fitted.arrays(), "keys": fitted.keys_[::-1].copy()})
    with pytest.raises(ValueError, match="engine"):
        NgramTfidf.from_saved({**fitted.spec(), "engine": "other/9"}, fitted.arrays())


def test_key_index_finds_every_key_and_only_those():
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**63, size=5000, dtype=np.int64).astype(np.uint64))
    keys = np.concatenate([[np.uint64(0)], keys])  # a key 0 too (the empty-slot marker)
    index = ngrams.KeyIndex(keys)
    np.testing.assert_array_equal(index.lookup(keys), np.arange(len(keys)))
    others = rng.integers(2**63, 2**64 - 1, size=1000, dtype=np.uint64)
    assert (index.lookup(others) == -1).all()


def test_fit_transform_equals_fit_then_transform():
    for analyzer, ngram_range in (("word", (1, 2)), ("char_wb", (2, 5)), ("char_tokens", (4, 5))):
        once = NgramTfidf(analyzer=analyzer, ngram_range=ngram_range)
        X = once.fit_transform(TEXTS)
        again = NgramTfidf(analyzer=analyzer, ngram_range=ngram_range).fit(TEXTS)
        np.testing.assert_array_equal(X.toarray(), again.transform(TEXTS).toarray())
        np.testing.assert_array_equal(once.keys_, again.keys_)


def test_unseen_words_give_scikit_learns_character_ngrams_too():
    """Prediction takes seen words' character n-grams from the fitted cache and computes the others."""
    train, new = TEXTS[:6], ["Brand-new wörds: militias strike again", "ok", "", "talks talks unseen_token"]
    sk = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit(train)
    ours = NgramTfidf(analyzer="char_wb", ngram_range=(2, 5), strip_accents=False).fit(train)
    assert ours.word_rows_ is not None and ours.word_rows_.shape[0] == len({w for t in train for w in t.lower().split()})
    columns = [sk.vocabulary_[term] for term in ours.terms_.tolist()]
    np.testing.assert_allclose(ours.transform(new).toarray(), sk.transform(new).toarray()[:, columns], atol=1e-12)
    saved = NgramTfidf.from_saved(ours.spec(), ours.arrays())
    np.testing.assert_array_equal(saved.transform(new).toarray(), ours.transform(new).toarray())
    broken = {**ours.arrays(), "word_indices": ours.arrays()["word_indices"] + ours.width}
    with pytest.raises(ValueError, match="cached word rows"):
        NgramTfidf.from_saved(ours.spec(), broken)


def test_character_ngrams_follow_the_amount_of_training_text():
    from nlpkit.models import tfidf
    from nlpkit.models.tfidf import TfidfClassifier

    texts = ["peace talks resume in the capital", "militias strike the base again"] * 4
    labels = ["de_escalatory", "escalatory"] * 4
    short = TfidfClassifier().fit(texts, labels)
    assert short.char_ngrams_ and short.fit_report_ == {"char_ngrams": 1.0, "ngram_max": 2.0}
    assert [name for name, _ in short.features_.transformer_list] == ["word", "char"]
    long_texts = [t + " " + "x" * (tfidf.AUTO_CHAR_LIMIT // len(texts)) for t in texts]
    assert not TfidfClassifier().fit(long_texts, labels).char_ngrams_
    assert not TfidfClassifier(char_ngrams=False).fit(texts, labels).char_ngrams_
    assert TfidfClassifier(char_ngrams=True).fit(long_texts[:2], labels[:2]).char_ngrams_


@pytest.mark.parametrize("analyzer, ngram_range", [("word", (1, 2)), ("char_wb", (2, 4)), ("char_tokens", (3, 5))])
def test_fitting_in_chunks_gives_the_same_vectorizer(monkeypatch, analyzer, ngram_range):
    """Large corpora are analysed in chunks (bounded memory); the result must not depend on the chunking."""
    from nlpkit.models import ngram_tfidf

    docs = TEXTS * 3 + ["peace talks resume", "militias strike again", "the talks resume again"]
    whole = NgramTfidf(analyzer=analyzer, ngram_range=ngram_range, min_df=2, max_features=40).fit(docs)
    monkeypatch.setattr(ngram_tfidf, "CHUNK_CHARS", 50)  # many chunks of a few documents
    chunked = NgramTfidf(analyzer=analyzer, ngram_range=ngram_range, min_df=2, max_features=40)
    X = chunked.fit_transform(docs)
    np.testing.assert_array_equal(chunked.keys_, whole.keys_)
    np.testing.assert_array_equal(chunked.idf_, whole.idf_)
    assert chunked.terms_.tolist() == whole.terms_.tolist()
    np.testing.assert_allclose(X.toarray(), whole.transform(docs).toarray(), rtol=0, atol=1e-12)


def test_a_vocabulary_left_empty_by_min_df_is_one_clear_line():
    from nlpkit.errors import DataError

    with pytest.raises(DataError, match=r"^TF-IDF needs word n-grams that occur in at least min_df=2 training "
                                        r"documents; .* Fix: model\.min_df=1, or give more"):
        NgramTfidf(min_df=2).fit(["alpha beta", "gamma delta"])


def test_the_token_regex_finds_scikit_learns_tokens():
    """``TOKEN`` (``\\w\\w+``) finds what scikit-learn's ``(?u)\\b\\w\\w+\\b`` finds, on the texts and their edges."""
    import re

    pattern = re.compile(TfidfVectorizer().token_pattern)
    for text in TEXTS + ["a bc d ef_g h1 ij-k l", "x", "éa ñ xy", "__ _a b_ 9 99"]:
        assert ngrams.TOKEN.findall(text) == pattern.findall(text), text


@pytest.mark.parametrize("ngram_range", [(4, 5), (2, 5)])
def test_character_ngrams_of_tokens_are_char_wb_ngrams_of_the_word_analyzers_tokens(ngram_range):
    """``char_tokens`` = scikit-learn's ``char_wb`` n-grams of the words its word analyzer finds (lower-cased,
    accents stripped), fitted and applied to unseen text (seen words from the cache, new ones computed)."""
    words = TfidfVectorizer(strip_accents="unicode").build_analyzer()
    as_tokens = [" ".join(words(doc)) for doc in TEXTS]
    sk = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True, lowercase=False)
    expected = sk.fit_transform(as_tokens[:8]).toarray()
    ours = NgramTfidf(analyzer="char_tokens", ngram_range=ngram_range).fit(TEXTS[:8])
    assert sorted(ours.terms_.tolist()) == sorted(sk.vocabulary_)
    columns = [sk.vocabulary_[term] for term in ours.terms_.tolist()]
    np.testing.assert_allclose(ours.transform(TEXTS[:8]).toarray(), expected[:, columns], rtol=0, atol=1e-12)
    unseen = sk.transform(as_tokens[8:]).toarray()[:, columns]
    np.testing.assert_allclose(ours.transform(TEXTS[8:]).toarray(), unseen, rtol=0, atol=1e-12)
    again = NgramTfidf.from_saved(ours.spec(), ours.arrays())
    np.testing.assert_array_equal(again.transform(TEXTS).toarray(), ours.transform(TEXTS).toarray())


def test_vectorizers_of_one_input_share_its_tokens_and_get_the_same_features():
    word = NgramTfidf(ngram_range=(1, 2)).fit(TEXTS)
    char = NgramTfidf(analyzer="char_tokens", ngram_range=(4, 5)).fit(TEXTS)
    other = NgramTfidf(ngram_range=(1, 1), strip_accents=False).fit(TEXTS)
    shared: dict = {}
    together = [v.transform(TEXTS, shared) for v in (word, char, other)]
    assert len(shared) == 2  # one tokenisation per (lowercase, strip_accents) setting
    for vectorizer, X in zip((word, char, other), together):
        np.testing.assert_array_equal(X.toarray(), vectorizer.transform(TEXTS).toarray())
