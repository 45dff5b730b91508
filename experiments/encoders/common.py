"""Helpers shared by the encoder studies: data location and splits, cached embeddings, load, tables."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_CONFIGS = ROOT / "experiments" / "benchmarks" / "configs"
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
CACHE = Path(os.environ.get("NLPKIT_EMBED_CACHE", Path.home() / ".cache" / "nlpkit" / "embeddings"))


def data_root(given: Path | None) -> Path | None:
    """``--data``, else $NLPKIT_BENCHMARK_DATA, else ../shared/datasets; None (with the reason printed) when absent."""
    path = Path(given or os.environ.get("NLPKIT_BENCHMARK_DATA") or DEFAULT_DATA)
    if not (path / "conflibert_cameo" / "test.csv").is_file():
        print(f"SKIPPED: the benchmark data sets are not at {path} (expected conflibert_cameo/test.csv there); "
              "pass --data DIR or set NLPKIT_BENCHMARK_DATA.")
        return None
    return path


def uptime() -> str:
    """The 1-, 5- and 15-minute load averages (the machine may be shared: timings depend on it)."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def splits(name: str, data: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """train / validation / test (texts, labels) of benchmark data set ``name``, split as nlpkit-train splits it."""
    os.environ["NLPKIT_BENCHMARK_DATA"] = str(data)
    from nlpkit import compose
    from nlpkit.data import load_data

    cfg = compose([f"hydra.searchpath=[file://{BENCHMARK_CONFIGS}]", f"task={name}", f"data={name}",
                   "model=embed_logreg", "tracking=off"])
    parts = load_data(cfg.data, cfg.task)
    return {k: (list(parts[k]["text"]), np.asarray(parts[k]["label"])) for k in ("train", "validation", "test")}


def embeddings(texts: list[str], max_length: int = 256) -> np.ndarray:
    """Mean-pooled packaged-MiniLM embeddings of ``texts`` as embed_logreg computes them, cached as npz by content."""
    key = hashlib.sha256("\x1e".join([str(max_length), *texts]).encode()).hexdigest()[:20]
    path = CACHE / f"minilm-{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as f:
            return f["x"]
    x = _encode(texts, max_length)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x)
    return x


def _encode(texts: list[str], max_length: int) -> np.ndarray:
    from nlpkit.models import encoders
    from nlpkit.models.embed import EmbedLogregClassifier

    model = EmbedLogregClassifier(max_length=max_length)
    model.encoder_source_, local = encoders.resolve(model.encoder)
    model.tokenizer_ = encoders.load_tokenizer(model.encoder_source_, local)
    from nlpkit.models import long_text

    model.template_ = long_text.learn_template(model.tokenizer_)
    network = encoders.load_encoder(model.encoder_source_, local)
    model.runner_ = encoders.torch_runner(network, encoders.input_names(model.tokenizer_), model.OUTPUT)
    return model._pooled(model._encode(texts))


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (floats with 3 decimals)."""
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start
