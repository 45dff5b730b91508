"""Target-sentence similarity columns from a pretrained sentence encoder (``model.sentence_encoder`` of tfidf_mlp).

For a (target, text) pair, the cosine similarities between the target's embedding and the embedding of each of
the text's sentences (``nlpkit.sentences``; all-MiniLM-L6-v2 by default: mean-pooled token vectors scaled to unit
length), summed up in six columns (``COLUMNS``): the best sentence's, the mean of the best three, the mean over all
sentences, the first sentence's, the similarity to the text's mean sentence vector, and where the best sentence
is (0 first, 1 last). A TF-IDF vocabulary fitted on training pairs knows nothing of a new story's words; the
encoder, trained on a billion sentence pairs, places "denies" near "rejects" and a paraphrase near its original,
so these columns carry to stories never seen in training (FNC-1's test set).

The encoder runs as an ONNX graph (exported from the torch model once, at fit: FP32, fused as the encoder families'
graphs are) and its tokenizer as ``tokenizer.json``, at fit and after loading alike: the columns are the same
numbers before and after saving. A saved predictor holds both files in ``sentence_encoder/`` and needs
onnxruntime and tokenizers (the ``onnx`` extra), not torch. Texts are embedded once per call, whatever the
number of pairs they are in.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit import extras
from nlpkit.errors import ModelLoadError
from nlpkit.models import encoders, long_text
from nlpkit.models.tokenizer_json import TOKENIZER_FILE
from nlpkit.sentences import split_sentences

FORMAT = "nlpkit-sentence-similarity/1"
COLUMNS = ("best", "best3", "mean", "first", "centroid", "best_position")
DIRECTORY = "sentence_encoder"
GRAPH_FILE = "model.onnx"
OUTPUT = "embedding"
BATCH = 64
MAX_TOKENS = 128  # special tokens included


class SentenceSimilarity:
    """The six columns of (target, text) pairs from one sentence encoder (an ONNX graph and its tokenizer)."""

    width = len(COLUMNS)

    def __init__(self, graph: bytes, tokenizer_json: str, *, inputs: list[str], pad_token_id: int | None,
                 encoder: str) -> None:
        from tokenizers import Tokenizer

        from nlpkit.models.onnx_runtime import session_runner
        from nlpkit.models.tokenizer_json import TokenizerJson

        self.graph, self.tokenizer_json, self.encoder = graph, tokenizer_json, encoder
        self.tokenizer = TokenizerJson(Tokenizer.from_str(tokenizer_json), model_input_names=inputs,
                                       pad_token_id=pad_token_id)
        self.template = long_text.learn_template(self.tokenizer)
        self.runner = session_runner(graph)

    @classmethod
    def from_encoder(cls, encoder: str) -> SentenceSimilarity:
        """Export ``encoder`` (``model.sentence_encoder``: the packaged default, a directory or a hub name) to an
        ONNX graph; needs torch, transformers and onnxruntime (training only)."""
        from nlpkit.models.onnx_runtime import write_graph

        encoders.require_transformers()
        extras.require("onnx", f"model.sentence_encoder={encoder!r}")
        source, local = encoders.resolve(encoder)
        tokenizer = encoders.load_tokenizer(source, local)
        names = encoders.input_names(tokenizer)
        with tempfile.TemporaryDirectory(prefix="nlpkit-sentence-encoder-") as tmp:
            write_graph(encoders.load_encoder(source, local), names, OUTPUT, Path(tmp) / GRAPH_FILE)
            tokenizer.save_pretrained(tmp)
            graph, text = (Path(tmp) / GRAPH_FILE).read_bytes(), (Path(tmp) / TOKENIZER_FILE).read_text("utf-8")
        return cls(graph, text, inputs=names, pad_token_id=tokenizer.pad_token_id, encoder=encoder)

    def transform(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """An (n_pairs, 6) float64 array of ``COLUMNS``."""
        targets = sorted({t for t, _ in pairs})
        texts = sorted({x for _, x in pairs})
        sentences = [_sentences(x) for x in texts]
        vectors = self.embed(targets + [s for group in sentences for s in group])
        target_of = dict(zip(targets, vectors[: len(targets)]))
        text_of, start = {}, len(targets)
        for text, group in zip(texts, sentences):
            text_of[text], start = vectors[start:start + len(group)], start + len(group)
        return np.array([_columns(target_of[t], text_of[x]) for t, x in pairs], dtype=np.float64).reshape(-1, self.width)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length mean-pooled embeddings of ``texts`` (float32, one row each), in padded batches by length;
        a text keeps its first ``MAX_TOKENS`` tokens (the encoder families' ``head`` policy)."""
        encoded = long_text.encode(self.tokenizer, self.template, texts, max_length=MAX_TOKENS, policy="head")
        out = long_text.run_windows(encoded, self.runner, BATCH, self.tokenizer.pad_token_id or 0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def spec(self) -> dict[str, Any]:
        """What ``mlp.json`` records: the format, the columns, the encoder's name and the graph's inputs."""
        return {"format": FORMAT, "columns": list(COLUMNS), "encoder": self.encoder,
                "inputs": list(self.tokenizer.model_input_names), "pad_token_id": self.tokenizer.pad_token_id}

    def save(self, directory: Path) -> None:
        """Write the graph and the tokenizer into ``directory/sentence_encoder/``."""
        folder = Path(directory) / DIRECTORY
        folder.mkdir(parents=True, exist_ok=True)
        (folder / GRAPH_FILE).write_bytes(self.graph)
        (folder / TOKENIZER_FILE).write_text(self.tokenizer_json, encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> SentenceSimilarity:
        """The columns' encoder saved in ``directory`` (ONNX Runtime and tokenizers: no torch, no network)."""
        extras.require("onnx", "A TF-IDF + MLP predictor with sentence-encoder columns")
        if spec.get("format") != FORMAT or list(spec.get("columns", ())) != list(COLUMNS):
            raise ValueError(f"sentence similarity {json.dumps(spec)[:200]}, expected format {FORMAT} with "
                             f"columns {list(COLUMNS)}")
        folder = Path(directory) / DIRECTORY
        missing = [name for name in (GRAPH_FILE, TOKENIZER_FILE) if not (folder / name).is_file()]
        if missing:
            raise ModelLoadError(f"{folder} lacks {', '.join(missing)}; expected the sentence encoder's ONNX graph and "
                                 "tokenizer that nlpkit saves with this predictor. Fix: copy the whole predictor "
                                 "directory again.")
        return cls((folder / GRAPH_FILE).read_bytes(), (folder / TOKENIZER_FILE).read_text("utf-8"),
                   inputs=list(spec["inputs"]), pad_token_id=spec.get("pad_token_id"), encoder=str(spec["encoder"]))


def _sentences(text: str) -> list[str]:
    """The text's sentences (the whole text as one when it has none; a single space for an empty text)."""
    found = [text[a:b] for a, b in split_sentences(text)]
    return found or [text if text.strip() else " "]


def _columns(target: np.ndarray, sentences: np.ndarray) -> list[float]:
    """``COLUMNS`` of one pair from the target's unit vector and its text's sentence unit vectors."""
    scores = sentences @ target
    ranked = np.sort(scores)[::-1]
    centroid = sentences.mean(axis=0)
    best = int(np.argmax(scores))
    return [float(ranked[0]), float(ranked[:3].mean()), float(scores.mean()), float(scores[0]),
            float(centroid @ target / max(float(np.linalg.norm(centroid)), 1e-12)),
            best / max(len(scores) - 1, 1)]
