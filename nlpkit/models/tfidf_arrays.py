"""TF-IDF predictors as plain arrays: saved without skops, applied with NumPy and SciPy alone.

A fitted ``TfidfClassifier`` is written as ``tfidf.json`` (how the features are made and combined: analyzer,
n-gram range, lower-casing, accent stripping, token pattern, stop words, sublinear tf; the classifier's kind
and label order) and ``tfidf.npz`` (each vectorizer's terms and idf weights, the classifier's coefficients and
intercepts, the sigmoid calibrators' ``a``/``b``). ``np.load(..., allow_pickle=False)`` reads only numeric and
fixed-width string arrays, so loading runs no code; and it imports no scikit-learn, whose import (~1 s on two
cores, plus skops's walk over every estimator) would dominate a cold start.

Format 2 runs the fitted estimator's own n-gram engine (``ngram_tfidf``; the blocks over one input share its word
tokens), then ``hstack`` and the sparse-dense product, so the probabilities equal the estimator's bit for bit;
format 1's transform (``tfidf_format1``) repeats scikit-learn's steps in the same order. ``tests/test_tfidf_arrays.py``
checks them against the fitted estimator on every task.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpkit import npz
from nlpkit.errors import ConfigError, ModelLoadError, one_line
from nlpkit.models import stance_cues
from nlpkit.models.base import check_texts
from nlpkit.models.ngram_tfidf import NgramTfidf
from nlpkit.models.tfidf_format1 import Format1Vectorizer

SPEC_FILE = "tfidf.json"
ARRAYS_FILE = "tfidf.npz"
FORMAT = "nlpkit-tfidf/2"  # 2: n-gram blocks keyed by hash (ngram_tfidf); 1: term vocabularies, still read
FORMATS = ("nlpkit-tfidf/1", FORMAT)
MAX_ARRAYS_BYTES = 2 << 30
FIX = "Fix: load only predictors saved by nlpkit, from a source you trust; get this one again from its source."


# -- saving ------------------------------------------------------------------------------------------------
def save(model: Any, directory: Path) -> None:
    """Write a fitted ``TfidfClassifier`` (or a loaded ``ArrayTfidfModel``) as ``tfidf.json`` + ``tfidf.npz``."""
    if isinstance(model, ArrayTfidfModel):
        spec, arrays = model.spec_, model.arrays_
    else:
        arrays = {}
        spec = {
            "format": FORMAT,
            "pairs": bool(model.pairs_),
            "classes": np.asarray(model.classes_).tolist(),
            "blocks": _blocks(model.features_, bool(model.pairs_), arrays),
            "classifier": _classifier_spec(model.classifier_, arrays),
        }
    directory = Path(directory)
    (directory / SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")
    (directory / ARRAYS_FILE).write_bytes(npz.to_bytes(arrays))


def _blocks(features: Any, pairs: bool, arrays: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    if not pairs:  # a FeatureUnion of vectorizers over the text
        return [_vectorizer_spec(v, "text", f"b{i}", arrays) for i, (_, v) in enumerate(features.transformer_list)]
    blocks: list[dict[str, Any]] = []
    for name, transformer, _columns in features.transformers_:
        if name == "target":
            blocks.append(_vectorizer_spec(transformer, "target", f"b{len(blocks)}", arrays))
        elif name == "text":
            for _, vectorizer in transformer.transformer_list:
                blocks.append(_vectorizer_spec(vectorizer, "text", f"b{len(blocks)}", arrays))
        elif name == "similarity":
            key = f"b{len(blocks)}"
            blocks.append({"input": "pair", "lead_words": int(transformer.lead_words),
                           "vectorizer": _vectorizer_spec(transformer.vectorizer_, "pair", key, arrays)})
        elif name == "cues":
            blocks.append(_cues_spec(transformer, f"b{len(blocks)}", arrays))
        elif transformer != "drop":
            raise ConfigError(f"Cannot save feature block {name!r} as arrays; expected target, text, similarity "
                              "and cues.")
    return blocks


def _cues_spec(cues: Any, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    arrays[f"{key}.mean"], arrays[f"{key}.scale"] = np.asarray(cues.mean_), np.asarray(cues.scale_)
    return {"input": "cues", "key": key, "version": stance_cues.VERSION, "weight": float(cues.weight)}


def _vectorizer_spec(vec: Any, source: str, key: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    engine = getattr(vec, "engine_", None)
    if engine is not None:  # nlpkit's own n-gram vectorizer: its spec and arrays as they are
        arrays.update({f"{key}.{name}": array for name, array in engine.arrays().items()})
        return {"input": source, "key": key, **engine.spec()}
    supported = (vec.input == "content" and vec.preprocessor is None and vec.tokenizer is None
                 and vec.analyzer in ("word", "char_wb", "char") and vec.strip_accents in (None, "unicode")
                 and vec.norm in ("l2", None) and not vec.binary)
    if not supported:
        raise ConfigError(f"Cannot save this {type(vec).__name__} as arrays (analyzer {vec.analyzer!r}, "
                          f"strip_accents {vec.strip_accents!r}, norm {vec.norm!r}); expected nlpkit's own settings.")
    vocabulary = vec.vocabulary_
    arrays[f"{key}.terms"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=str)
    if vec.use_idf:
        arrays[f"{key}.idf"] = np.asarray(vec.idf_, dtype=np.float64)
    stop = vec.get_stop_words()
    return {
        "input": source, "key": key, "analyzer": vec.analyzer, "ngram_range": list(vec.ngram_range),
        "lowercase": bool(vec.lowercase), "strip_accents": vec.strip_accents, "token_pattern": vec.token_pattern,
        "stop_words": sorted(stop) if stop else None, "sublinear_tf": bool(vec.sublinear_tf), "norm": vec.norm,
        "use_idf": bool(vec.use_idf),
    }


def _classifier_spec(classifier: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if hasattr(classifier, "calibrated_classifiers_"):
        members = []
        for i, member in enumerate(classifier.calibrated_classifiers_):
            if member.method != "sigmoid":
                raise ConfigError(f"Cannot save a {member.method!r} calibration as arrays; expected 'sigmoid'.")
            arrays[f"c{i}.coef"], arrays[f"c{i}.intercept"] = _linear(member.estimator)
            arrays[f"c{i}.a"] = np.array([c.a_ for c in member.calibrators], dtype=np.float64)
            arrays[f"c{i}.b"] = np.array([c.b_ for c in member.calibrators], dtype=np.float64)
            positions = np.searchsorted(np.asarray(member.classes), np.asarray(member.estimator.classes_))
            members.append({"key": f"c{i}", "positions": positions.tolist()})
        return {"kind": "calibrated_sigmoid", "members": members}
    arrays["lr.coef"], arrays["lr.intercept"] = _linear(classifier)
    return {"kind": "logreg"}


def _linear(estimator: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(estimator.coef_, dtype=np.float64), np.asarray(estimator.intercept_, dtype=np.float64)


# -- loading -----------------------------------------------------------------------------------------------
def is_saved_here(directory: Path) -> bool:
    """Whether ``directory`` holds a TF-IDF model in this format."""
    return (Path(directory) / SPEC_FILE).is_file()


def load(directory: Path, **options: Any) -> Any:
    """The TF-IDF model in ``directory``: this format, or a ``model.skops`` of nlpkit < 0.2 (read by skops, audited).

    Load options (``runtime=...``) are refused: a TF-IDF model has one runtime."""
    from nlpkit.models import tfidf_io

    tfidf_io.refuse_options(options)
    directory = Path(directory)
    if not is_saved_here(directory):
        if (directory / tfidf_io.FILENAME).is_file():
            return tfidf_io.load(directory)
        raise ModelLoadError(f"No {SPEC_FILE} or {tfidf_io.FILENAME} in {directory}; expected a TF-IDF predictor saved "
                             "by nlpkit. Fix: copy the whole predictor directory again.")
    spec = _read_spec(directory / SPEC_FILE)
    arrays = _read_arrays(directory / ARRAYS_FILE)
    try:
        return ArrayTfidfModel(spec, arrays)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ModelLoadError(
            f"{directory} holds an inconsistent TF-IDF model ({type(err).__name__}: {one_line(err, 160)}); expected "
            f"the {SPEC_FILE} and {ARRAYS_FILE} nlpkit writes together. {FIX}"
        ) from None


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelLoadError(f"{path} is not readable JSON ({type(err).__name__}); expected nlpkit's TF-IDF "
                             f"description. {FIX}") from None
    if not isinstance(spec, dict) or spec.get("format") not in FORMATS:
        got = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
        raise ModelLoadError(f"{path} has format {got!r}; expected one of {FORMATS}. Fix: load it with the nlpkit version "
                             "that saved it, or upgrade nlpkit.")
    return spec


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    return npz.read_sealed(path, SPEC_FILE, MAX_ARRAYS_BYTES, FIX)


class ArrayTfidfModel:
    """A loaded TF-IDF model: ``classes_``, ``pairs_``, ``predict_proba`` and ``predict``, without scikit-learn."""

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.spec_, self.arrays_ = spec, arrays  # what ``save`` writes back
        self.classes_ = np.asarray(spec["classes"])
        self.pairs_ = bool(spec["pairs"])
        self.blocks_ = [_Block(block, arrays) for block in spec["blocks"]]
        self.classifier_ = _Classifier(spec["classifier"], arrays, len(self.classes_))
        widths = sum(block.width for block in self.blocks_)
        if widths != self.classifier_.n_features:
            raise ValueError(f"the features are {widths} wide but the classifier takes {self.classifier_.n_features}")

    def features(self, X: Any) -> sp.csr_matrix:
        """The feature matrix of ``X`` (texts, or (target, text) pairs), as scikit-learn would build it."""
        items = check_texts(X, pairs=self.pairs_)
        shared: dict[str, dict] = {}  # per input: the word tokens that several blocks read (found once)
        return sp.hstack([block.transform(items, shared.setdefault(block.input, {})) for block in self.blocks_]).tocsr()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return self.classifier_.proba(self.features(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class _Block:
    """One block of feature columns: a vectorizer over the text or the target, or the pair similarities."""

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.input = spec["input"]
        if self.input == "pair":
            self.lead_words = int(spec["lead_words"])
            self.vectorizer = _vectorizer(spec["vectorizer"], arrays)
            self.width = 3
        elif self.input == "cues":
            self.cues = _Cues(spec, arrays)
            self.width = len(stance_cues.CUE_NAMES)
        else:
            if self.input not in ("text", "target"):
                raise ValueError(f"unknown feature input {self.input!r}")
            self.vectorizer = _vectorizer(spec, arrays)
            self.width = self.vectorizer.width

    def transform(self, items: list[Any], shared: dict) -> sp.csr_matrix:
        """This block's columns for ``items``; ``shared``: what the blocks over the same input share."""
        if self.input == "text":
            return self._vectorize([x[1] for x in items] if isinstance(items[0], tuple) else items, shared)
        if self.input == "target":
            return self._vectorize([x[0] for x in items], shared)
        if self.input == "cues":
            return self.cues.transform(items)
        return self._similarity(items)

    def _vectorize(self, docs: list[str], shared: dict) -> sp.csr_matrix:
        if isinstance(self.vectorizer, NgramTfidf):
            return self.vectorizer.transform(docs, shared)
        return self.vectorizer.transform(docs)

    def _similarity(self, items: list[tuple[str, str]]) -> sp.csr_matrix:
        return pair_similarity(self.vectorizer.transform, items, self.lead_words)


