"""The TF-IDF + MLP family's runtime: its features and forward pass, saved as plain arrays, NumPy and SciPy only.

Features (``MlpFeatures``): one word n-gram TF-IDF vocabulary (``nlpkit.models.ngram_tfidf``) shared by both sides
of a pair. Plain texts get their tf-idf rows. (target, text) pairs get the target's row, the text's row and
three similarities between them (cosine of target and text, cosine of target and the text's first
``lead_words`` words, share of the target's terms found in the text): the similarities carry "are these two
about the same thing", the rows carry the words that say how. With ``pair_overlap``, the vocabulary-free pair
features of ``nlpkit.models.pair_overlap`` follow the similarities (token overlap and cue words computed on raw
tokens, so words the vocabulary never saw count). With a ``sentence_encoder``, the six target-sentence similarity
columns of ``nlpkit.models.sentence_similarity`` come last (its ONNX graph and tokenizer are saved beside the arrays,
in ``sentence_encoder/``, and need onnxruntime and tokenizers to load). With ``claim_sentences`` k > 0, the row of the text's k
sentences about the target (``nlpkit.models.claim_sentences``) follows the text's row. Equal texts are
vectorised once per call (a FNC-1 body is paired with ~30 headlines).

Classifier (``MlpRuntime``): one hidden ReLU layer and a softmax (or, for two classes, logistic) output, the
network scikit-learn's ``MLPClassifier`` trains. The fitted estimator (``nlpkit.models.tfidf_mlp``) predicts
through these same objects, so a loaded model gives the fitted model's probabilities bit for bit. An
``MlpEnsemble`` (``n_networks`` > 1) averages several such networks' probabilities.

Gate (``Gate``, optional): for a pairs model with ``gate_label`` (FNC-1: ``unrelated``), a logistic regression (or
one hidden layer) on the pair columns alone (the similarities, and the pair features if any) decides that label
first: P(gate label) = sigmoid(w . similarities + b), and the
network, trained without the gate label's examples, shares out the rest. The similarities mean the same on any
topic, so the gate carries to stories never seen in training, where the topic words in the rows do not.

Saved as ``mlp.json`` (format, labels, feature settings, the vectorizer's spec) and ``mlp.npz`` (vocabulary
keys, idf, terms, weights), read with ``allow_pickle=False``: loading runs no code and imports no scikit-learn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpkit import npz
from nlpkit.errors import ModelLoadError, one_line
from nlpkit.models.base import check_texts
from nlpkit.models.claim_sentences import CUE_COLUMNS, claim_cues, claim_sentences
from nlpkit.models.ngram_tfidf import NgramTfidf
from nlpkit.models.pair_overlap import PairOverlap
from nlpkit.models.sentence_similarity import SentenceSimilarity
from nlpkit.models.tfidf_arrays import similarity_columns

SPEC_FILE = "mlp.json"
ARRAYS_FILE = "mlp.npz"
FORMAT = "nlpkit-tfidf-mlp/1"
MAX_ARRAYS_BYTES = 2 << 30
N_SIMILARITIES = 3
FIX = "Fix: load only predictors saved by nlpkit, from a source you trust; get this one again from its source."


class MlpFeatures:
    """Feature rows of texts or (target, text) pairs from one fitted ``NgramTfidf`` (module docstring), and for
    pairs, optionally, the vocabulary-free ``PairOverlap`` columns after the similarities."""

    def __init__(self, vectorizer: NgramTfidf, *, pairs: bool, lead_words: int,
                 overlap: PairOverlap | None = None, claim_sentences: int = 0, claim_cues: bool = False,
                 similarity: SentenceSimilarity | None = None) -> None:
        self.vectorizer, self.pairs, self.lead_words = vectorizer, bool(pairs), int(lead_words)
        self.overlap = overlap if self.pairs else None
        self.similarity = similarity if self.pairs else None  # sentence-encoder columns, after the overlap ones
        self.claim_sentences = int(claim_sentences) if self.pairs else 0  # > 0: the row of the text's k best sentences
        self.claim_cues = bool(claim_cues) and self.pairs  # the cue columns of the best sentence, before the pair columns

    @property
    def pair_width(self) -> int:
        """Number of pair columns at the end of a row (similarities and overlap features; 0 for plain texts)."""
        if not self.pairs:
            return 0
        extra = [part.width for part in (self.overlap, self.similarity) if part is not None]
        return N_SIMILARITIES + sum(extra)

    @property
    def width(self) -> int:
        """Number of feature columns."""
        width = self.vectorizer.width
        if not self.pairs:
            return width
        return (2 + bool(self.claim_sentences)) * width + self.claim_cues * len(CUE_COLUMNS) + self.pair_width

    def transform(self, items: list[Any]) -> sp.csr_matrix:
        """The feature matrix of checked inputs (``check_texts``): texts, or (target, text) pairs."""
        if not self.pairs:
            return self._rows(items)
        targets = self._rows([a for a, _ in items])
        texts = self._rows([b for _, b in items])
        leads = self._rows([" ".join(b.split()[: self.lead_words]) for _, b in items])
        blocks = [targets, texts]
        if self.claim_sentences:
            blocks.append(self._rows(claim_sentences(items, self.claim_sentences)))
        if self.claim_cues:
            blocks.append(sp.csr_matrix(claim_cues(items)))
        blocks.append(similarity_columns(targets, texts, leads))  # the pair columns (the gate's) come last
        if self.overlap is not None:
            blocks.append(sp.csr_matrix(self.overlap.transform(items)))
        if self.similarity is not None:
            blocks.append(sp.csr_matrix(self.similarity.transform(items)))
        return sp.hstack(blocks, format="csr")

    def _rows(self, texts: list[str]) -> sp.csr_matrix:
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        return self.vectorizer.transform(unique.tolist())[inverse.ravel()]


class MlpRuntime:
    """One hidden ReLU layer, softmax output (logistic for two classes): probabilities from feature rows."""

    def __init__(self, hidden_weights: np.ndarray, hidden_bias: np.ndarray, output_weights: np.ndarray,
                 output_bias: np.ndarray) -> None:
        self.hidden_weights = np.ascontiguousarray(hidden_weights, dtype=np.float64)
        self.hidden_bias = np.asarray(hidden_bias, dtype=np.float64)
        self.output_weights = np.ascontiguousarray(output_weights, dtype=np.float64)
        self.output_bias = np.asarray(output_bias, dtype=np.float64)
        units = self.hidden_weights.shape[1]
        if self.hidden_bias.shape != (units,) or self.output_weights.shape[0] != units or \
                self.output_bias.shape != (self.output_weights.shape[1],):
            raise ValueError(f"layer shapes disagree: {self.hidden_weights.shape}, {self.hidden_bias.shape}, "
                             f"{self.output_weights.shape}, {self.output_bias.shape}")

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return int(self.hidden_weights.shape[0])

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """Class probabilities of feature rows ``X``."""
        hidden = np.maximum(X @ self.hidden_weights + self.hidden_bias, 0.0)
        scores = hidden @ self.output_weights + self.output_bias
        if scores.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights by name, as ``save`` writes them."""
        return {"hidden_weights": self.hidden_weights, "hidden_bias": self.hidden_bias,
                "output_weights": self.output_weights, "output_bias": self.output_bias}


