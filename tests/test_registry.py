"""The model registry: one entry per kind, the schema as the one source of defaults, and a new family added by
one module plus one YAML (here: a toy family defined in this file and a YAML written by the test)."""

from __future__ import annotations

import dataclasses
import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from conftest import file_overrides, tiny_rows, write_jsonl
from nlpkit.config import compose, config_dir, validate
from nlpkit.errors import ConfigError
from nlpkit.models import REGISTRY, Family, ModelConfig, build_model, family_of, register, unregister
from nlpkit.models.base import Classifier, ModelMixin, check_texts

# ---- the toy family: everything it needs is in this block (and the YAML the fixture writes) -------------------


@dataclass
class ToyConfig(ModelConfig):
    kind: str = "toy_centroid.v1"
    smoothing: float = 1.0  # added to every word count


class ToyCentroid(ModelMixin, ClassifierMixin, BaseEstimator):
    """Nearest class centroid over word counts (a family nlpkit does not ship)."""

    def __init__(self, *, smoothing: float = 1.0, random_state: int = 0) -> None:
        self.smoothing = smoothing
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> ToyCentroid:
        texts = check_texts(X, pairs=False)
        self.vocabulary_ = sorted({w for t in texts for w in t.lower().split()})
        counts = self._counts(texts)
        self.classes_ = np.unique(np.asarray(y))
        self.centroids_ = np.vstack([counts[np.asarray(y) == c].mean(axis=0) for c in self.classes_])
        self.fit_report_ = {"vocabulary": float(len(self.vocabulary_))}
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "centroids_")
        counts = self._counts(check_texts(X, pairs=False))
        scores = -((counts[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def _counts(self, texts: list) -> np.ndarray:
        index = {w: i for i, w in enumerate(self.vocabulary_)}
        out = np.full((len(texts), len(index)), self.smoothing)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                if word in index:
                    out[row, index[word]] += 1
        return np.log(out)


def toy_save(model: ToyCentroid, directory: Path) -> None:
    state = {"smoothing": model.smoothing, "vocabulary": model.vocabulary_, "classes": model.classes_.tolist(),
             "centroids": model.centroids_.tolist()}
    (Path(directory) / "toy.json").write_text(json.dumps(state))


def toy_load(directory: Path) -> ToyCentroid:
    state = json.loads((Path(directory) / "toy.json").read_text())
    model = ToyCentroid(smoothing=state["smoothing"])
    model.vocabulary_, model.classes_ = state["vocabulary"], np.asarray(state["classes"])
    model.centroids_ = np.asarray(state["centroids"])
    return model


TOY = Family("toy_centroid.v1", ToyConfig, lambda params, seed: ToyCentroid(random_state=seed, **params),
             toy_save, toy_load, requirements=("numpy",))
TOY_YAML = {"defaults": ["toy_centroid_schema"], "kind": "toy_centroid.v1"}

# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture
def toy_family(tmp_path: Path):
    """Register the toy family and write its YAML into a config folder of its own (a Hydra search path)."""
    register(TOY)
    (tmp_path / "configs" / "model").mkdir(parents=True)
    (tmp_path / "configs" / "model" / "toy.yaml").write_text(yaml.safe_dump(TOY_YAML))
    yield f"hydra.searchpath=[file://{tmp_path / 'configs'}]"
    unregister(TOY.kind)


def test_a_toy_family_trains_saves_and_loads_through_nlpkit(toy_family, tmp_path):
    import nlpkit

    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    data_overrides = [o for o in file_overrides(data) if not o.startswith("model.")]  # the TF-IDF ones
    cfg = compose([*data_overrides, toy_family, "model=toy", "model.smoothing=0.5", "tracking=off",
                   f"output_dir={tmp_path / 'run'}"])
    result = nlpkit.train(cfg)
    assert isinstance(result.predictor.model, ToyCentroid) and result.predictor.model.smoothing == 0.5
    assert result.metrics["train/vocabulary"] == len(result.predictor.model.vocabulary_)
    assert (result.predictor_dir / "toy.json").is_file()
    loaded = nlpkit.Predictor.load(result.predictor_dir)
    assert loaded.metadata["model_kind"] == "toy_centroid.v1"
    texts = [r["text"] for r in tiny_rows(1)]
    np.testing.assert_array_equal(loaded.predict_proba(texts), result.predictor.predict_proba(texts))
    assert set(loaded.predict(texts)) <= set(result.predictor.labels)


def test_a_toy_family_key_typo_fails_at_validation_naming_the_key(toy_family):
    with pytest.raises(ConfigError, match=r"model\.smoothin"):
        validate(compose([toy_family, "model=toy", "+model.smoothin=2"]))


def test_an_unregistered_kind_is_refused_with_the_available_kinds():
    with pytest.raises(ConfigError, match=r"^model\.kind must be one of \['blend\.v1'.*\]; got 'toy_centroid\.v1'"):
        family_of("toy_centroid.v1")


def test_register_refuses_a_second_family_for_a_kind_and_a_schema_of_another_kind():
    clash = dataclasses.replace(family_of("tfidf_svm.v1"), requirements=("numpy",))
    with pytest.raises(ConfigError, match=r"^Model kind 'tfidf_svm.v1' is already registered; .*Fix: version"):
        register(clash)

    @dataclass
    class Wrong(ModelConfig):
        kind: str = "other.v1"

    with pytest.raises(ConfigError, match=r"defaults kind to 'other.v1'; expected 'wrong.v1'"):
        register(Family("wrong.v1", Wrong, TOY.build, toy_save, toy_load))
    assert "wrong.v1" not in REGISTRY


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_model_yaml_sets_no_default_of_its_own(kind):
    """The schema is the one source of a kind's defaults: the YAML of that kind composes to exactly them."""
    family = family_of(kind)
    yaml_files = [p for p in (Path(config_dir()) / "model").glob("*.yaml")
                  if yaml.safe_load(p.read_text()).get("kind") == kind]
    assert yaml_files, f"no YAML in configs/model/ for {kind}"
    plain_yaml = min(yaml_files, key=lambda p: len(yaml.safe_load(p.read_text())))  # not a preset like tfidf_fast
    values = {k: v for k, v in yaml.safe_load(plain_yaml.read_text()).items() if k not in ("defaults", "kind")}
    assert values == {}, f"{plain_yaml.name} repeats or changes schema defaults: {values}"
    composed = validate(compose([f"model={plain_yaml.stem}"])).model
    from omegaconf import OmegaConf

    assert OmegaConf.to_container(composed, enum_to_str=True) == family.defaults()


@pytest.mark.parametrize("kind", ["tfidf_logreg.v1", "embed_logreg.v1", "finetune.v1", "blend.v1"])
def test_estimator_class_defaults_agree_with_the_schema(kind):
    """An estimator built from the schema's defaults equals one made with the class's own defaults, for every
    parameter the two share (tfidf_svm shares TfidfClassifier with logreg; its C is the schema's 0.5)."""
    model = build_model({"kind": kind})
    signature = inspect.signature(type(model).__init__).parameters
    class_defaults = {k: p.default for k, p in signature.items() if p.default is not inspect.Parameter.empty}
    schema = family_of(kind).defaults()
    shared = sorted(set(class_defaults) & set(schema) - {"finetune", "tfidf"})
    assert shared, kind
    assert {k: class_defaults[k] for k in shared} == {k: schema[k] for k in shared}
    assert {k: model.get_params()[k] for k in shared} == {k: schema[k] for k in shared}


def test_every_family_follows_the_protocol():
    """The hooks train.py reads, with their defaults before fit (the protocol's data members exist after fit)."""
    hooks = {}
    for kind in sorted(REGISTRY):
        model = build_model({"kind": kind})
        assert all(callable(getattr(model, name)) for name in ("fit", "predict", "predict_proba")), kind
        hooks[kind] = (model.fit_accepts_validation, model.heldout_validation_proba_, model.training_curves())
    assert hooks == {"blend.v1": (True, None, {}), "embed_logreg.v1": (False, None, {}),
                     "finetune.v1": (True, None, {}), "tfidf_logreg.v1": (False, None, {}),
                     "tfidf_svm.v1": (False, None, {}), "tfidf_mlp.v1": (False, None, {})}


def test_a_fitted_model_is_a_classifier(tmp_path):
    from conftest import train_tiny_predictor
    from nlpkit.predict import Predictor

    model = Predictor.load(train_tiny_predictor(tmp_path)).model
    assert not isinstance(object(), Classifier)
    fitted = build_model({"kind": "tfidf_logreg.v1", "char_ngrams": False}).fit(
        [r["text"] for r in tiny_rows()], [r["label"] for r in tiny_rows()])
    assert isinstance(fitted, Classifier) and fitted.fit_report_ == {"char_ngrams": 0.0, "ngram_max": 2.0}
    assert list(model.classes_) == list(fitted.classes_)
