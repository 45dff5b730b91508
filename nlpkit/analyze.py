"""One article, three tasks: a bundle's topic, escalation and stance predictors over one article, as one JSON.

    from nlpkit.analyze import Analyzer, save_bundle
    save_bundle("bundle", topic="runs/topic/predictor", escalation=..., stance=...)   # copies + verifies
    analyzer = Analyzer.load("bundle")            # a bundle folder, or the name of an installed bundle package
    analyzer.analyze({"title": "...", "text": "..."}, targets=["the 2015 Iran nuclear deal"])

The result (``nlpkit analyze ARTICLE --bundle B --target T`` prints the same as JSON)::

    {"nlpkit_version", "article": {"title", "characters", "sentences"},
     "topic": {"label", "probabilities": {label: p}},
     "escalation": {"label", "probabilities", "drivers": [{"sentence", "field", "start", "end", "delta"}], "method"},
     "stance": [{"target", "label", "probabilities"}],
     "members": {role: {"task", "model_kind", "nlpkit_version", "digest", "dataset", "test_macro_f1"}},
     "notes": [...]}

Any member may be absent (its task is then ``null`` and a note says so), but at least one is needed. Stance is
scored toward each given target; with no targets the list is empty and a note says how to give them (the corpus
has over a hundred targets, so none is assumed). ``drivers`` are the sentences that raise the escalation label's
probability most (sentence occlusion, nlpkit.attribution); ``start``/``end`` are offsets into ``field``.
Probabilities and deltas are rounded to 4 decimals. Only the prediction runtime is imported here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from nlpkit import attribution, installed
from nlpkit._version import __version__
from nlpkit.article import Article, as_article, read_article
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError
from nlpkit.predict import Predictor
from nlpkit.predictor_files import METADATA_FILE, copy_sealed

__all__ = ["Analyzer", "read_article", "save_bundle"]
ROLES = installed.ROLES
DIGITS = attribution.DIGITS


class Analyzer:
    """A topic, an escalation and a stance ``Predictor`` (any may be None, not all) run over one article."""

    def __init__(self, *, topic: Predictor | None = None, escalation: Predictor | None = None,
                 stance: Predictor | None = None) -> None:
        given = {"topic": topic, "escalation": escalation, "stance": stance}
        self.members = {role: _checked_member(role, p) for role, p in given.items() if p is not None}
        if not self.members:
            raise ConfigError("Analyzer needs at least one predictor; got topic, escalation and stance all None. "
                              "Fix: e.g. Analyzer(topic=Predictor.load('path/to/topic/predictor')).")

    @classmethod
    def load(cls, source: str | os.PathLike) -> Analyzer:
        """Load a bundle folder (``nlpkit-bundle.json`` + one sealed predictor per role) or an installed bundle
        package by name; every member's digests are checked before its model is read."""
        folder = _bundle_folder(source)
        return cls(**_bundle_predictors(folder))

    def analyze(self, article: Any, targets: Iterable[str] | None = None, *, top_sentences: int = 3) -> dict:
        """Topic, escalation (with its ``top_sentences`` driving sentences) and stance toward each of ``targets``
        for ``article`` (a str, a dict with ``text`` and optionally ``title``, or an ``Article``)."""
        doc = as_article(article)
        wanted = _targets(targets, "stance" in self.members)
        top_k = _top_k(top_sentences)
        notes = [f"the bundle has no {role} predictor: {role} is null" for role in ROLES if role not in self.members]
        result: dict[str, Any] = {"nlpkit_version": __version__, "article": _summary(doc),
                                  "topic": None, "escalation": None, "stance": None}
        if "topic" in self.members:
            result["topic"] = _labelled(self.members["topic"], self.members["topic"].predict_proba([doc.joined()])[0])
        if "escalation" in self.members:
            result["escalation"] = self._escalation(doc, top_k, notes)
        if "stance" in self.members:
            result["stance"] = self._stance(doc, wanted, notes)
        result["members"] = {role: describe(p) for role, p in self.members.items()}
        result["notes"] = notes
        return result

    def _escalation(self, doc: Article, top_k: int, notes: list[str]) -> dict:
        predictor = self.members["escalation"]
        proba = predictor.predict_proba([doc.joined()])[0]
        column = int(np.argmax(proba))
        out = _labelled(predictor, proba)
        out["drivers"] = attribution.drivers(doc, lambda texts: predictor.predict_proba(texts)[:, column], top_k)
        out["method"] = attribution.METHOD
        if top_k and len(attribution.sentences(doc)) < 2:
            notes.append("the article has a single sentence: occlusion needs two or more, so drivers is empty")
        return out

    def _stance(self, doc: Article, targets: list[str], notes: list[str]) -> list[dict]:
        if not targets:
            notes.append("no stance targets given, so stance is empty; pass --target T (repeatable) or targets=[...]")
            return []
        predictor = self.members["stance"]
        proba = predictor.predict_proba([(target, doc.joined()) for target in targets])
        return [{"target": target, **_labelled(predictor, row)} for target, row in zip(targets, proba)]

    def __repr__(self) -> str:
        inner = ", ".join(f"{role}={p.metadata.get('model_kind')!r}" for role, p in self.members.items())
        return f"Analyzer({inner})"


