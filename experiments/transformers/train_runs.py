"""Train the encoder families with nlpkit's own train(compose([...])) (what `nlpkit-train` runs) and print
metrics, wall time and the machine's load. Run from the repository root:

    python experiments/transformers/train_runs.py --out /tmp/nlpkit-transformers \
        --runs newswire:finetune newswire:embed_logreg conflibert_cameo:finetune conflibert_cameo:embed_logreg
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import load_average, table

from nlpkit import compose, train

BENCHMARK_CONFIGS = Path(__file__).resolve().parents[1] / "benchmarks" / "configs"


def data_overrides(data: str) -> list[str]:
    """``data=<data>``; a benchmark data set (experiments/benchmarks/configs/) also names its task and the search path."""
    if (BENCHMARK_CONFIGS / "data" / f"{data}.yaml").is_file():
        return [f"hydra.searchpath=[file://{BENCHMARK_CONFIGS}]", f"task={data}", f"data={data}"]
    return [f"data={data}"]


def run(data: str, model: str, out: Path, extra: list[str]) -> dict:
    overrides = [*data_overrides(data), f"model={model}", f"output_dir={out / f'{data}-{model}'}",
                 f"tracking.uri=sqlite:///{out / 'mlflow.db'}", *extra]
    load_before, start = load_average(), time.perf_counter()
    result = train(compose(overrides))
    m, report = result.metrics, result.predictor.model.fit_report_
    return {
        "data": data, "model": model, "n_train": result.sizes.get("train"),
        "val_f1": m["validation/macro_f1"], "test_f1": m["test/macro_f1"], "test_acc": m["test/accuracy"],
        "ood_f1": m.get("test_ood/macro_f1", ""), "fit_s": round(result.fit_seconds, 1),
        "wall_s": round(time.perf_counter() - start, 1), "epochs": report.get("epochs_run", ""),
        "best_epoch": report.get("best_epoch", ""), "load": f"{load_before}->{load_average()}",
        "predictor": str(result.predictor_dir), "command": "nlpkit-train " + " ".join(overrides[:2] + extra),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/nlpkit-transformers"))
    parser.add_argument("--runs", nargs="+", default=["newswire:finetune", "newswire:embed_logreg"])
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for every run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in args.runs:
        data, model = spec.split(":")
        rows.append(run(data, model, args.out, args.override))
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows, ["data", "model", "n_train", "val_f1", "test_f1", "test_acc", "ood_f1", "epochs",
                       "best_epoch", "fit_s", "wall_s", "load"]))


if __name__ == "__main__":
    main()
