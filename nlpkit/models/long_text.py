"""Long texts: turn texts or (target, text) pairs into token windows under a ``long_text`` policy.

Policies (the same code runs in fit and predict, so training and prediction see identical windows):

- ``head``: the first tokens that fit;
- ``head_tail``: the first ``head_share`` of the budget and the last tokens (Sun et al. 2019 found this best
  for long reviews with BERT);
- ``chunks``: overlapping windows (``chunk_stride`` tokens shared by neighbours), at most ``max_chunks`` per
  document; the model pools the windows' outputs into one prediction per document.

Every encoding reports how much its policy dropped: the share of documents that lost tokens and the share of
all text tokens lost (targets of stance pairs are short and counted apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from nlpkit.errors import ConfigError

POLICIES = ("head", "head_tail", "chunks")
TARGET_SHARE = 0.25  # a stance target may take at most this share of a window


@dataclass(frozen=True)
class Template:
    """Where a tokenizer puts its special tokens around one text or a pair (learned from the tokenizer)."""

    single: tuple[list[int], list[int]]  # (prefix ids, suffix ids)
    pair: tuple[list[int], list[int], list[int]]  # (prefix, middle, suffix)
    second_type: int  # token type id of the second segment (0 for models without segments)

    @property
    def single_extra(self) -> int:
        return sum(len(p) for p in self.single)

    @property
    def pair_extra(self) -> int:
        return sum(len(p) for p in self.pair)


@dataclass
class Encoded:
    """Token windows of a batch of documents; ``doc`` gives the document index of each window."""

    ids: list[list[int]] = field(default_factory=list)
    types: list[list[int]] = field(default_factory=list)
    doc: list[int] = field(default_factory=list)
    n_docs: int = 0
    docs_truncated: int = 0
    tokens_total: int = 0
    tokens_dropped: int = 0

    def stats(self) -> dict[str, float]:
        """Share of documents and of text tokens that the policy dropped, and windows per document."""
        return {
            "docs_truncated_share": self.docs_truncated / max(self.n_docs, 1),
            "tokens_dropped_share": self.tokens_dropped / max(self.tokens_total, 1),
            "windows_per_doc": len(self.ids) / max(self.n_docs, 1),
        }


def learn_template(tokenizer: Any) -> Template:
    """Find the special tokens a tokenizer adds, by encoding two probe words with and without them."""
    a, b = (tokenizer(w, add_special_tokens=False)["input_ids"] for w in ("hello", "world"))
    one = tokenizer("hello")
    two = tokenizer("hello", "world")
    ia = _find(one["input_ids"], a, tokenizer)
    single = (one["input_ids"][:ia], one["input_ids"][ia + len(a):])
    ja = _find(two["input_ids"], a, tokenizer)
    jb = _find(two["input_ids"], b, tokenizer, start=ja + len(a))
    ids = two["input_ids"]
    pair = (ids[:ja], ids[ja + len(a):jb], ids[jb + len(b):])
    second_type = int(two["token_type_ids"][jb]) if "token_type_ids" in two else 0
    return Template(single=single, pair=pair, second_type=second_type)


def _find(haystack: list[int], needle: list[int], tokenizer: Any, start: int = 0) -> int:
    for i in range(start, len(haystack) - len(needle) + 1):
        if haystack[i:i + len(needle)] == needle:
            return i
    raise ConfigError(
        f"Could not tell where {type(tokenizer).__name__} puts its special tokens (probe words not found in "
        f"{haystack}). Expected a BERT/RoBERTa-style tokenizer. Fix: use another encoder, e.g. the default "
        "model.encoder=all-MiniLM-L6-v2."
    )


def check_policy(policy: str, max_length: int, head_share: float, chunk_stride: int, max_chunks: int) -> None:
    """Raise ConfigError, naming the key, for a policy setting outside its range."""
    if policy not in POLICIES:
        raise ConfigError(f"model.long_text must be one of {POLICIES}; got {policy!r}. Fix: e.g. model.long_text=head.")
    if max_length < 16:
        raise ConfigError(f"model.max_length must be an int >= 16; got {max_length}. Fix: e.g. model.max_length=256.")
    if not 0.0 < head_share < 1.0:
        raise ConfigError(f"model.head_share must be in (0, 1); got {head_share}. Fix: e.g. model.head_share=0.25.")
    if policy == "chunks" and not 0 <= chunk_stride < max_length // 2:
        raise ConfigError(
            f"model.chunk_stride must be in [0, max_length/2) = [0, {max_length // 2}); got {chunk_stride}. "
            "Fix: e.g. model.chunk_stride=32."
        )
    if max_chunks < 1:
        raise ConfigError(f"model.max_chunks must be an int >= 1; got {max_chunks}. Fix: e.g. model.max_chunks=8.")


def encode(
    tokenizer: Any,
    template: Template,
    items: list[Any],
    *,
    max_length: int,
    policy: str = "head",
    head_share: float = 0.25,
    chunk_stride: int = 32,
    max_chunks: int = 8,
) -> Encoded:
    """Tokenize ``items`` (texts or (target, text) pairs) into windows of at most ``max_length`` tokens."""
    pairs = isinstance(items[0], tuple)
    texts = [x[1] if pairs else x for x in items]
    text_ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    target_ids = tokenizer([x[0] for x in items], add_special_tokens=False)["input_ids"] if pairs else None
    out = Encoded(n_docs=len(items))
    for d, ids in enumerate(text_ids):
        target = target_ids[d][: int(max_length * TARGET_SHARE)] if target_ids is not None else None
        extra = template.pair_extra + len(target) if target is not None else template.single_extra
        budget = max_length - extra
        pieces = _windows(ids, budget, policy, head_share, chunk_stride, max_chunks)
        kept = len(set().union(*(range(s, e) for s, e in pieces))) if policy == "chunks" else sum(e - s for s, e in pieces)
        out.tokens_total += len(ids)
        out.tokens_dropped += len(ids) - kept
        out.docs_truncated += kept < len(ids)
        for window in _assemble(ids, pieces, policy):
            wids, wtypes = _with_specials(template, window, target)
            out.ids.append(wids)
            out.types.append(wtypes)
            out.doc.append(d)
    return out


def _windows(ids: list[int], budget: int, policy: str, head_share: float, stride: int, max_chunks: int) -> list[tuple[int, int]]:
    """Token spans (start, end) that the policy keeps; for chunks, one span per window."""
    n = len(ids)
    if n <= budget:
        return [(0, n)]
    if policy == "head":
        return [(0, budget)]
    if policy == "head_tail":
        head = int(budget * head_share)
        return [(0, head), (n - (budget - head), n)]
    step = budget - stride
    starts = range(0, max(n - stride, 1), step)
    return [(s, min(s + budget, n)) for s in starts][:max_chunks]


def _assemble(ids: list[int], pieces: list[tuple[int, int]], policy: str) -> list[list[int]]:
    if policy == "head_tail":
        return [[t for s, e in pieces for t in ids[s:e]]]
    return [ids[s:e] for s, e in pieces]


def _with_specials(template: Template, window: list[int], target: list[int] | None) -> tuple[list[int], list[int]]:
    if target is None:
        prefix, suffix = template.single
        return prefix + window + suffix, [0] * (len(prefix) + len(window) + len(suffix))
    prefix, middle, suffix = template.pair
    first = prefix + target + middle
    second = window + suffix
    return first + second, [0] * len(first) + [template.second_type] * len(second)


def batches(encoded: Encoded, batch_size: int, pad_id: int) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Padded numpy batches of windows, sorted by length (less padding), with each window's index."""
    order = np.argsort([len(w) for w in encoded.ids], kind="stable")
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        yield pad([encoded.ids[i] for i in chosen], [encoded.types[i] for i in chosen], pad_id), chosen