def describe(predictor: Predictor) -> dict:
    """What makes a member's result traceable: task, model kind, nlpkit version, digest, data, test macro-F1."""
    meta = predictor.metadata
    f1 = predictor.metrics.get("test/macro_f1")
    found = meta.get("dataset")
    dataset: dict[str, Any] = found if isinstance(found, dict) else {}
    return {"task": predictor.task, "model_kind": meta.get("model_kind"), "nlpkit_version": meta.get("nlpkit_version"),
            "digest": meta.get("digest"), "dataset": dataset.get("name"),
            "test_macro_f1": None if f1 is None else round(float(f1), DIGITS)}


def save_bundle(directory: str | os.PathLike, *, topic: Any = None, escalation: Any = None, stance: Any = None) -> Path:
    """Write a bundle into ``directory`` (new or empty): each member (a predictor folder, an MLflow URI or a
    ``Predictor``) is verified, copied into ``directory/<role>``, and the copy verified again on a final load.
    On any error the folder is left as it was found."""
    given = {role: src for role, src in (("topic", topic), ("escalation", escalation), ("stance", stance))
             if src is not None}
    if not given:
        raise ConfigError("save_bundle needs at least one member; got topic, escalation and stance all None. Fix: "
                          "e.g. save_bundle('bundle', topic='outputs/topic/predictor').")
    loaded = {role: _as_predictor(role, src) for role, src in given.items()}
    Analyzer(**loaded)  # the role checks, before anything is written
    target = _empty_folder(Path(directory))
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        for role, predictor in loaded.items():
            _copy_member(predictor, target / role)
        installed.write_bundle(target, {role: role for role in loaded})
        Analyzer.load(target)
    except BaseException:
        _undo(target, created)
        raise
    return target


# -- members -------------------------------------------------------------------------------------------------
def _checked_member(role: str, predictor: Any) -> Predictor:
    if not isinstance(predictor, Predictor):
        raise InputTypeError(f"Analyzer({role}=...) expects a Predictor; got {type(predictor).__name__}. Fix: "
                             f"Analyzer({role}=Predictor.load('path/to/predictor')), or Analyzer.load(bundle).")
    wrong = predictor.task in ROLES and predictor.task != role
    if wrong or (role == "stance") != predictor.needs_target:
        need = "one with a target field, task=stance" if role == "stance" else "one without a target field"
        raise ConfigError(
            f"The {role!r} member must be a {role} predictor ({need}); got a {predictor.task!r} predictor "
            f"({predictor.path or 'in memory'}). Fix: pass the predictor trained with task={role} as {role}=..."
        )
    return predictor


def _as_predictor(role: str, source: Any) -> Predictor:
    if isinstance(source, Predictor):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InputTypeError(f"save_bundle({role}=...) expects a predictor folder, an MLflow URI or a Predictor; got "
                             f"{type(source).__name__}. Fix: e.g. {role}='outputs/{role}/predictor'.")
    try:
        return Predictor.load(source)
    except ModelLoadError as err:
        raise ModelLoadError(f"save_bundle {role}: {err}") from None


def _copy_member(predictor: Predictor, destination: Path) -> None:
    """Copy the predictor's sealed files byte for byte, or save it when it has no folder (loaded from MLflow),
    with everything it predicts with (calibrator, sealed data files), leaving ``predictor`` itself untouched."""
    source = predictor.path
    if source is not None and (Path(source) / METADATA_FILE).is_file():
        copy_sealed(Path(source), destination)
    else:
        Predictor(predictor.model, dict(predictor.metadata), calibrator=predictor.calibrator,
                  data_files=predictor.data_files).save(destination)


