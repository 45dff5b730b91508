"""Registry entry of ``tfidf_mlp.v1``: word TF-IDF (and pair similarities) into a one-hidden-layer MLP.

Light on purpose (no scikit-learn import): the prediction runtime imports it through ``nlpkit.models``. The
estimator (``nlpkit.models.tfidf_mlp``, scikit-learn) is imported when a model is built; a saved model is plain
arrays (``nlpkit.models.tfidf_mlp_arrays``), loaded with NumPy and SciPy only (and, with ``sentence_encoder``, ONNX
Runtime and tokenizers for the encoder's graph: ``Family.needs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from nlpkit.models import tfidf_mlp_arrays
from nlpkit.models.registry import Family, ModelConfig, register


@dataclass
class TfidfMlpConfig(ModelConfig):
    """TF-IDF + MLP (``model=tfidf_mlp``). Defaults: a 5,000-word unigram vocabulary without English stop words
    shared by target and text, 100 hidden units, L2 penalty 1e-3, 20 epochs of Adam (experiments/stance/FNC1.md)."""

    kind: str = "tfidf_mlp.v1"
    max_features: Optional[int] = 5000
    ngram_max: int = 1
    min_df: int = 1
    stop_words: Optional[str] = "english"  # english | null
    sublinear_tf: bool = True
    lead_words: int = 60  # the text's first words, compared with the target on their own
    hidden_units: int = 100
    alpha: float = 1e-3  # L2 penalty on the weights
    learning_rate: float = 1e-3
    epochs: int = 20
    batch_size: int = 500
    # a label decided first by a logistic regression on the pair similarities alone (FNC-1: unrelated); the
    # network then learns the other labels only. null: the network learns every label.
    gate_label: Optional[str] = None
    gate_hidden_units: int = 0  # 0: the gate is a logistic regression; n: one hidden ReLU layer of n units
    # weight of the gate label's training pairs in the (logistic) gate's fit: below 1, the gate says its label less
    # readily (FNC-1's score costs a missed related pair up to 4x a wrongly related one)
    gate_label_weight: float = 1.0
    # pairs only: add the vocabulary-free overlap and cue features (nlpkit/models/pair_overlap.py) to the network's
    # input and the gate's (experiment=fnc1_mlp turns it on)
    pair_overlap: bool = False
    # pairs only: k > 0 adds the TF-IDF row of the text's k sentences sharing most words with the target
    # (nlpkit/models/claim_sentences.py) beside the whole text's row
    claim_sentences: int = 0
    # pairs only: add cue columns of the text's best sentence about the target (refuting, negation, hedging,
    # asserting words, polarity agreement with the target; nlpkit/models/claim_sentences.py), network only
    claim_cues: bool = False
    # the network's training examples weigh (count of their label) ** -class_balance (0: equal; 1: every label the
    # same total weight), so rare labels (FNC-1: disagree) count more
    class_balance: float = 0.0
    n_networks: int = 1  # > 1: that many networks from seeds seed, seed+1, ...; their probabilities are averaged
    # pairs only: add six columns of cosine similarities between the target and the text's sentences from this
    # pretrained sentence encoder (nlpkit/models/sentence_similarity.py; all-MiniLM-L6-v2 is the packaged one) to the
    # network's input and the gate's. Training needs the transformers extra; the predictor ships the encoder as an
    # ONNX graph and needs the onnx extra (onnxruntime, tokenizers), not torch. null: none.
    sentence_encoder: Optional[str] = None


def _build(params: dict[str, Any], seed: int) -> Any:
    from nlpkit.models.tfidf_mlp import TfidfMlpClassifier

    return TfidfMlpClassifier(random_state=seed, **params)


def _needs(params: dict[str, Any]) -> tuple[tuple[str, ...], str] | None:
    """A predictor with sentence-encoder columns runs its encoder with ONNX Runtime and tokenizers."""
    return (("onnxruntime", "tokenizers"), "onnx") if params.get("sentence_encoder") else None


MLP = register(Family("tfidf_mlp.v1", TfidfMlpConfig, _build, tfidf_mlp_arrays.save, tfidf_mlp_arrays.load,
                      requirements=("numpy", "scipy"), needs=_needs))