def run_windows(encoded: Encoded, runner: Callable[[dict[str, np.ndarray]], np.ndarray], batch_size: int,
                pad_id: int, wrap: Callable[[Iterator[Any]], Iterable[Any]] | None = None) -> np.ndarray:
    """Every window's ``runner`` output (float32, one row per window, in window order), run in padded batches by
    length; ``wrap`` may wrap the batch iterator (a progress bar)."""
    out: np.ndarray | None = None
    batched = batches(encoded, batch_size, pad_id)
    for batch, index in (wrap(batched) if wrap is not None else batched):
        values = runner(batch)
        if out is None:
            out = np.empty((len(encoded.ids), values.shape[1]), dtype=np.float32)
        out[index] = values
    return out if out is not None else np.empty((0, 0), dtype=np.float32)


def pad(ids: list[list[int]], types: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    """Right-pad windows into int64 arrays: input_ids, attention_mask, token_type_ids."""
    width = max(len(w) for w in ids)
    arrays = {name: np.full((len(ids), width), fill, dtype=np.int64)
              for name, fill in (("input_ids", pad_id), ("attention_mask", 0), ("token_type_ids", 0))}
    for row, (w, t) in enumerate(zip(ids, types)):
        arrays["input_ids"][row, : len(w)] = w
        arrays["attention_mask"][row, : len(w)] = 1
        arrays["token_type_ids"][row, : len(t)] = t
    return arrays


def check_pooling(how: str) -> None:
    """Raise ConfigError unless ``how`` is ``mean`` or ``max``."""
    if how not in ("mean", "max"):
        raise ConfigError(f"model.chunk_pooling must be 'mean' or 'max'; got {how!r}. Fix: model.chunk_pooling=mean.")


def pool(values: np.ndarray, doc: np.ndarray, n_docs: int, how: str) -> np.ndarray:
    """One row per document: the mean or max of its windows' rows."""
    check_pooling(how)
    out = np.full((n_docs, values.shape[1]), -np.inf if how == "max" else 0.0, dtype=values.dtype)
    if how == "max":
        np.maximum.at(out, doc, values)
        return out
    np.add.at(out, doc, values)
    return out / np.bincount(doc, minlength=n_docs)[:, None]
