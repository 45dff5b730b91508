"""The results table (markdown) from the rows a benchmark run wrote, and the machine description.

    python -m experiments.benchmarks.report OUT/rows.jsonl [MORE/rows.jsonl ...]   # prints the table
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

HEADER = (
    "| data set | contender | rows used | n train / test | seeds | test macro-F1 mean ± sd | 95% CI (first seed) "
    "| accuracy mean ± sd | FNC-1 score | fit s | test docs/s | peak RSS MiB (+fit) | load avg |"
)
RULE = "|---|---|---|---|---:|---|---|---|---|---:|---:|---:|---|"


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, OS and Python of this machine."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "os": platform.platform(), "python": platform.python_version()}


def load_average() -> str:
    """The 1/5/15-minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _pm(summary: dict[str, float], key: str) -> str:
    return f"{summary[f'{key}_mean']:.3f} ± {summary[f'{key}_sd']:.3f}"


def row_line(row: dict[str, Any]) -> str:
    """One markdown table line: the figures, or the reason the row did not run."""
    used = f"max_rows={row['subsample']}" if row.get("subsample") else "all"
    name = row["contender"] + (f" `{' '.join(row['overrides'])}`" if row.get("overrides") else "")
    head = f"| {row['dataset']} | {name} | {used} |"
    s = row.get("summary")
    if not s:
        return f"{head} – | – | did not run: {row['reason']} | | | | | | | |"
    seeds = f"{int(s['seeds'])}" + (" (deterministic)" if row.get("deterministic") else "")
    fnc = f"{s['fnc_score_mean']:.3f} ± {s['fnc_score_sd']:.3f}" if "fnc_score_mean" in s else "–"
    partial = f" (partial: {row['reason']})" if row.get("reason") else ""
    return (
        f"{head} {int(s['n_train'])} / {int(s['n_test'])} | {seeds}{partial} | {_pm(s, 'macro_f1')} "
        f"| [{s['macro_f1_ci_low']:.3f}, {s['macro_f1_ci_high']:.3f}] | {_pm(s, 'accuracy')} | {fnc} "
        f"| {s['fit_seconds_mean']:.1f} | {s['docs_per_second_mean']:.0f} "
        f"| {s['peak_rss_mib_mean']:.0f} (+{s['added_rss_mib_mean']:.0f}) | {row.get('load_avg', '')} |"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of ``rows`` in the order given."""
    return "\n".join([HEADER, RULE, *(row_line(r) for r in rows)])


def read_rows(paths: list[str]) -> list[dict[str, Any]]:
    """Rows from one or more ``rows.jsonl`` files."""
    rows = []
    for path in paths:
        rows += [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return rows


if __name__ == "__main__":
    print(table(read_rows(sys.argv[1:])))
