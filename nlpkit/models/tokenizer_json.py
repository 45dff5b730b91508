"""An encoder's tokenizer without transformers: ``tokenizers.Tokenizer`` read from the saved ``tokenizer.json``.

nlpkit.models.long_text and the encoder base call a tokenizer the way transformers does (``TokenizerLike``):
``tokenizer(texts, add_special_tokens=False)["input_ids"]``, ``tokenizer("hello", "world")`` for the
special-token template, ``pad_token_id`` and ``model_input_names``. A transformers fast tokenizer is a thin
layer over the same ``tokenizers.Tokenizer`` that ``save_pretrained`` writes to ``tokenizer.json``, so
``TokenizerJson`` gives the same ids (tests/test_onnx_runtime.py compares them). What transformers keeps
outside that file (the pad token id, which inputs the model takes) is written to ``estimator.json`` at save
time and passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nlpkit.errors import ModelLoadError

TOKENIZER_FILE = "tokenizer.json"


class TokenizerLike(Protocol):
    """What nlpkit asks of a tokenizer (transformers' fast tokenizers and ``TokenizerJson`` both qualify)."""

    model_input_names: list[str]
    pad_token_id: int | None

    def __call__(self, text: Any, text_pair: Any = None, *, add_special_tokens: bool = True,
                 verbose: bool = True) -> dict[str, Any]: ...


class TokenizerJson:
    """The subset of the transformers tokenizer call API that nlpkit uses, over ``tokenizers.Tokenizer``.

    No truncation and no padding (long_text makes the windows and pads the batches itself)."""

    def __init__(self, backend: Any, *, model_input_names: list[str], pad_token_id: int | None) -> None:
        backend.no_truncation()
        backend.no_padding()
        self.backend = backend
        self.model_input_names = list(model_input_names)
        self.pad_token_id = pad_token_id

    @classmethod
    def from_dir(cls, encoder_dir: Path, *, model_input_names: list[str], pad_token_id: int | None) -> TokenizerJson:
        """Read ``encoder_dir/tokenizer.json`` (data only: no code, no network)."""
        from tokenizers import Tokenizer

        path = Path(encoder_dir) / TOKENIZER_FILE
        if not path.is_file():
            raise ModelLoadError(
                f"No {TOKENIZER_FILE} in {encoder_dir}; expected the fast tokenizer file that save_pretrained writes. "
                "Fix: load this predictor with runtime='torch', or get it again from its source."
            )
        try:
            backend = Tokenizer.from_file(str(path))
        except Exception as err:  # tokenizers raises a plain Exception for a malformed file
            raise ModelLoadError(
                f"{path} could not be read by tokenizers ({' '.join(str(err).split())[:200]}); expected a tokenizer "
                "file written by save_pretrained. Fix: get the predictor again from its source."
            ) from None
        return cls(backend, model_input_names=model_input_names, pad_token_id=pad_token_id)

    def __call__(self, text: Any, text_pair: Any = None, *, add_special_tokens: bool = True,
                 verbose: bool = True) -> dict[str, Any]:
        """``{"input_ids", "attention_mask"[, "token_type_ids"]}`` for one text (lists) or a batch (lists of lists)."""
        if isinstance(text, str):
            return self._fields([self.backend.encode(text, text_pair, add_special_tokens=add_special_tokens)], one=True)
        batch = list(text) if text_pair is None else list(zip(text, text_pair))
        return self._fields(self.backend.encode_batch(batch, add_special_tokens=add_special_tokens), one=False)

    def _fields(self, encodings: list[Any], one: bool) -> dict[str, Any]:
        fields = {"input_ids": [e.ids for e in encodings], "attention_mask": [e.attention_mask for e in encodings]}
        if "token_type_ids" in self.model_input_names:
            fields["token_type_ids"] = [e.type_ids for e in encodings]
        return {k: v[0] for k, v in fields.items()} if one else fields
