"""Does `nlpkit predict` keep its memory flat however many documents it scores?

Writes a JSONL of N synthetic news-like documents (generated here from word lists, seeded), trains a TF-IDF
predictor on the embedded corpus (or takes --model), runs

    nlpkit predict --model DIR big.jsonl --output out.parquet

as a subprocess and samples it every 0.5 s: RSS and VmHWM from /proc/<pid>/status, and how far it has read
big.jsonl from /proc/<pid>/fdinfo (the file offset, mapped to a document count through the line offsets
recorded while writing the file). Prints a Markdown table: documents read vs RSS at 1k/10k/100k/1M (those
that fit), the peak RSS (the child's ru_maxrss from wait4), docs/s, wall time and the `uptime` load.

    python experiments/runtime/stream_memory.py --docs 1000000
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ACTORS = ["The defence ministry", "Rebel commanders", "The foreign minister", "Border guards", "The army",
          "UN monitors", "The coalition", "Government negotiators", "Militia leaders", "The prime minister"]
ESCALATE = ["shelled positions near", "massed troops outside", "threatened retaliation against",
            "launched drone strikes on", "mobilised reserves along", "issued an ultimatum over"]
CALM = ["agreed a ceasefire in", "resumed talks about", "withdrew forces from", "exchanged prisoners near",
        "reopened the hotline over", "welcomed mediation on"]
ROUTINE = ["published the budget for", "held a scheduled exercise in", "released trade figures for",
           "announced a conference on", "opened a consulate in", "reported rainfall totals for"]
PLACES = ["the northern province", "the disputed ridge", "the port city", "the capital", "the river crossing",
          "the eastern border", "the coastal district", "the mountain pass"]
FILLER = ["Officials said", "Witnesses reported", "A spokesperson added", "Local media said", "Analysts noted"]
CHECKPOINTS = (1_000, 10_000, 100_000, 1_000_000)


def document(rng: random.Random, i: int) -> dict:
    """One news-like document of three to six sentences."""
    verbs = rng.choice([ESCALATE, CALM, ROUTINE])
    sentences = [f"{rng.choice(ACTORS)} {rng.choice(verbs)} {rng.choice(PLACES)} on day {rng.randint(1, 365)}."]
    for _ in range(rng.randint(2, 5)):
        sentences.append(f"{rng.choice(FILLER)} that {rng.choice(ACTORS).lower()} {rng.choice(verbs)} "
                         f"{rng.choice(PLACES)}, {rng.randint(2, 900)} people affected.")
    return {"id": f"doc-{i:07d}", "title": f"Report {i}", "text": " ".join(sentences)}


def write_corpus(path: Path, n: int, seed: int = 0) -> array:
    """Write ``n`` documents as JSONL; return the byte offset at the end of each line."""
    rng, ends, offset = random.Random(seed), array("q"), 0
    with path.open("wb") as handle:
        for i in range(n):
            line = (json.dumps(document(rng, i)) + "\n").encode("utf-8")
            handle.write(line)
            offset += len(line)
            ends.append(offset)
    return ends


def train_predictor(workdir: Path) -> Path:
    """Train the default TF-IDF predictor in a child process: this process stays small, so the fork that starts
    `nlpkit predict` does not lend it this process's memory (Linux keeps the pre-exec peak in ru_maxrss)."""
    code = ("import sys, nlpkit\n"
            "print(nlpkit.train(nlpkit.compose(['tracking=off', f'output_dir={sys.argv[1]}'])).predictor_dir)")
    out = subprocess.run([sys.executable, "-c", code, str(workdir / "train")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (kB) of a live process."""
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                values[key] = int(value.split()[0])
    return values


def read_offset(pid: int, target: Path) -> int | None:
    """How far ``pid`` has read ``target`` (None before it opens it or after it closes it)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(target):
                with open(f"/proc/{pid}/fdinfo/{fd}") as handle:
                    return int(handle.readline().split()[1])
        except OSError:
            continue
    return None


def sample(proc: subprocess.Popen, source: Path, ends: array, interval: float) -> tuple[list[tuple], object]:
    """Sample ``proc`` until it exits: (seconds, documents read, RSS kB, HWM kB); then its rusage."""
    samples, started = [], time.monotonic()
    while True:
        try:
            kb = status_kb(proc.pid)
            offset = read_offset(proc.pid, source)
        except (OSError, ValueError):
            break
        done = len(ends) if offset is None and samples and samples[-1][1] else bisect.bisect_right(ends, offset or 0)
        samples.append((time.monotonic() - started, done, kb.get("VmRSS", 0), kb.get("VmHWM", 0)))
        _, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if _:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return samples, usage
        time.sleep(interval)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return samples, usage


def table(samples: list[tuple], n: int) -> str:
    """One row per checkpoint: the first sample at or past it."""
    rows = ["| documents (checkpoint) | documents read at sample | elapsed s | RSS MB | VmHWM MB |", "|---|---|---|---|---|"]
    for mark in [c for c in CHECKPOINTS if c < n] + [n]:
        hit = next((s for s in samples if s[1] >= mark), None)
        if hit:
            rows.append(f"| {mark:,} | {hit[1]:,} | {hit[0]:.1f} | {hit[2] / 1024:.1f} | {hit[3] / 1024:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents to generate (default 1,000,000)")
    parser.add_argument("--model", type=Path, help="a predictor directory (default: train one on the embedded corpus)")
    parser.add_argument("--workdir", type=Path, help="where big.jsonl and out.parquet go (default: a temp folder)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--samples", type=Path, help="also write every sample (s, docs read, RSS kB, HWM kB) as CSV")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `nlpkit predict` arguments")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="nlpkit-stream-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source, out = (workdir / "big.jsonl").resolve(), workdir / "out.parquet"
    t0 = time.monotonic()
    ends = write_corpus(source, args.docs)
    print(f"wrote {args.docs:,} documents ({ends[-1] / 1e6:.0f} MB) to {source} in {time.monotonic() - t0:.0f} s")
    model = args.model or train_predictor(workdir)
    command = [str(Path(sys.executable).parent / "nlpkit"), "predict", "--model", str(model), str(source),
               "--output", str(out), *args.extra]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    print("$", " ".join(command), flush=True)
    started = time.monotonic()
    with (workdir / "predict.log").open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        samples, usage = sample(proc, source, ends, args.interval)
    wall = time.monotonic() - started
    uptime = subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()
    summary = (workdir / "predict.log").read_text().replace("\r", "\n").strip().splitlines()[-1:]
    if proc.returncode != 0:
        print(f"nlpkit predict failed (exit {proc.returncode}); log: {workdir / 'predict.log'}")
        return 1
    if args.samples:
        args.samples.write_text("".join(",".join(map(str, row)) + "\n" for row in samples))
    print(table(samples, args.docs))
    print(f"\npeak RSS: VmHWM {max(s[3] for s in samples) / 1024:.1f} MB (highest sampled), ru_maxrss {usage.ru_maxrss / 1024:.1f} MB;"
          f" wall {wall:.0f} s "
          f"({args.docs / wall:,.0f} docs/s including start-up and model load)")
    print(f"nlpkit's own line: {summary[0] if summary else '-'}")
    print(f"load average before: {' '.join(load_before)}; after: {uptime}")
    print(f"output: {out} ({out.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