class MlpEnsemble:
    """Several ``MlpRuntime`` networks of one shape (trained from different seeds): their mean probabilities."""

    def __init__(self, members: list[MlpRuntime]) -> None:
        self.members = list(members)
        shapes = {(m.n_features, m.output_bias.shape) for m in self.members}
        if len(self.members) < 2 or len(shapes) != 1:
            raise ValueError(f"an ensemble needs >= 2 networks of one shape; got {len(self.members)} of shapes {shapes}")
        self.output_bias = self.members[0].output_bias

    @property
    def n_features(self) -> int:
        """Number of input columns."""
        return self.members[0].n_features

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """The members' mean class probabilities of feature rows ``X``."""
        return np.mean(np.stack([member.proba(X) for member in self.members]), axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every member's weights, named ``<member>.<weight>``."""
        return {f"{i}.{name}": a for i, member in enumerate(self.members) for name, a in member.arrays().items()}


class Gate:
    """P(``label``) of feature rows from their last columns (the pair columns): a logistic regression on them, or,
    with ``hidden_weights``, a logistic output on one hidden ReLU layer of them."""

    def __init__(self, label: str, coef: np.ndarray, intercept: np.ndarray, hidden_weights: np.ndarray | None = None,
                 hidden_bias: np.ndarray | None = None) -> None:
        self.label = str(label)
        self.coef = np.asarray(coef, dtype=np.float64).reshape(-1)
        self.intercept = np.asarray(intercept, dtype=np.float64).reshape(-1)
        if (hidden_weights is None) != (hidden_bias is None):
            raise ValueError("a hidden-layer gate needs both its weights and its bias; got one of them")
        self.hidden = None if hidden_weights is None or hidden_bias is None else MlpRuntime(
            hidden_weights, hidden_bias, self.coef[:, None], self.intercept)
        if self.coef.size < 1 or self.intercept.shape != (1,):
            raise ValueError(f"gate weights have shapes {self.coef.shape} and {self.intercept.shape}, expected "
                             f"(n_pair_columns or n_hidden,) and (1,)")

    @property
    def width(self) -> int:
        """Number of pair columns the gate reads."""
        return self.coef.size if self.hidden is None else self.hidden.n_features

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """P(label) per row."""
        columns = X[:, -self.width:].toarray()
        if self.hidden is not None:
            return self.hidden.proba(columns)[:, 1]
        return 1.0 / (1.0 + np.exp(-(columns @ self.coef + self.intercept[0])))

    def arrays(self) -> dict[str, np.ndarray]:
        """The weights by name, as ``save`` writes them."""
        arrays = {"coef": self.coef, "intercept": self.intercept}
        if self.hidden is not None:
            arrays.update(hidden_weights=self.hidden.hidden_weights, hidden_bias=self.hidden.hidden_bias)
        return arrays


class ArrayMlpModel:
    """A TF-IDF + MLP model: ``classes_``, ``pairs_``, ``predict_proba``, ``predict``; no scikit-learn.

    ``network_classes`` are the network's output labels: ``classes`` without the gate's label when there is a
    gate, else ``classes``."""

    def __init__(self, classes: np.ndarray, features: MlpFeatures, network: MlpRuntime | MlpEnsemble,
                 network_classes: np.ndarray | None = None, gate: Gate | None = None) -> None:
        self.classes_, self.pairs_ = np.asarray(classes), features.pairs
        self.network_classes_ = np.asarray(self.classes_ if network_classes is None else network_classes)
        self.features_, self.network_, self.gate_ = features, network, gate
        if features.width != network.n_features:
            raise ValueError(f"the features are {features.width} wide but the network takes {network.n_features}")
        outputs, n = network.output_bias.shape[0], len(self.network_classes_)
        if outputs != n and not (outputs == 1 and n == 2):
            raise ValueError(f"{n} labels but {outputs} outputs")
        expected = sorted({*self.network_classes_.tolist(), *([gate.label] if gate else [])})
        if gate is not None and gate.width != features.pair_width:
            raise ValueError(f"the gate reads {gate.width} columns but the pairs have {features.pair_width}")
        if expected != sorted(self.classes_.tolist()) or (gate is not None and not self.pairs_):
            raise ValueError(f"labels {self.classes_.tolist()} do not match the network's and the gate's {expected}")
        self._columns = np.searchsorted(self.classes_, self.network_classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        features = self.features_.transform(check_texts(X, pairs=self.pairs_))
        network = self.network_.proba(features)
        if self.gate_ is None:
            return network
        gate = self.gate_.proba(features)
        out = np.zeros((features.shape[0], len(self.classes_)))
        out[:, self._columns] = network * (1.0 - gate)[:, np.newaxis]
        out[:, int(np.searchsorted(self.classes_, self.gate_.label))] = gate
        return out

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


# -- saving and loading ------------------------------------------------------------------------------------
def save(model: Any, directory: Path) -> None:
    """Write a fitted ``TfidfMlpClassifier`` (or a loaded ``ArrayMlpModel``) as ``mlp.json`` + ``mlp.npz``."""
    model = getattr(model, "runtime_", model)  # the fitted estimator predicts through an ArrayMlpModel
    features, network, gate = model.features_, model.network_, model.gate_
    spec = {"format": FORMAT, "classes": model.classes_.tolist(), "network_classes": model.network_classes_.tolist(),
            "gate_label": gate.label if gate else None, "pairs": features.pairs, "lead_words": features.lead_words,
            "networks": len(network.members) if isinstance(network, MlpEnsemble) else 1,
            "vectorizer": features.vectorizer.spec(),
            "pair_overlap": features.overlap.spec() if features.overlap is not None else None,
            "claim_sentences": features.claim_sentences, "claim_cues": list(CUE_COLUMNS) if features.claim_cues else None,
            "sentence_similarity": features.similarity.spec() if features.similarity is not None else None}
    arrays = {f"vec.{name}": a for name, a in features.vectorizer.arrays().items()}
    arrays.update({f"mlp.{name}": a for name, a in network.arrays().items()})
    arrays.update({f"gate.{name}": a for name, a in (gate.arrays() if gate else {}).items()})
    directory = Path(directory)
    (directory / SPEC_FILE).write_text(json.dumps(spec, indent=1), encoding="utf-8")
    (directory / ARRAYS_FILE).write_bytes(npz.to_bytes(arrays))
    if features.similarity is not None:
        features.similarity.save(directory)


def load(directory: Path, **options: Any) -> ArrayMlpModel:
    """The model ``save`` wrote in ``directory``. Load options (``runtime=...``) are refused: one runtime."""
    from nlpkit.models.tfidf_io import refuse_options

    refuse_options(options)
    directory = Path(directory)
    spec, arrays = _read_spec(directory / SPEC_FILE), _read_arrays(directory / ARRAYS_FILE)
    try:
        vectorizer = NgramTfidf.from_saved(spec["vectorizer"], _prefixed(arrays, "vec."))
        overlap = PairOverlap.from_spec(spec["pair_overlap"]) if spec.get("pair_overlap") is not None else None
        similarity = (SentenceSimilarity.load(directory, spec["sentence_similarity"])
                      if spec.get("sentence_similarity") is not None else None)
        features = MlpFeatures(vectorizer, pairs=spec["pairs"], lead_words=spec["lead_words"], overlap=overlap,
                               claim_sentences=int(spec.get("claim_sentences", 0)), claim_cues=_claim_cues(spec),
                               similarity=similarity)
        gate = Gate(spec["gate_label"], **_prefixed(arrays, "gate.")) if spec["gate_label"] is not None else None
        return ArrayMlpModel(np.asarray(spec["classes"]), features, _network(arrays, int(spec.get("networks", 1))),
                             np.asarray(spec["network_classes"]), gate)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ModelLoadError(f"{directory} holds an inconsistent TF-IDF + MLP model ({type(err).__name__}: "
                             f"{one_line(err, 160)}); expected the {SPEC_FILE} and {ARRAYS_FILE} nlpkit writes "
                             f"together. {FIX}") from None


def _claim_cues(spec: dict[str, Any]) -> bool:
    columns = spec.get("claim_cues")
    if columns is not None and list(columns) != list(CUE_COLUMNS):
        raise ValueError(f"claim cue columns {columns!r}, expected {list(CUE_COLUMNS)}")
    return columns is not None


def _network(arrays: dict[str, np.ndarray], n: int) -> MlpRuntime | MlpEnsemble:
    if n == 1:
        return MlpRuntime(**_prefixed(arrays, "mlp."))
    return MlpEnsemble([MlpRuntime(**_prefixed(arrays, f"mlp.{i}.")) for i in range(n)])


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}


def _read_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelLoadError(f"No {SPEC_FILE} in {path.parent}; expected a TF-IDF + MLP predictor saved by nlpkit. "
                             "Fix: copy the whole predictor directory again.")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise ModelLoadError(f"{path} is not readable JSON ({type(err).__name__}); expected nlpkit's TF-IDF + MLP "
                             f"description. {FIX}") from None
    got = spec.get("format") if isinstance(spec, dict) else type(spec).__name__
    if got != FORMAT:
        raise ModelLoadError(f"{path} has format {got!r}; expected {FORMAT!r}. Fix: load it with the nlpkit version "
                             "that saved it, or upgrade nlpkit.")
    return spec


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    return npz.read_sealed(path, SPEC_FILE, MAX_ARRAYS_BYTES, FIX)
