"""A sweep's state on disk, shared by the sweep callback (``nlpkit.sweep``) and each job (``nlpkit.tracking``).

``<sweep dir>/nlpkit_sweep.json`` holds the parent run's id, written by the callback and found by every job by
walking up from its output directory; ``<sweep dir>/nlpkit_config_errors.jsonl`` lists the jobs whose config was
invalid. Jobs and the callback both read and write these files through this module, so neither imports the
other (``nlpkit.sweep`` imports ``nlpkit.tracking``, never the reverse).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SWEEP_FILE = "nlpkit_sweep.json"
CONFIG_ERRORS_FILE = "nlpkit_config_errors.jsonl"
SEED_KEYS = ("seed",)


def record_config_error(sweep_dir: Path, overrides: list[str], err: BaseException) -> None:
    """Append a job with an invalid config to ``<sweep_dir>/nlpkit_config_errors.jsonl`` (one atomic write
    per line, so jobs in parallel processes never interleave)."""
    line = json.dumps({"overrides": overrides, "config_key": config_key(overrides),
                       "error": f"{type(err).__name__}: {err}"[:5000]}) + "\n"
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / CONFIG_ERRORS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def config_errors(sweep_dir: Path) -> list[dict[str, Any]]:
    """The jobs of a sweep whose config was invalid (see ``record_config_error``)."""
    path = Path(sweep_dir) / CONFIG_ERRORS_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def config_key(overrides: list[str]) -> str:
    """The job's overrides without the seed: the configuration its seeds are grouped under."""
    kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SEED_KEYS)
    return " ".join(kept) or "(default)"


def find_sweep(output_dir: Path, levels: int = 4) -> dict[str, Any] | None:
    """The sweep info written by the callback, found in ``output_dir`` or one of its parents."""
    for directory in [output_dir, *output_dir.parents][: levels + 1]:
        if (directory / SWEEP_FILE).is_file():
            return json.loads((directory / SWEEP_FILE).read_text())
    return None
