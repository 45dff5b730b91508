"""Cold start of a predictor: a fresh process imports nlpkit, loads the predictor and predicts once.

    python experiments/runtime/cold_start.py [--predictor DIR] [--python PY ...] [--repeats 7]

Each figure is the median wall time of ``--repeats`` fresh processes (interpreter start included), for every
interpreter given with ``--python`` (default: this one), next to the floor (``python -c pass``) and, where the
interpreter has the training stack, the old full import (``import nlpkit.train`` first, as the eager
``nlpkit/__init__.py`` did). Without ``--predictor`` it trains one (tracking off) into a temporary folder. Prints a
markdown table and the machine's load (``uptime``) before and after. For an encoder predictor the runtime case
uses the default runtime (``auto``: torch where installed, else ONNX) and a second case forces ``runtime="onnx"``
(``n/a`` for TF-IDF predictors, which have one runtime).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = "Warplanes struck depots overnight; the neighbouring government said the raids would be answered."
CASES = {
    "floor: `python -c pass`": "pass",
    "what a TF-IDF predictor needs: `import numpy, scipy.sparse`": "import numpy, scipy.sparse",
    "the 0.1 loader's imports: `import sklearn.base, skops.io`": "import sklearn.base, skops.io",
    "runtime: import + load + first predict": (
        "import sys; from nlpkit import Predictor; Predictor.load(sys.argv[1]).predict([sys.argv[2]])"
    ),
    "runtime='onnx': import + load + first predict": (
        "import sys; from nlpkit import Predictor; Predictor.load(sys.argv[1], runtime='onnx').predict([sys.argv[2]])"
    ),
    "old full import: `import nlpkit.train` + load + predict": (
        "import sys; import nlpkit.train; from nlpkit import Predictor; Predictor.load(sys.argv[1]).predict([sys.argv[2]])"
    ),
}


def measure(python: str, code: str, predictor: Path, repeats: int) -> float | None:
    """Median seconds of ``repeats`` fresh ``python -c code`` processes; None when the code fails there."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([python, "-c", code, str(predictor), TEXT], capture_output=True, cwd="/")
        times.append(time.perf_counter() - start)
        if done.returncode:
            return None
    return statistics.median(times)


def uptime() -> str:
    """The load averages reported by ``uptime``."""
    out = subprocess.run(["uptime"], capture_output=True, text=True).stdout
    return out.split("load average:")[-1].strip()


def trained_predictor(directory: Path) -> Path:
    """Train the default configuration (escalation, tfidf) with tracking off; return its predictor folder."""
    from nlpkit import compose, train

    return train(compose([f"output_dir={directory}", "tracking=off"])).predictor_dir


def table(rows: list[tuple[str, str, float | None]], repeats: int) -> str:
    """A markdown table: interpreter, case, median seconds."""
    lines = [f"| interpreter | case | median of {repeats} (s) |", "|---|---|---:|"]
    for python, case, seconds in rows:
        lines.append(f"| `{python}` | {case} | {'n/a (fails there)' if seconds is None else f'{seconds:.3f}'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure every case in every interpreter and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictor", type=Path, help="a saved predictor (default: train a TF-IDF one)")
    parser.add_argument("--python", action="append", help="interpreter to measure (repeatable; default: this one)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nlpkit-cold-") as tmp:
        predictor = args.predictor or trained_predictor(Path(tmp))
        before = uptime()
        rows = [(python, case, measure(python, code, predictor, args.repeats))
                for python in args.python or [sys.executable] for case, code in CASES.items()]
        after = uptime()
    print(table(rows, args.repeats))
    print(f"\nload average (1, 5, 15 min): before {before}; after {after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
