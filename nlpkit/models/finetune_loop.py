"""The fine-tuning loop: epochs of AdamW steps over document batches, validation, early stopping, the curve.

Batches hold whole documents (all their windows), so the loss is computed on each document's pooled logits
exactly as prediction pools them. The best epoch's weights (by validation macro-F1) are restored at the end.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from nlpkit.models import long_text

log = logging.getLogger(__name__)

MEGA_BATCHES = 50  # length grouping sorts windows of this many batches at a time (as transformers does)


def holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A stratified (train, validation) index split, or None when ``fraction`` is 0 or the data too small."""
    if fraction <= 0:
        return None
    counts = np.bincount(labels)
    n_val = int(round(fraction * len(labels)))
    if counts[counts > 0].min() < 2 or n_val < len(counts[counts > 0]) or len(labels) - n_val < len(counts):
        log.warning(
            "finetune: %d examples are too few for a stratified %.0f%% validation hold-out (a class has %d); "
            "training every epoch without early stopping.", len(labels), 100 * fraction, counts[counts > 0].min(),
        )
        return None
    from sklearn.model_selection import train_test_split

    train_idx, val_idx = train_test_split(np.arange(len(labels)), test_size=n_val, stratify=labels, random_state=seed)
    return np.sort(train_idx), np.sort(val_idx)


