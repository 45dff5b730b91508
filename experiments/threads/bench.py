"""Fine-tuning speed by ``runtime.threads``: steps per second of ``model=finetune`` (the packaged MiniLM encoder)
on a slice of the embedded corpus, one fresh process per setting (torch's inter-op threads can be set once
per process), with the machine's load average recorded before and after each.

    python experiments/threads/bench.py --threads 1 2 null --max-rows 100 --epochs 1 --out experiments/threads/results.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def one(threads: str, max_rows: int, epochs: int) -> dict:
    """Train once in this process; steps/s over the training epochs (validation and evaluation excluded)."""
    from nlpkit import compose, train

    with tempfile.TemporaryDirectory() as out:
        cfg = compose(["model=finetune", f"runtime.threads={threads}", f"data.max_rows={max_rows}",
                       f"model.epochs={epochs}", "model.early_stopping=false", "model.progress=false",
                       "tracking=off", f"output_dir={out}"])
        result = train(cfg)
    model = result.predictor.model
    steps = -(-result.sizes["train"] // model.batch_size) * len(model.history_)
    seconds = sum(row["epoch_seconds"] for row in model.history_)
    return {"threads": threads, "applied": result.predictor.metadata["config"]["runtime"]["threads"],
            "steps": steps, "train_seconds": seconds, "steps_per_s": steps / seconds}


def measure(threads: str, max_rows: int, epochs: int) -> dict:
    """``one`` in a fresh process, with the 1-minute load average before and after it."""
    before = os.getloadavg()[0]
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--one", threads, "--max-rows", str(max_rows),
                          "--epochs", str(epochs)], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_DISABLE_TELEMETRY": "true"})
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row.update(load_before=before, load_after=os.getloadavg()[0], wall_s=time.perf_counter() - start)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| runtime.threads | applied | steps | training s | steps/s | load (1 min) before → after | process wall s |",
             "|---|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {r['threads']} | {r['applied']} | {r['steps']} | {r['train_seconds']:.1f} | {r['steps_per_s']:.3f} | "
              f"{r['load_before']:.2f} → {r['load_after']:.2f} | {r['wall_s']:.0f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", nargs="+", default=["1", "2", "null"])
    parser.add_argument("--max-rows", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.max_rows, args.epochs)))
        return
    rows = []
    for threads in args.threads:
        rows.append(measure(threads, args.max_rows, args.epochs))
        print(json.dumps(rows[-1]), flush=True)
    text = f"CPUs available: {len(os.sched_getaffinity(0))}; `uptime` after: {os.getloadavg()}\n\n{table(rows)}\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
