"""Where the time of nlpkit's fine-tuning loop goes: wall time per phase of a training step.

Times the phases of ``nlpkit.models.finetune_loop.Loop`` (one method each) by wrapping them with a clock, on the
same recipe and data as ``run.py`` (one epoch of ``--steps`` steps, no hold-out). From the repository root:

    python experiments/finetune_speed/phases.py --data ../shared/datasets/conflibert_cameo
    python experiments/finetune_speed/phases.py --data ../shared/datasets/conflibert_cameo --before

``--before``: the loop as it was before issue 15 (torch's default AdamW, shuffled batches without length grouping).

Phases: ``inputs`` (batch collation: pad the pre-tokenised windows, make tensors), ``forward`` (encoder + head,
pooling), ``backward``, ``update`` (clip the gradient norm, optimizer step, schedule, zero the gradients), and
``other`` (the epoch's wall time minus those: batch order, loss, Python overhead per step).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from experiments.finetune_speed.run import load_cameo, sample  # noqa: E402

PHASES = ("_inputs", "_forward", "_backward", "_update")


def clocked(totals: dict[str, float], name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            totals[name] += time.perf_counter() - start

    return timed


def profile(texts: list[str], labels: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Fit once with every phase method of ``Loop`` wrapped by a clock; seconds per phase and padding."""
    import torch

    from nlpkit.models import finetune_loop
    from nlpkit.models.finetune import FinetuneClassifier

    if args.before:
        finetune_loop.adamw = lambda groups, lr: torch.optim.AdamW(groups, lr=lr)
    totals = dict.fromkeys(PHASES, 0.0)
    tokens = {"real": 0, "padded": 0}
    for name in PHASES:
        setattr(finetune_loop.Loop, name, clocked(totals, name, getattr(finetune_loop.Loop, name)))
    inputs = finetune_loop.Loop._inputs

    def counted(self: Any, docs: Any) -> Any:
        batch = inputs(self, docs)
        tokens["real"] += int(batch["attention_mask"].sum())
        tokens["padded"] += batch["attention_mask"].numel()
        return batch

    finetune_loop.Loop._inputs = counted
    clf = FinetuneClassifier(epochs=1, learning_rate=5e-5, batch_size=args.batch, max_length=args.max_length,
                             validation_fraction=0, warmup_ratio=0, weight_decay=0, progress=False,
                             group_by_length=not args.before, random_state=args.seed)
    load = os.getloadavg()[0]
    clf.fit(texts, labels)
    epoch = clf.history_[0]["epoch_seconds"]
    steps = -(-len(texts) // args.batch)
    row = {f"{k.strip('_')}_ms": 1000 * v / steps for k, v in totals.items()}
    row["other_ms"] = 1000 * (epoch - sum(totals.values())) / steps
    row.update(step_ms=1000 * epoch / steps, padding_share=1 - tokens["real"] / tokens["padded"],
               examples_per_s=len(texts) / epoch, load=f"{load:.2f} → {os.getloadavg()[0]:.2f}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "conflibert_cameo")
    parser.add_argument("--steps", type=int, default=60, help="60 x 8 = 480 documents: one mega-batch, grouped")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", action="store_true", help="the loop before issue 15")
    args = parser.parse_args()
    if not (args.data / "train.csv").is_file():
        raise SystemExit(f"skipped: {args.data / 'train.csv'} not found (pass --data FOLDER)")
    import torch

    torch.set_num_threads(args.threads)
    texts, labels = sample(*load_cameo(args.data), args.steps * args.batch, args.seed)
    row = profile(texts, labels, args)
    print(json.dumps(row))
    print("\n| " + " | ".join(row) + " |\n|" + "---|" * len(row))
    print("| " + " | ".join(f"{v:.1f}" if isinstance(v, float) and k != "padding_share" else
                            (f"{v:.2f}" if isinstance(v, float) else str(v)) for k, v in row.items()) + " |")


if __name__ == "__main__":
    main()
