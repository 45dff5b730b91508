"""Fine-tuning speed: nlpkit's loop against the Hugging Face ``Trainer``, same recipe, same run, same threads.

Each (data set, system) pair runs in a fresh child process, back to back, so peak RSS is the child's own and no
system inherits another's warm caches or thread pools. Every child sets torch to ``--threads`` intra- and
inter-op threads before any work. From the repository root:

    python experiments/finetune_speed/run.py --data ../shared/datasets/conflibert_cameo

Prints one JSON line per child and a Markdown table: training examples/s (steps x batch / wall time of the
training loop only, the first step included for every system), the same per CPU-second of the process (less
sensitive to other jobs on a shared machine), peak RSS, mean training loss, load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ESCALATION = {"material_conflict": "escalatory", "verbal_conflict": "escalatory",
              "material_cooperation": "de_escalatory", "verbal_cooperation": "de_escalatory",
              "make_a_statement": "neutral"}
SYSTEMS = ("nlpkit", "nlpkit_before", "nlpkit_ungrouped", "trainer_random", "trainer_group_by_length")
DEFAULT_SYSTEMS = ["nlpkit", "trainer_random", "trainer_group_by_length"]
COLUMNS = ["data", "system", "threads", "steps", "examples", "loop s", "examples/s", "examples/CPU-s", "peak RSS MiB",
           "mean train loss", "load before → after"]


def load_cameo(folder: Path) -> tuple[list[str], list[str]]:
    """ConfliBERT cameo_class training sentences with the five CAMEO classes mapped to escalation (3 classes)."""
    import csv

    with (folder / "train.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [ESCALATION[r["label_name"]] for r in rows]


def load_embedded() -> tuple[list[str], list[str]]:
    """nlpkit's embedded newswire corpus, training split, escalation labels (long articles: truncated)."""
    from nlpkit.corpus.tables import read

    rows = [r for r in read() if r["split"] == "train" and r.get("escalation")]
    return [r["text"] for r in rows], [r["escalation"] for r in rows]


def sample(texts: list[str], labels: list[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    """The first ``n`` of a seeded permutation (every system gets the same examples)."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(texts))[:n]
    if len(order) < n:
        raise SystemExit(f"--steps x --batch = {n} examples, but the data has only {len(texts)}; lower --steps.")
    return [texts[i] for i in order], [labels[i] for i in order]


def child(args: argparse.Namespace) -> None:
    """Run one system on one data set and print its JSON row."""
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    from experiments.finetune_speed import systems

    texts, labels = load_cameo(args.data) if args.child_data == "conflibert_cameo" else load_embedded()
    texts, labels = sample(texts, labels, args.steps * args.batch, args.seed)
    load = os.getloadavg()[0]
    if args.child.startswith("nlpkit"):
        row: dict[str, Any] = systems.nlpkit(texts, labels, args, args.child)
    else:
        row = systems.trainer(texts, labels, args, args.child.removeprefix("trainer_"))
    row.update(data=args.child_data, system=args.child, threads=torch.get_num_threads(), examples=len(texts),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               load=f"{load:.2f} → {os.getloadavg()[0]:.2f}")
    row["examples_per_s"] = row["steps"] * args.batch / row["loop_s"]
    row["examples_per_cpu_s"] = row["steps"] * args.batch / row["cpu_s"]
    print("ROW " + json.dumps(row), flush=True)


def run_child(system: str, data: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", system, "--child-data", data, "--data", str(args.data),
           "--steps", str(args.steps), "--batch", str(args.batch), "--max-length", str(args.max_length),
           "--threads", str(args.threads), "--seed", str(args.seed)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(args.threads)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    rows = [json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("ROW ")]
    if done.returncode or not rows:
        raise SystemExit(f"{system} on {data} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    print(json.dumps(rows[0]), flush=True)
    return rows[0]


def table(rows: list[dict[str, Any]]) -> str:
    """One line per child process, in the order they ran."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [r["data"], r["system"], r["threads"], int(r["steps"]), r["examples"], f"{r['loop_s']:.1f}",
                 f"{r['examples_per_s']:.1f}", f"{r['examples_per_cpu_s']:.1f}", f"{r['peak_rss_mib']:.0f}",
                 f"{r['train_loss']:.4f}", r["load"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Per data set and system: medians over the rounds of examples/s (wall) and examples per CPU-second, each
    with its ratio to the faster Trainer setting."""
    import statistics

    lines = ["| data | system | runs | median examples/s | vs faster Trainer | median examples/CPU-s | vs faster "
             "Trainer | median peak RSS MiB | mean train loss |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    stats = {}
    for key in dict.fromkeys((r["data"], r["system"]) for r in rows):
        mine = [r for r in rows if (r["data"], r["system"]) == key]
        stats[key] = [len(mine)] + [statistics.median(r[k] for r in mine)
                                    for k in ("examples_per_s", "examples_per_cpu_s", "peak_rss_mib")]
    for (data, system), (n, speed, cpu, rss) in stats.items():
        trainers = [v for (d, s), v in stats.items() if d == data and s.startswith("trainer")]
        best, best_cpu = (max((v[i] for v in trainers), default=float("nan")) for i in (1, 2))
        loss = next(r["train_loss"] for r in rows if (r["data"], r["system"]) == (data, system))
        lines.append(f"| {data} | {system} | {n} | {speed:.1f} | {speed / best:.2f}x | {cpu:.1f} | "
                     f"{cpu / best_cpu:.2f}x | {rss:.0f} | {loss:.4f} |")
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "conflibert_cameo",
                        help="the conflibert_cameo folder (train.csv); skipped, with the reason, when absent")
    parser.add_argument("--embedded", action="store_true", help="also run on nlpkit's embedded corpus (escalation)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=DEFAULT_SYSTEMS,
                        help="variants: nlpkit_before (the loop before issue 15: torch's default AdamW, no length "
                        "grouping), nlpkit_ungrouped (model.group_by_length=false)")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per system (one epoch of steps x batch)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every system this many times, in turn (interleaved); the summary takes medians")
    parser.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.child:
        return child(args)
    sets = []
    if (args.data / "train.csv").is_file():
        sets.append("conflibert_cameo")
    else:
        print(f"skipping conflibert_cameo: {args.data / 'train.csv'} not found (pass --data FOLDER)", flush=True)
    sets += ["embedded"] if args.embedded else []
    before, start = os.getloadavg(), time.perf_counter()
    rows = [run_child(s, d, args) for d in sets for _ in range(args.rounds) for s in args.systems]
    print(f"\nuptime load before: {before[0]:.2f}, {before[1]:.2f}, {before[2]:.2f}; after: "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + f"; {time.perf_counter() - start:.0f} s in all\n")
    if rows:
        print(table(rows) + "\n\n" + summary(rows))


if __name__ == "__main__":
    main()