def _empty_folder(directory: Path) -> Path:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        what = "a file" if not directory.is_dir() else "a folder that is not empty"
        raise ConfigError(f"save_bundle writes into a new or empty folder; got {str(directory)!r}, {what}. Fix: "
                          "choose a new folder, or remove the old bundle first.")
    return directory


def _undo(directory: Path, created: bool) -> None:
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


# -- bundles -------------------------------------------------------------------------------------------------
def _bundle_folder(source: Any) -> Path:
    if not isinstance(source, (str, os.PathLike)):
        raise InputTypeError(f"Analyzer.load expects a bundle folder or an installed bundle name (str); got "
                             f"{type(source).__name__}. Fix: e.g. Analyzer.load('path/to/bundle').")
    text = os.fspath(source)
    path = Path(text).expanduser()
    folder = path if path.exists() else installed.find(text)
    if folder is None:
        raise ModelLoadError(
            f"No bundle {text!r}: no such folder, and no installed predictor package of that name (installed: "
            f"{installed.names() or 'none'}); expected a folder written by save_bundle or nlpkit package, or an "
            "installed bundle's name. Fix: check the path, or pip install the bundle package."
        )
    if not installed.is_bundle(folder):
        kind = "a single predictor" if (Path(folder) / METADATA_FILE).is_file() else "not a bundle"
        raise ModelLoadError(
            f"{str(folder)!r} is {kind}: expected a bundle folder with {installed.BUNDLE_FILE} and a predictor per "
            "role. Fix: build one with nlpkit.analyze.save_bundle(folder, topic=..., escalation=..., stance=...) "
            "(nlpkit predict --model runs a single predictor)."
        )
    return Path(folder)


def _bundle_predictors(folder: Path) -> dict[str, Predictor]:
    members = installed.bundle_members(folder)
    unknown = sorted(set(members) - set(ROLES))
    if unknown or not members:
        raise ModelLoadError(
            f"{folder / installed.BUNDLE_FILE} names the roles {sorted(members)}; expected one or more of "
            f"{list(ROLES)}. Fix: rebuild the bundle with save_bundle or nlpkit package."
        )
    loaded = {}
    for role, sub in members.items():
        if not sub.is_dir():
            raise ModelLoadError(
                f"Bundle {folder} lists role {role!r} in {sub.name!r}, which is missing; expected a sealed predictor "
                "folder there. Fix: copy the whole bundle folder again, or rebuild it."
            )
        try:
            loaded[role] = Predictor.load(sub)
        except NlpkitError as err:
            raise ModelLoadError(f"Bundle member {role!r}: {err}") from None
    return loaded


# -- inputs and outputs --------------------------------------------------------------------------------------
def _targets(targets: Any, has_stance: bool) -> list[str]:
    if targets is None:
        return []
    if isinstance(targets, (str, bytes)) or not hasattr(targets, "__iter__"):
        raise InputTypeError(f"targets must be a list of str; got a single {type(targets).__name__}. Fix: wrap it "
                             "in a list, e.g. targets=['the 2015 Iran nuclear deal'].")
    items = list(targets)
    for position, target in enumerate(items):
        if not isinstance(target, str) or not target.strip():
            raise DataError(f"Stance target {position} is {target!r:.40}; expected a non-empty str naming what the "
                            "stance is toward. Fix: e.g. --target 'the 2015 Iran nuclear deal'.")
    if items and not has_stance:
        raise DataError(f"Stance targets were given ({items[:3]}) but the bundle has no stance predictor; expected "
                        "no targets for it. Fix: drop --target, or use a bundle with a stance member.")
    return list(dict.fromkeys(t.strip() for t in items))


def _top_k(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"top_sentences must be an int >= 0; got {value!r}. Fix: e.g. --top-sentences 3 (0: no "
                          "sentence attribution).")
    return value


def _labelled(predictor: Predictor, row: np.ndarray) -> dict:
    return {"label": predictor.labels[int(np.argmax(row))],
            "probabilities": {label: round(float(p), DIGITS) for label, p in zip(predictor.labels, row)}}


def _summary(doc: Article) -> dict:
    return {"title": doc.title, "characters": len(doc.joined()), "sentences": len(attribution.sentences(doc))}
