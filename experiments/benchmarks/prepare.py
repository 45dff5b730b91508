"""Derived files for the benchmark data sets that nlpkit's generic file loader cannot read as they are.

    python -m experiments.benchmarks.prepare [bbc_news fnc1 allsides]

- ``bbc_news``: 139 exact duplicate bodies, deduplicated before any split (first occurrence kept);
- ``fnc1``: stances joined with their bodies on ``Body ID`` (one CSV per official split);
- ``allsides``: the gzipped JSONL plus the ``media`` split TSVs, as one JSONL with a ``split`` column.

Inputs come from the data root (``$NLPKIT_BENCHMARK_DATA``, default ``../shared/datasets`` beside the
repository); outputs go to the cache (``$NLPKIT_BENCHMARK_CACHE``, default ``~/.cache/nlpkit/benchmarks``),
never into the repository. A stamp of the inputs' sizes and times lets a second call skip the work.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
from pathlib import Path
from typing import Callable

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "datasets"
DEFAULT_CACHE = Path.home() / ".cache" / "nlpkit" / "benchmarks"


def data_root() -> Path:
    """Where the public data sets are: ``$NLPKIT_BENCHMARK_DATA`` or ``../shared/datasets``."""
    return Path(os.environ.get("NLPKIT_BENCHMARK_DATA") or DEFAULT_DATA).resolve()


def cache_dir() -> Path:
    """Where derived files go: ``$NLPKIT_BENCHMARK_CACHE`` or ``~/.cache/nlpkit/benchmarks``."""
    return Path(os.environ.get("NLPKIT_BENCHMARK_CACHE") or DEFAULT_CACHE).resolve()


def _need(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"Benchmark input {path} does not exist; expected the public data sets under {data_root()}. "
            "Fix: set NLPKIT_BENCHMARK_DATA to the folder that holds bbc_news/, fnc1/, allsides_bias/, ..."
        )
    return path


def _fresh(outputs: list[Path], inputs: list[Path]) -> bool:
    stamp = outputs[0].with_suffix(".stamp")
    want = json.dumps([[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in inputs])
    if all(o.is_file() for o in outputs) and stamp.is_file() and stamp.read_text() == want:
        return True
    stamp.parent.mkdir(parents=True, exist_ok=True)
    return False


def _stamp(outputs: list[Path], inputs: list[Path]) -> None:
    want = json.dumps([[str(p), p.stat().st_size, int(p.stat().st_mtime)] for p in inputs])
    outputs[0].with_suffix(".stamp").write_text(want)


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().lower()


def prepare_bbc(root: Path, cache: Path) -> list[Path]:
    """``bbc_news.csv`` without duplicate bodies: id, category, title, text."""
    src, out = _need(root / "bbc_news" / "bbc_news.csv"), cache / "bbc_news.csv"
    if _fresh([out], [src]):
        return [out]
    frame = pd.read_csv(src, keep_default_na=False)
    frame = frame.loc[~frame["text"].map(_normal).duplicated(), ["id", "category", "title", "text"]]
    frame.to_csv(out, index=False)
    _stamp([out], [src])
    return [out]


def prepare_fnc1(root: Path, cache: Path) -> list[Path]:
    """``fnc1_train.csv`` and ``fnc1_test.csv``: id, headline, body_id, body, stance."""
    folder = root / "fnc1"
    pairs = {"train": ("train_stances.csv", "train_bodies.csv"),
             "test": ("competition_test_stances.csv", "competition_test_bodies.csv")}
    inputs = [_need(folder / name) for names in pairs.values() for name in names]
    outputs = [cache / f"fnc1_{split}.csv" for split in pairs]
    if _fresh(outputs, inputs):
        return outputs
    for (stances, bodies), out in zip(pairs.values(), outputs):
        _join_fnc1(folder / stances, folder / bodies).to_csv(out, index=False)
    _stamp(outputs, inputs)
    return outputs


def _join_fnc1(stances_path: Path, bodies_path: Path) -> pd.DataFrame:
    stances = pd.read_csv(stances_path, keep_default_na=False)
    bodies = pd.read_csv(bodies_path, keep_default_na=False).rename(columns={"articleBody": "body"})
    joined = stances.merge(bodies, on="Body ID", how="left", validate="many_to_one")
    missing = int(joined["body"].isna().sum())
    if missing:
        raise ValueError(f"{stances_path}: {missing} stance rows have a Body ID missing from {bodies_path}.")
    joined = joined.rename(columns={"Headline": "headline", "Body ID": "body_id", "Stance": "stance"})
    joined.insert(0, "id", range(len(joined)))
    return joined[["id", "headline", "body_id", "body", "stance"]]


def prepare_allsides(root: Path, cache: Path) -> list[Path]:
    """``allsides.jsonl``: id, topic, source, date, title, text, leaning, split (media split or ``unused``)."""
    folder = root / "allsides_bias"
    split_files = {name: _need(folder / "splits" / "media" / f"{name}.tsv") for name in ("train", "valid", "test")}
    src, out = _need(folder / "articles.jsonl.gz"), cache / "allsides.jsonl"
    if _fresh([out], [src, *split_files.values()]):
        return [out]
    split_of = {}
    for name, path in split_files.items():
        split_of.update({i: name for i in pd.read_csv(path, sep="\t", dtype=str)["ID"]})
    with gzip.open(src, "rt", encoding="utf-8") as lines, out.open("w", encoding="utf-8") as sink:
        for line in lines:
            sink.write(json.dumps(_allsides_row(json.loads(line), split_of), ensure_ascii=False) + "\n")
    _stamp([out], [src, *split_files.values()])
    return [out]


def _allsides_row(article: dict, split_of: dict[str, str]) -> dict:
    return {
        "id": article["ID"], "topic": article["topic"], "source": article["source"], "date": article["date"],
        "title": article["title"], "text": article["content_original"], "leaning": article["bias_text"],
        "split": split_of.get(article["ID"], "unused"),
    }


PREPARERS: dict[str, Callable[[Path, Path], list[Path]]] = {
    "bbc_news": prepare_bbc, "fnc1": prepare_fnc1, "allsides": prepare_allsides,
}


def prepare(name: str) -> list[Path]:
    """Write (or reuse) the derived files of ``name`` (a key of ``PREPARERS``); return their paths."""
    if name not in PREPARERS:
        raise ValueError(f"No preparation step named {name!r}; expected one of {sorted(PREPARERS)}.")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    return PREPARERS[name](data_root(), cache)


def main(argv: list[str] | None = None) -> None:
    """Command line: prepare the named derived files (all by default) and print where they are."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=sorted(PREPARERS), help=f"any of {sorted(PREPARERS)}")
    for name in parser.parse_args(argv).names:
        for path in prepare(name):
            print(f"{name}: {path}")


if __name__ == "__main__":
    main()
