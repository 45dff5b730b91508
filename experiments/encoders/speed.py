"""Encoder prediction speed: PyTorch vs ONNX Runtime FP32 vs int8 on ConfliBERT's 451 test sentences, every
window padded to 128 tokens and at real lengths (each length-sorted batch padded to its longest window).

A predictor (default: ``embed_logreg`` on the packaged MiniLM, 128-token windows, fitted on ConfliBERT's
training sentences, escalation labels; or ``--predictor DIR``, e.g. a fine-tuned one) is loaded three times
through nlpkit's own path: ``runtime="torch"``, ``runtime="onnx"`` (the shipped fused FP32 graph) and
``runtime="onnx", quantize=True``. Each row times ``model.runner_`` over every batch (best of ``--repeats``
interleaved passes, after a warm-up), so the three runtimes see the same load; labels come from the same
outputs. The 2-core FP32 ceiling: FLOPs per 128-token MiniLM sequence (from the encoder's config) against the
GEMM rate measured here (an ONNX Runtime MatMul of the model's FFN shape), beside the environment's figure
(~115 sequences/s). "Where the time goes": nlpkit's end-to-end ``predict_proba`` split into tokenisation,
batching/padding, the runner and the head, and ONNX Runtime's per-operator shares. Both runtimes get
``OMP_NUM_THREADS`` threads (default 2): torch as intra-op threads, nlpkit's ONNX Runtime runner as that many
one-thread runs side by side over each batch's rows. Run from the repository root:

    python experiments/encoders/speed.py [--data ../shared/datasets] [--predictor DIR] [--repeats 3]
"""

from __future__ import annotations

import os

# Both runtimes get the same threads: torch reads OMP_NUM_THREADS when it loads, and nlpkit's ONNX Runtime runners
# take it as the user's choice (nlpkit.threads); 2 = the 2-core comparison. OMP_NUM_THREADS=1 python ... for 1.
THREADS = int(os.environ.setdefault("OMP_NUM_THREADS", "2"))

import argparse  # noqa: E402
import csv  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from common import data_root, table, uptime  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from nlpkit import Predictor  # noqa: E402
from nlpkit.models import long_text  # noqa: E402

ESCALATION = {"material_conflict": "escalatory", "verbal_conflict": "escalatory", "make_a_statement": "neutral",
              "material_cooperation": "de_escalatory", "verbal_cooperation": "de_escalatory"}
RUNTIMES = {"torch": {"runtime": "torch"}, "onnx-fp32": {"runtime": "onnx"},
            "onnx-int8": {"runtime": "onnx", "quantize": True}}
ENV_CEILING = 115.0  # MiniLM sequences/s at 128 tokens, 2 cores FP32: the environment's measurement


