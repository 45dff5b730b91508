"""The estimator contract, checked over every registered model family, on plain texts and on pairs."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, batch_tolerance, tiny_model_overrides, tunable_param
from nlpkit.config import model_schema
from nlpkit.errors import ConfigError, InputTypeError, ModelLoadError
from nlpkit.models import REGISTRY, build_model, family_of

TEXTS = ESCALATORY + DE_ESCALATORY + NEUTRAL
LABELS = ["escalatory"] * 4 + ["de_escalatory"] * 4 + ["neutral"] * 4
PAIRS = [("the truce", t) for t in TEXTS]


ENCODER_KINDS = {"embed_logreg.v1", "finetune.v1", "blend.v1"}


def make(kind: str):
    cfg = OmegaConf.merge(OmegaConf.structured(model_schema(kind)), {"kind": kind}, tiny_model_overrides(kind))
    return build_model(cfg, seed=0)


@pytest.fixture(params=sorted(REGISTRY))
def kind(request):
    if request.param in ENCODER_KINDS:  # tiny random encoders stand in for real ones (see conftest)
        pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")
    return request.param


@pytest.fixture(params=["texts", "pairs"])
def data(request):
    return (TEXTS if request.param == "texts" else PAIRS), LABELS


def test_params_clone_and_set_params(kind):
    model = make(kind)
    params = model.get_params()
    twin = clone(model)
    assert twin.get_params() == params and twin is not model
    name, _ = tunable_param(kind)
    twin.set_params(**{name: 0.25})
    assert twin.get_params()[name] == 0.25 and model.get_params()[name] == params[name]


def test_not_fitted_error(kind):
    with pytest.raises(NotFittedError):
        make(kind).predict(TEXTS[:2])


def test_fit_returns_self_and_learned_state_ends_in_underscore(kind, data):
    X, y = data
    model = make(kind)
    assert model.fit(X, y) is model
    assert list(model.classes_) == sorted(set(y))


def test_proba_rows_sum_to_one_and_columns_follow_classes(kind, data):
    X, y = data
    model = make(kind).fit(X, y)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(model.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(model.predict(X)) == list(model.classes_[proba.argmax(axis=1)])


def test_overfits_a_tiny_set(kind, data):
    X, y = data
    # Twice over: the SVM calibrates its probabilities by 3-fold cross-validation, which needs a few
    # examples per class and fold; four distinct texts per class are still learned exactly.
    model = make(kind).fit(X * 2, y * 2)
    assert list(model.predict(X)) == y


def test_save_load_gives_identical_predictions(kind, data, tmp_path):
    X, y = data
    model = make(kind).fit(X, y)
    family = family_of(kind)
    family.save(model, tmp_path)
    loaded = family.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_batch_equals_one_at_a_time(kind, data):
    X, y = data
    model = make(kind).fit(X, y)
    batch = model.predict_proba(X)
    single = np.vstack([model.predict_proba([x]) for x in X])
    np.testing.assert_allclose(batch, single, atol=batch_tolerance(kind))


def test_bare_string_is_rejected(kind):
    model = make(kind).fit(TEXTS, LABELS)
    with pytest.raises(InputTypeError, match="got a single string.*predict\\(\\[text\\]\\)"):
        model.predict("Artillery shelled the town")
    with pytest.raises(InputTypeError, match="got a single string"):
        make(kind).fit("one text", ["escalatory"])


def test_pairs_model_rejects_plain_texts(kind):
    model = make(kind).fit(PAIRS, LABELS)
    with pytest.raises(InputTypeError, match=r"Expected \(target, text\) pairs"):
        model.predict(TEXTS[:2])


def test_works_inside_pipeline_and_grid_search(kind):
    name, values = tunable_param(kind)
    grid = {f"clf__{name}": values}
    search = GridSearchCV(Pipeline([("clf", make(kind))]), grid, cv=2).fit(TEXTS * 2, LABELS * 2)
    assert search.best_params_[f"clf__{name}"] in values
    assert len(search.predict(TEXTS)) == len(TEXTS)


def test_invalid_hyper_parameter_message(kind):
    name, _ = tunable_param(kind)
    model = make(kind).set_params(**{name: -1.0})
    expected = r"a float in \[0, 1\]" if kind.startswith("blend") else "a float > 0"
    with pytest.raises(ConfigError, match=rf"model\.{name} must be {expected}.*; got -1\.0"):
        model.fit(TEXTS, LABELS)


def test_unknown_kind_lists_available():
    with pytest.raises(ConfigError, match=r"model\.kind must be one of \[.*'tfidf_logreg\.v1'.*\]; got 'tfidf_forest\.v1'"):
        build_model(OmegaConf.create({"kind": "tfidf_forest.v1"}))


class Smuggled:
    """A type from outside sklearn/numpy/nlpkit, which a loader must not instantiate."""


def test_loading_refuses_untrusted_types(tmp_path):
    import skops.io as sio

    from nlpkit.models import tfidf_io

    sio.dump({"model": Smuggled()}, tmp_path / tfidf_io.FILENAME)
    with pytest.raises(ModelLoadError, match="types nlpkit does not trust"):
        tfidf_io.load(tmp_path)