class Loop:
    """One fine-tuning run of ``clf.model_`` on encoded training documents."""

    def __init__(self, clf: Any, train: long_text.Encoded, labels: np.ndarray,
                 val: long_text.Encoded | None, val_labels: np.ndarray | None,
                 epochs: int | None = None) -> None:
        """Train for ``epochs`` (default ``clf.epochs``) on the learning-rate schedule of ``clf.epochs`` epochs:
        a shorter run (the refit) replays the first epochs of the schedule that the selection run followed."""
        import torch

        self.clf, self.train, self.labels, self.val, self.val_labels = clf, train, labels, val, val_labels
        self.epochs = epochs or clf.epochs
        self.windows = _windows_by_doc(train)
        self.input_names = self._input_names()
        self.sizes = np.asarray([len(w) for w in self.windows])  # windows per document
        self.longest = np.asarray([max((len(train.ids[i]) for i in w), default=0) for w in self.windows])
        self.generator = torch.Generator().manual_seed(clf.random_state)
        self.history: list[dict[str, float]] = []
        self.best_epoch, self.best_f1 = 0, -1.0
        self.best_state: dict[str, Any] | None = None

    def run(self) -> list[dict[str, float]]:
        """Train up to ``epochs`` epochs; with early stopping, stop after ``patience`` epochs without a better
        validation F1 and restore the best epoch's weights (without it, every epoch runs and the last is kept)."""
        optimizer, scheduler = self._optimizer()
        loss_fn = self._loss()
        bar = self._bar()
        for epoch in range(1, self.epochs + 1):
            start = time.perf_counter()
            train_loss = self._epoch(optimizer, scheduler, loss_fn, bar)
            row = {"epoch": float(epoch), "train_loss": train_loss, "epoch_seconds": time.perf_counter() - start,
                   "learning_rate": float(scheduler.get_last_lr()[0])}
            if self.val is not None:
                row["validation_macro_f1"], row["validation_loss"] = self.clf.validation_scores(self.val, self.val_labels)
            self._record(row, bar)
            if self._should_stop(epoch, row):
                break
        if bar is not None:
            bar.close()
        if self.best_state is not None:  # only kept with early stopping
            self.clf.model_.load_state_dict(self.best_state)
        return self.history

    def chosen_epoch(self) -> int:
        """The epoch whose weights the run kept: the best on validation, or the last without early stopping."""
        return self.best_epoch if self.clf.early_stopping and self.val is not None else len(self.history)

    def report(self) -> dict[str, float]:
        """Summary for ``fit_report_``: epochs run, best epoch and its validation macro-F1, validation size."""
        out = {"epochs_run": float(len(self.history)), "final_loss": self.history[-1]["train_loss"]}
        if self.val is not None:
            out.update({"best_epoch": float(self.best_epoch), "best_validation_macro_f1": self.best_f1,
                        "validation_size": float(self.val.n_docs)})
        return out

    # -- steps -----------------------------------------------------------------------------------------
    def _epoch(self, optimizer: Any, scheduler: Any, loss_fn: Any, bar: Any) -> float:
        """One pass over the training documents; the mean training loss (summed as a tensor: no sync per step)."""
        import torch

        self.clf.model_.train()
        total, seen = torch.zeros((), dtype=torch.float64), 0
        for docs in self._doc_batches():
            loss = loss_fn(self._forward(self._inputs(docs), docs), torch.as_tensor(self.labels[docs], dtype=torch.long))
            self._backward(loss)
            self._update(optimizer, scheduler)
            total += loss.detach().double() * len(docs)
            seen += len(docs)
            if bar is not None:
                bar.update(1)
        self.clf.model_.eval()
        return float(total) / max(seen, 1)

    # The phases of a step, one method each (experiments/finetune_speed/phases.py times them).
    def _inputs(self, docs: np.ndarray) -> dict[str, Any]:
        """The windows of ``docs`` as tensors padded to the longest window in the batch."""
        import torch

        rows = [w for d in docs for w in self.windows[d]]
        batch = long_text.pad([self.train.ids[r] for r in rows], [self.train.types[r] for r in rows],
                              self.clf.tokenizer_.pad_token_id or 0)
        return {n: torch.from_numpy(batch[n]) for n in self.input_names}

    def _forward(self, inputs: dict[str, Any], docs: np.ndarray) -> Any:
        """Logits per document: its windows' logits pooled by ``chunk_pooling`` (one window: as is)."""
        import torch

        logits = self.clf.model_(**inputs).logits
        if logits.shape[0] == len(docs):
            return logits
        owner = torch.as_tensor([i for i, d in enumerate(docs) for _ in self.windows[d]], dtype=torch.long)
        how = "amax" if self.clf._pooling() == "max" else "mean"
        out = torch.zeros(len(docs), logits.shape[1], dtype=logits.dtype)
        return out.scatter_reduce(0, owner[:, None].expand_as(logits), logits, how, include_self=False)

    def _backward(self, loss: Any) -> None:
        loss.backward()

    def _update(self, optimizer: Any, scheduler: Any) -> None:
        """Clip the gradient norm at 1, step the optimizer and the schedule, clear the gradients."""
        import torch

        torch.nn.utils.clip_grad_norm_(self.clf.model_.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    def _doc_batches(self) -> list[np.ndarray]:
        """This epoch's batches of document indices: shuffled (seeded), length-grouped when ``group_by_length``."""
        import torch

        order = torch.randperm(len(self.windows), generator=self.generator).numpy()
        grouped = length_grouped(order, self.longest, self.clf.batch_size) if self.clf.group_by_length else order
        batches = fill_batches(grouped, self.sizes, self.clf.batch_size)
        if grouped is order:  # not grouped (or too few documents): the shuffled order as it is
            return batches
        shuffle = torch.randperm(len(batches), generator=self.generator).numpy()  # grouped batches, random order
        return [batches[i] for i in shuffle]

    def _optimizer(self) -> tuple[Any, Any]:
        from transformers import get_linear_schedule_with_warmup

        decay: list[Any] = []
        no_decay: list[Any] = []
        for param in self.clf.model_.parameters():
            (no_decay if param.ndim < 2 else decay).append(param)  # no decay on biases and LayerNorm weights
        groups = [{"params": decay, "weight_decay": self.clf.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        optimizer = adamw(groups, self.clf.learning_rate)
        steps = self._steps_per_epoch() * self.clf.epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, int(self.clf.warmup_ratio * steps), steps)
        return optimizer, scheduler

    def _loss(self) -> Any:
        import torch

        if self.clf.class_weight != "balanced":
            return torch.nn.CrossEntropyLoss()
        counts = np.bincount(self.labels, minlength=len(self.clf.classes_)).astype(np.float64)
        weights = len(self.labels) / (len(counts) * np.maximum(counts, 1))
        return torch.nn.CrossEntropyLoss(weight=torch.as_tensor(weights, dtype=torch.float32))

    def _steps_per_epoch(self) -> int:
        return max(1, -(-len(self.train.ids) // self.clf.batch_size))

    def _input_names(self) -> list[str]:
        from nlpkit.models.encoders import input_names

        return input_names(self.clf.tokenizer_)

    def _bar(self) -> Any:
        if not self.clf.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self._steps_per_epoch() * self.epochs, desc="fine-tuning", unit="step", leave=False)

    def _record(self, row: dict[str, float], bar: Any) -> None:
        self.history.append(row)
        if bar is not None:
            bar.set_postfix({k: round(v, 3) for k, v in row.items() if k != "epoch"})

    def _should_stop(self, epoch: int, row: dict[str, float]) -> bool:
        if "validation_macro_f1" not in row:
            return False
        if row["validation_macro_f1"] > self.best_f1:
            self.best_epoch, self.best_f1 = epoch, row["validation_macro_f1"]
            if self.clf.early_stopping:
                self.best_state = {k: v.detach().clone() for k, v in self.clf.model_.state_dict().items()}
            return False
        return self.clf.early_stopping and epoch - self.best_epoch >= self.clf.patience


def _windows_by_doc(encoded: long_text.Encoded) -> list[list[int]]:
    windows: list[list[int]] = [[] for _ in range(encoded.n_docs)]
    for w, d in enumerate(encoded.doc):
        windows[d].append(w)
    return windows


def fill_batches(order: np.ndarray, sizes: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Documents in ``order`` cut into batches of about ``batch_size`` windows (a batch closes once it holds at
    least ``batch_size``; the last may hold fewer)."""
    batches, current, size = [], [], 0
    for d in order:
        current.append(d)
        size += int(sizes[d])
        if size >= batch_size:
            batches.append(np.asarray(current))
            current, size = [], 0
    if current:
        batches.append(np.asarray(current))
    return batches


def length_grouped(order: np.ndarray, lengths: np.ndarray, batch_size: int) -> np.ndarray:
    """``order`` cut into mega-batches of at least ``MEGA_BATCHES x batch_size`` documents (the remainder joins
    the last), each sorted by length, longest first: neighbours then have similar lengths, so a batch padded to
    its longest window carries little padding, while which documents meet in a batch stays random (the HF
    Trainer's ``group_by_length``). Fewer documents than one mega-batch stay in ``order``: sorting a small set
    whole would put the same documents together in every epoch (and tiny sets cost little padding anyway)."""
    size = MEGA_BATCHES * batch_size
    if len(order) < size:
        return order
    bounds = [*range(0, len(order) // size * size, size), len(order)]
    parts = [order[a:b] for a, b in zip(bounds, bounds[1:])]
    return np.concatenate([p[np.argsort(-lengths[p], kind="stable")] for p in parts])


def adamw(groups: list[dict[str, Any]], lr: float) -> Any:
    """torch's AdamW, fused (one kernel over all parameters; ~5x faster steps on CPU than the per-parameter
    loop, and what the HF Trainer uses by default), or ``foreach`` where this torch build cannot fuse."""
    import torch

    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:  # fused needs floating-point parameters on a supported device
        return torch.optim.AdamW(groups, lr=lr, foreach=True)