def sentences(data: Path, split: str) -> tuple[list[str], list[str]]:
    with open(data / "conflibert_cameo" / f"{split}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [ESCALATION[r["label_name"]] for r in rows]


def fit_predictor(data: Path, folder: Path) -> Path:
    """embed_logreg on ConfliBERT's training sentences (escalation), 128-token windows, saved to ``folder``."""
    from nlpkit.models.embed import EmbedLogregClassifier

    texts, labels = sentences(data, "train")
    model = EmbedLogregClassifier(max_length=128).fit(texts, labels)
    meta = {"model_kind": "embed_logreg.v1", "labels": sorted(set(labels)), "task": "escalation",
            "text_fields": ["text"]}
    return Predictor(model, meta).save(folder)


def padded_batches(model: Any, encoded: long_text.Encoded, width: int | None) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """nlpkit's length-sorted batches; ``width``: every batch right-padded further to that many tokens."""
    pad_id = model.tokenizer_.pad_token_id or 0
    out = []
    for batch, index in long_text.batches(encoded, model.batch_size, pad_id):
        if width:
            extra = width - batch["input_ids"].shape[1]
            batch = {k: np.pad(v, ((0, 0), (0, extra)), constant_values=pad_id if k == "input_ids" else 0)
                     for k, v in batch.items()}
        out.append((batch, index))
    return out


def run_all(model: Any, batches: list[tuple[dict[str, np.ndarray], np.ndarray]], n: int) -> tuple[np.ndarray, float]:
    """Window outputs of every batch (rows in input order) and the seconds the runner took."""
    out: np.ndarray | None = None
    start = time.perf_counter()
    for batch, index in batches:
        values = model.runner_(batch)
        out = np.empty((n, values.shape[1]), dtype=np.float32) if out is None else out
        out[index] = values
    return out, time.perf_counter() - start


def measure(loaded: dict[str, Predictor], texts: list[str], repeats: int) -> dict[tuple[str, str], dict[str, Any]]:
    """(runtime, padding) -> best seconds and the probabilities; passes interleaved across runtimes."""
    sets = {(name, pad): padded_batches(p.model, p.model._encode(texts), 128 if pad == "128" else None)
            for name, p in loaded.items() for pad in ("128", "dynamic")}
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for _ in range(repeats):
        for (name, pad), batches in sets.items():
            model = loaded[name].model
            model.runner_(batches[0][0])  # warm-up
            rows, seconds = run_all(model, batches, len(texts))
            best = results.setdefault((name, pad), {"seconds": seconds})
            best["seconds"] = min(best["seconds"], seconds)
            best["proba"] = loaded[name].in_label_order(model._proba_from_pooled(rows))
            best["width"] = float(np.mean([b["input_ids"].shape[1] for b, _ in batches]))
    return results


def rows_of(results: dict, loaded: dict[str, Predictor], gold: list[str], ceiling: float) -> list[dict[str, Any]]:
    labels = loaded["torch"].labels
    out = []
    for (name, pad), r in results.items():
        ref = results[("torch", pad)]
        pred = [labels[i] for i in r["proba"].argmax(1)]
        ref_pred = [labels[i] for i in ref["proba"].argmax(1)]
        speed = len(gold) / r["seconds"]
        out.append({
            "runtime": name, "padding": pad, "mean width": round(r["width"], 1), "ex/s": round(speed, 1),
            "x torch": f"{ref['seconds'] / r['seconds']:.2f}",
            "% of ceiling (here / env)": f"{100 * speed / ceiling:.0f}% / {100 * speed / ENV_CEILING:.0f}%"
            if pad == "128" else "",
            "agreement": float(np.mean(r["proba"].argmax(1) == ref["proba"].argmax(1))),
            "macro-F1": float(f1_score(gold, pred, average="macro")),
            "ΔF1 vs torch": f"{f1_score(gold, pred, average='macro') - f1_score(gold, ref_pred, average='macro'):+.3f}",
            "max |Δp|": f"{float(np.abs(r['proba'] - ref['proba']).max()):.1e}",
        })
    return sorted(out, key=lambda row: (row["padding"], list(RUNTIMES).index(row["runtime"])))


def threads() -> tuple[int, int]:
    """(torch's intra-op threads, the one-thread ONNX Runtime runs nlpkit's runner makes side by side)."""
    import torch

    from nlpkit.threads import default_threads

    torch.set_num_threads(THREADS)
    return torch.get_num_threads(), default_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the benchmark data sets folder")
    parser.add_argument("--predictor", type=Path, default=None, help="an encoder predictor (default: fit one)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = data_root(args.data)
    if data is None:
        return
    from profile_parts import ceiling, operator_shares, where_time_goes

    before, start = uptime(), time.perf_counter()
    torch_threads, ort_threads = threads()
    with tempfile.TemporaryDirectory(prefix="nlpkit-speed-") as tmp:
        folder = args.predictor or fit_predictor(data, Path(tmp) / "predictor")
        loaded = {name: Predictor.load(folder, **options) for name, options in RUNTIMES.items()}
        texts, gold = sentences(data, "test")
        roof = ceiling(loaded["torch"].model)
        results = measure(loaded, texts, args.repeats)
        print(table(rows_of(results, loaded, gold, roof["seq_per_s"]),
                    ["runtime", "padding", "mean width", "ex/s", "x torch", "% of ceiling (here / env)",
                     "agreement", "macro-F1", "ΔF1 vs torch", "max |Δp|"]))
        print(f"\nceiling: {roof['gflop_per_seq']:.2f} GFLOP per 128-token sequence; GEMM rate here "
              f"{roof['gflops']:.0f} GFLOP/s on {roof['threads']} threads -> {roof['seq_per_s']:.0f} seq/s "
              f"(environment's figure: {ENV_CEILING:.0f} seq/s)")
        print("\nwhere the time goes (end-to-end predict_proba, ms per sentence):")
        print(table(where_time_goes(loaded, texts), ["runtime", "padding", "tokenise", "batch+pad", "runner",
                                                      "head", "total", "ex/s"]))
        print("\nONNX Runtime per-operator shares of the FP32 graph (1 thread, 16 x 128 tokens):")
        print(operator_shares(Path(folder)))
    print(f"\npredictor: {args.predictor or 'embed_logreg fitted on ConfliBERT train (escalation)'}; "
          f"n={len(texts)}, batch size {loaded['torch'].model.batch_size}, best of {args.repeats}; threads: "
          f"torch {torch_threads}, ONNX Runtime {ort_threads}; "
          f"load (1/5/15 min) before: {before}, after: {uptime()}; {time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
