"""TF-IDF predictors saved as plain arrays give scikit-learn's probabilities, bit for bit, without scikit-learn.

Each case fits a real ``TfidfClassifier`` (texts or (target, text) pairs; logistic regression or the calibrated
SVM; two or three classes), saves it with ``tfidf_arrays.save``, loads it back and compares ``predict_proba`` on
inputs chosen to exercise the analyzers: accents, words shorter than a character n-gram, runs of white space,
unseen words, a text with no known term at all.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from conftest import tiny_rows
from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import tfidf_arrays
from nlpkit.models.tfidf import TfidfClassifier

PROBES = ["Artillery shelled the border town overnight.", "Les négociateurs ont salué la trêve à Genève.",
          "a  b\t\tc \n I", "zzzz qqqq", "Ceasefire talks; troops   withdrew, shelling stopped!",
          "Ärger über Drohnenangriffe – the army mobilised reservists."]


def _data(classes: int, pairs: bool) -> tuple[list, list[str]]:
    rows = [r for r in tiny_rows() if classes == 3 or r["label"] != "neutral"]
    texts = [r["text"] for r in rows]
    return ([(r["target"], t) for r, t in zip(rows, texts)] if pairs else texts), [r["label"] for r in rows]


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("pairs", [False, True], ids=["texts", "pairs"])
@pytest.mark.parametrize("classifier", ["logreg", "svm"])
def test_arrays_give_scikit_learns_probabilities_exactly(tmp_path, classes, pairs, classifier):
    X, y = _data(classes, pairs)
    model = TfidfClassifier(classifier=classifier, ngram_max=3, min_df=1).fit(X, y)
    tfidf_arrays.save(model, tmp_path)
    loaded = tfidf_arrays.load(tmp_path)
    probes = [("the ceasefire", p) for p in PROBES] + X if pairs else PROBES + X
    expected = model.predict_proba(probes)
    got = loaded.predict_proba(probes)
    assert got.shape == (len(probes), classes) and list(loaded.classes_) == list(model.classes_)
    np.testing.assert_array_equal(got, expected)
    assert list(loaded.predict(probes)) == list(model.predict(probes))


def test_files_hold_only_json_and_plain_arrays(tmp_path):
    X, y = _data(3, True)
    tfidf_arrays.save(TfidfClassifier(classifier="svm").fit(X, y), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tfidf.json", "tfidf.npz"]
    with np.load(tmp_path / "tfidf.npz", allow_pickle=False) as arrays:
        kinds = {arrays[name].dtype.kind for name in arrays.files}
    assert kinds <= {"f", "U", "i", "u"}, kinds


def test_an_archive_that_unpacks_beyond_the_limit_is_refused(tmp_path, monkeypatch):
    X, y = _data(2, False)
    tfidf_arrays.save(TfidfClassifier(char_ngrams=False).fit(X, y), tmp_path)
    monkeypatch.setattr(tfidf_arrays, "MAX_ARRAYS_BYTES", 1000)
    with pytest.raises(ModelLoadError, match=r"tfidf\.npz would unpack to \d+ bytes; expected at most 1000"):
        tfidf_arrays.load(tmp_path)


def test_a_pickled_member_is_refused_without_being_read(tmp_path):
    X, y = _data(2, False)
    tfidf_arrays.save(TfidfClassifier(char_ngrams=False).fit(X, y), tmp_path)
    payload = io.BytesIO()
    np.save(payload, np.array([print], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "tfidf.npz", "a") as archive:
        archive.writestr("extra.npy", payload.getvalue())
    with pytest.raises(ModelLoadError, match=r"not a plain-array archive \(ValueError: Object arrays cannot be loaded"):
        tfidf_arrays.load(tmp_path)


def test_load_options_are_refused_in_one_line(tmp_path):
    X, y = _data(2, False)
    tfidf_arrays.save(TfidfClassifier(char_ngrams=False).fit(X, y), tmp_path)
    with pytest.raises(ConfigError, match=r"Load options \(runtime='onnx'\) apply to the encoder families .* Fix:"):
        tfidf_arrays.load(tmp_path, runtime="onnx")


def test_a_loaded_model_saves_back_to_the_same_files(tmp_path):
    X, y = _data(3, True)
    (tmp_path / "a").mkdir()
    tfidf_arrays.save(TfidfClassifier(classifier="svm").fit(X, y), tmp_path / "a")
    (tmp_path / "b").mkdir()
    tfidf_arrays.save(tfidf_arrays.load(tmp_path / "a"), tmp_path / "b")
    assert (tmp_path / "a" / "tfidf.json").read_bytes() == (tmp_path / "b" / "tfidf.json").read_bytes()
    np.testing.assert_array_equal(tfidf_arrays.load(tmp_path / "b").predict_proba(X),
                                  tfidf_arrays.load(tmp_path / "a").predict_proba(X))


def test_the_same_model_saves_to_the_same_bytes(tmp_path):
    X, y = _data(3, False)
    model = TfidfClassifier(classifier="svm").fit(X, y)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        tfidf_arrays.save(TfidfClassifier(classifier="svm").fit(X, y) if name == "b" else model, tmp_path / name)
    for file in ("tfidf.json", "tfidf.npz"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes(), file


def test_a_predictor_with_whitespace_character_ngrams_still_loads_and_predicts_the_same(tmp_path):
    """Predictors saved before the character n-grams moved to the word tokens (``char_wb`` 2-5-grams of
    whitespace-separated words) load and give their estimator's probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    from nlpkit.models.tfidf import NgramVectorizer

    X, y = _data(3, False)
    model = TfidfClassifier(min_df=1).fit(X, y)
    model.features_ = FeatureUnion([("word", NgramVectorizer(ngram_range=(1, 2))), (
        "char", NgramVectorizer(analyzer="char_wb", ngram_range=(2, 5), strip_accents=False))])
    model.classifier_ = LogisticRegression(C=10.0, max_iter=3000).fit(model.features_.fit_transform(X), y)
    tfidf_arrays.save(model, tmp_path)
    assert '"char_wb"' in (tmp_path / "tfidf.json").read_text()
    probes = PROBES + X
    np.testing.assert_array_equal(tfidf_arrays.load(tmp_path).predict_proba(probes), model.predict_proba(probes))
