"""Helpers shared by the transformer studies: machine load, benchmark data location, table printing."""

from __future__ import annotations

import os
from pathlib import Path


def load_average() -> str:
    """The 1-minute load average (the machine is shared: timings depend on it)."""
    return f"{os.getloadavg()[0]:.2f}"


def benchmark_dir() -> Path:
    """$NLPKIT_BENCHMARK_DATA, else ../shared/datasets from the repository root."""
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("NLPKIT_BENCHMARK_DATA", root.parent / "shared" / "datasets"))
    if not path.is_dir():
        raise SystemExit(f"benchmark data not found at {path}; set NLPKIT_BENCHMARK_DATA to the datasets folder")
    return path


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (floats with 3 decimals)."""
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
