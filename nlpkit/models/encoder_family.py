"""Registry entries of the encoder kinds (``embed_logreg.v1``, ``finetune.v1``): schemas, builders, save/load.

Light on purpose (neither torch, transformers nor scikit-learn is imported): the prediction runtime imports it
through ``nlpkit.models``. Both kinds save and load through ``nlpkit.models.transformer_io``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Optional

from nlpkit.models import transformer_io
from nlpkit.models.registry import Family, ModelConfig, register


class LongTextPolicy(Enum):
    head = "head"  # keep the first tokens
    head_tail = "head_tail"  # keep the first head_share of the budget and the last tokens
    chunks = "chunks"  # overlapping windows, pooled (chunk_pooling) into one prediction per document


class ChunkPooling(Enum):
    mean = "mean"
    max = "max"


@dataclass
class EncoderModelConfig(ModelConfig):
    """Shared by the encoder families: which encoder, how texts become token windows, batching."""

    kind: str = "embed_logreg.v1"
    encoder: str = "all-MiniLM-L6-v2"  # the packaged default, a local from_pretrained directory or a hub name
    max_length: int = 256  # tokens per window, special tokens included
    batch_size: int = 16
    long_text: LongTextPolicy = LongTextPolicy.head
    head_share: float = 0.25  # head_tail: share of the text budget given to the head
    chunk_pooling: ChunkPooling = ChunkPooling.mean
    chunk_stride: int = 32  # chunks: tokens shared by consecutive windows
    max_chunks: int = 8  # chunks: windows per document at most (the rest is dropped and reported)
    progress: bool = False  # a tqdm progress bar


@dataclass
class EmbedModelConfig(EncoderModelConfig):
    kind: str = "embed_logreg.v1"
    C: Optional[float] = None  # null: chosen from embed_head.C_GRID by 5-fold CV on the training embeddings
    class_weight: Optional[str] = "balanced"


@dataclass
class FinetuneModelConfig(EncoderModelConfig):
    kind: str = "finetune.v1"
    max_length: int = 128
    batch_size: int = 8  # training and inference; 8 is the Trainer recipe the accuracy bar used
    epochs: int = 6
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2  # epochs without a better validation macro-F1 before stopping
    early_stopping: bool = True  # false: run every epoch and keep the last (validation still scored per epoch)
    validation_fraction: float = 0.1  # stratified hold-out of the training set for early stopping; 0: none
    class_weight: Optional[str] = None  # "balanced": loss weights inverse to class frequency
    refit: bool = False  # after early stopping: fine-tune again on train + validation for the chosen epochs
    # (same learning-rate schedule as the selection run, stopped at the chosen epoch)
    group_by_length: bool = True  # batches of similar lengths (less padding, faster), members still shuffled
    progress: bool = True


def _builder(family: str) -> Callable[[dict[str, Any], int], Any]:
    def build(params: dict[str, Any], seed: int) -> Any:
        return transformer_io.estimator_class(family)(random_state=seed, **params)

    return build


EMBED = register(Family("embed_logreg.v1", EmbedModelConfig, _builder("embed_logreg"), transformer_io.save,
                        transformer_io.load, requirements=transformer_io.REQUIREMENTS, extra="onnx"))
FINETUNE = register(Family("finetune.v1", FinetuneModelConfig, _builder("finetune"), transformer_io.save,
                           transformer_io.load, requirements=transformer_io.REQUIREMENTS, extra="onnx"))
