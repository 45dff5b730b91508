"""FNC-1 model choice on validation carved from the training pairs only (the competition test set is never read).

    python -m experiments.stance.fnc1_validation --split story                          # the kept model
    python -m experiments.stance.fnc1_validation --split story --param gate_label=null  # no gate
    python -m experiments.stance.fnc1_validation --split story --split-seed 1 --param sentence_encoder=null
    python -m experiments.stance.fnc1_validation --split body --param alpha=1e-4 --param epochs=40
    python -m experiments.stance.fnc1_validation --split story --model-seed 1   # another initialisation

``--split body``: the pairs of 20% of the training bodies. ``--split story``: 20% of the stories (connected
components of the related headline-body pairs); validation = the pairs whose body is in a validation story,
and training pairs whose headline is in one are dropped, so validation headlines and bodies are both unseen, as
in the competition test set; ``--split-seed`` picks another random 20%. Prints the validation FNC score,
macro-F1 and unrelated F1 of ``model=tfidf_mlp`` with the ``experiment=fnc1_mlp`` settings, changed by
``--param key=value``. Results: FNC1.md.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import f1_score

from experiments.benchmarks import prepare
from experiments.benchmarks.scoring import fnc_score
from nlpkit.models import build_model

# experiment=fnc1_mlp; the rest are the schema's
KEPT = {"kind": "tfidf_mlp.v1", "gate_label": "unrelated", "pair_overlap": True, "gate_label_weight": 0.3,
        "sentence_encoder": "all-MiniLM-L6-v2"}


def stories(train: pd.DataFrame) -> tuple[np.ndarray, dict[str, int], dict[int, int]]:
    """The component of every headline and body node in the graph of related (headline, body) pairs, and the
    node numbers of headlines and body ids."""
    headlines = {h: i for i, h in enumerate(train["headline"].unique())}
    bodies = {b: len(headlines) + i for i, b in enumerate(train["body_id"].unique())}
    related = train[train["stance"] != "unrelated"]
    n = len(headlines) + len(bodies)
    graph = sp.coo_matrix((np.ones(len(related)), (related["headline"].map(headlines), related["body_id"].map(bodies))),
                          shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return component, headlines, bodies


def split(train: pd.DataFrame, how: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit part, validation part) of the training pairs, by body or by story (module docstring)."""
    rng = np.random.default_rng(seed)
    if how == "body":
        ids = train["body_id"].unique()
        rng.shuffle(ids)
        held = train["body_id"].isin(set(ids[: len(ids) // 5].tolist()))
        return train[~held], train[held]
    component, headlines, bodies = stories(train)
    ids = np.unique(component)
    rng.shuffle(ids)
    chosen = set(ids[: len(ids) // 5].tolist())
    body_held = train["body_id"].map(lambda b: component[bodies[b]] in chosen)
    headline_held = train["headline"].map(lambda h: component[headlines[h]] in chosen)
    return train[~body_held & ~headline_held], train[body_held]


def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` with the value read as JSON (``null``, numbers) or else kept as a string."""
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: list[str] | None = None) -> None:
    """Fit on the fit part, print the validation scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("body", "story"), default="story")
    parser.add_argument("--param", action="append", default=[], help="a model setting, key=value")
    parser.add_argument("--split-seed", type=int, default=0, help="which random 20%% of bodies or stories is held out")
    parser.add_argument("--model-seed", type=int, default=0, help="the model's seed (its network's initial weights)")
    args = parser.parse_args(argv)
    train_csv, _ = prepare.prepare("fnc1")
    fit_part, valid = split(pd.read_csv(train_csv), args.split, args.split_seed)
    params = {**KEPT, **dict(parse_param(p) for p in args.param)}
    start = time.perf_counter()
    model = build_model(params, seed=args.model_seed).fit(list(zip(fit_part["headline"], fit_part["body"])), fit_part["stance"].tolist())
    seconds = time.perf_counter() - start
    gold = valid["stance"].to_numpy()
    pred = model.predict(list(zip(valid["headline"], valid["body"])))
    print(json.dumps({"split": args.split, "split_seed": args.split_seed, "model_seed": args.model_seed,
                      "params": params, "n_fit": len(fit_part), "n_validation": len(valid),
                      "fnc_score": round(fnc_score(list(gold), list(pred)), 4),
                      "macro_f1": round(float(f1_score(gold, pred, average="macro")), 4),
                      "unrelated_f1": round(float(f1_score(gold == "unrelated", pred == "unrelated")), 4),
                      "fit_seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