class _Cues:
    """The stance-cue block: ``stance_cues.cue_matrix``, standardised with the saved mean and scale, times weight."""

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        if spec["version"] != stance_cues.VERSION:
            raise ValueError(f"stance cues {spec['version']!r} are not this nlpkit's {stance_cues.VERSION!r}")
        self.mean, self.scale = arrays[f"{spec['key']}.mean"], arrays[f"{spec['key']}.scale"]
        self.weight = float(spec["weight"])
        if self.mean.shape != (len(stance_cues.CUE_NAMES),) or self.scale.shape != self.mean.shape:
            raise ValueError(f"cue mean/scale have shapes {self.mean.shape}/{self.scale.shape}")

    def transform(self, items: list[tuple[str, str]]) -> sp.csr_matrix:
        return sp.csr_matrix((stance_cues.cue_matrix(items) - self.mean) / self.scale * self.weight)


def pair_similarity(transform: Any, items: list[tuple[str, str]], lead_words: int) -> sp.csr_matrix:
    """Three columns per (target, text) pair, from l2-normalised tf-idf rows made by ``transform``: cosine of
    target and text, cosine of target and the text's first ``lead_words`` words, share of target terms in the text.
    ``tfidf.PairSimilarity`` (training) and the arrays model (prediction) both compute it here."""
    targets = transform([a for a, _ in items])
    texts = transform([b for _, b in items])
    leads = transform([" ".join(b.split()[:lead_words]) for _, b in items])
    return similarity_columns(targets, texts, leads)


def similarity_columns(targets: sp.csr_matrix, texts: sp.csr_matrix, leads: sp.csr_matrix) -> sp.csr_matrix:
    """``pair_similarity``'s three columns from the targets', texts' and leads' l2-normalised tf-idf rows (a
    cosine is then a dot product); the TF-IDF + MLP family computes its similarities here too."""
    cos_text = np.asarray(targets.multiply(texts).sum(axis=1)).ravel()
    cos_lead = np.asarray(targets.multiply(leads).sum(axis=1)).ravel()
    overlap = np.asarray((targets > 0).multiply(texts > 0).sum(axis=1)).ravel()
    overlap = overlap / np.maximum(np.asarray((targets > 0).sum(axis=1)).ravel(), 1)
    return sp.csr_matrix(np.column_stack([cos_text, cos_lead, overlap]))


def _vectorizer(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    """The saved vectorizer: nlpkit's n-gram engine (format 2), or a scikit-learn vocabulary (format 1)."""
    if "engine" not in spec:
        return Format1Vectorizer(spec, arrays)
    prefix = f"{spec['key']}."
    return NgramTfidf.from_saved(spec, {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)})


class _Classifier:
    """Logistic regression, or linear SVMs with sigmoid calibration averaged over the calibration folds."""

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray], n_classes: int) -> None:
        self.kind, self.n_classes = spec["kind"], n_classes
        self.members: list[tuple[np.ndarray, np.ndarray, Any, Any, Any]]
        if self.kind == "logreg":
            self.members = [(arrays["lr.coef"], arrays["lr.intercept"], None, None, None)]
        elif self.kind == "calibrated_sigmoid":
            self.members = [(arrays[f"{m['key']}.coef"], arrays[f"{m['key']}.intercept"], arrays[f"{m['key']}.a"],
                             arrays[f"{m['key']}.b"], [int(p) for p in m["positions"]]) for m in spec["members"]]
        else:
            raise ValueError(f"unknown classifier kind {self.kind!r}")
        self.n_features = int(self.members[0][0].shape[1])
        # (features x classes), C-ordered: a sparse product reads it ~2.5x faster than the transposed view
        self.members = [(np.ascontiguousarray(m[0].T), *m[1:]) for m in self.members]

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        if self.kind == "logreg":
            return self._logreg(X)
        mean = np.zeros((X.shape[0], self.n_classes))
        for member in self.members:
            mean += self._calibrated(X, *member)
        mean /= len(self.members)
        return mean

    def _logreg(self, X: sp.csr_matrix) -> np.ndarray:
        from scipy.special import expit

        weights, intercept = self.members[0][:2]
        scores = X @ weights + intercept
        if self.n_classes <= 2:
            p = expit(scores.reshape(-1))
            return np.stack([1 - p, p], axis=1)
        scores -= scores.max(axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1).reshape(-1, 1)
        return scores

    def _calibrated(self, X: sp.csr_matrix, weights: np.ndarray, intercept: np.ndarray, a: np.ndarray,
                    b: np.ndarray, positions: list[int]) -> np.ndarray:
        from scipy.special import expit

        scores = X @ weights + intercept
        proba = np.zeros((X.shape[0], self.n_classes))
        for column, (position, a_k, b_k) in enumerate(zip(positions, a, b)):
            index = position + 1 if self.n_classes == 2 else position
            proba[:, index] = expit(-(a_k * scores[:, column] + b_k))
        if self.n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
            return proba
        denominator = np.sum(proba, axis=1)[:, np.newaxis]
        return np.divide(proba, denominator, out=np.full_like(proba, 1 / self.n_classes), where=denominator != 0)
