"""A saved predictor's files: its metadata (``nlpkit.json``) and the content digest that seals its model files.

``nlpkit.json`` holds ``"files": {relative posix path: sha256}`` for every file of the predictor directory
except ``nlpkit.json`` itself and the runtimes' caches (``onnx/``: graphs exported from the sealed weights on
first use, only for encoder predictors saved before nlpkit shipped ``model.onnx``, which is sealed), and
``"digest"``: the sha256 of the sorted ``"<path>:<sha256>\\n"`` lines. ``Predictor.load``
checks both before it reads any model file; a changed, missing or extra file is refused with its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from nlpkit.errors import ModelLoadError, one_line

METADATA_FILE = "nlpkit.json"
CACHE_DIRS = frozenset({"onnx"})  # derived files written at load time (transformer_io's ONNX export cache)
REQUIRED_KEYS = ("model_kind", "labels")
RESEAL_FIX = ("Fix: for a predictor you trust, Predictor.load(path, verify=False) then .save(new_dir) re-seals it; "
              "otherwise get the predictor again from its source.")


def file_digests(directory: str | os.PathLike) -> dict[str, str]:
    """``{relative posix path: sha256 hex}`` of every file under ``directory`` except ``nlpkit.json`` and caches.

    Symbolic links to directories are not followed (files reached through them are never sealed or trusted).
    """
    root = Path(directory)
    found: dict[str, str] = {}
    for parent, dirs, files in os.walk(root):
        rel_parent = Path(parent).relative_to(root)
        dirs[:] = sorted(d for d in dirs if d not in CACHE_DIRS)
        for name in files:
            rel = (rel_parent / name).as_posix()
            if rel != METADATA_FILE:
                found[rel] = _sha256(Path(parent) / name)
    return dict(sorted(found.items()))


def combined_digest(files: dict[str, str]) -> str:
    """One sha256 over the sorted ``"<path>:<sha256>\\n"`` lines of a ``file_digests`` map."""
    lines = "".join(f"{path}:{digest}\n" for path, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def folder_digest(directory: str | os.PathLike) -> str:
    """The combined digest of every file of a predictor directory, ``nlpkit.json`` included: two folders with
    the same value are byte-identical (used to check that a logged copy is the one the job saved)."""
    files = file_digests(directory)
    metadata = Path(directory) / METADATA_FILE
    if metadata.is_file():
        files[METADATA_FILE] = _sha256(metadata)
    return combined_digest(files)


def seal(directory: str | os.PathLike) -> dict[str, Any]:
    """``{"files": ..., "digest": ...}`` for the predictor files now in ``directory``."""
    files = file_digests(directory)
    return {"files": files, "digest": combined_digest(files)}


def verify(directory: Path, metadata: dict[str, Any]) -> None:
    """Refuse the predictor unless its files are exactly the ones sealed in ``metadata`` (one-line errors)."""
    expected = metadata.get("files")
    where = directory / METADATA_FILE
    if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
        raise ModelLoadError(
            f"{where} has no 'files' digest map (expected one from Predictor.save; got {type(expected).__name__}), "
            f"so its model files cannot be checked: it was saved before nlpkit sealed predictors. {RESEAL_FIX}"
        )
    if metadata.get("digest") != combined_digest(expected):
        raise ModelLoadError(
            f"{where}: 'digest' {metadata.get('digest')!r} does not match its 'files' map (expected "
            f"{combined_digest(expected)}); the metadata was edited. {RESEAL_FIX}"
        )
    _compare(directory, expected, file_digests(directory))


def _compare(directory: Path, expected: dict[str, str], actual: dict[str, str]) -> None:
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise ModelLoadError(
            f"Predictor file {missing[0]!r} is missing from {directory} (expected sha256 {expected[missing[0]]}, got "
            f"no file; {len(missing)} missing in all: {missing[:5]}). Fix: copy the whole predictor directory again."
        )
    extra = sorted(set(actual) - set(expected))
    if extra:
        raise ModelLoadError(
            f"Unexpected file {extra[0]!r} in predictor {directory} (expected only the {len(expected)} sealed files; "
            f"got {len(extra)} extra: {extra[:5]}). Fix: remove it, or re-save the predictor if you added it on "
            "purpose."
        )
    changed = [path for path in expected if expected[path] != actual[path]]
    if changed:
        path = changed[0]
        raise ModelLoadError(
            f"Predictor file {path!r} in {directory} was changed: expected sha256 {expected[path]}, got {actual[path]} "
            f"({len(changed)} changed in all: {changed[:5]}). Fix: get the predictor again from its source; never "
            "load a modified model."
        )


def copy_sealed(source: Path, destination: Path) -> dict[str, Any]:
    """Copy the predictor in ``source`` (the files its seal lists, and ``nlpkit.json``; no caches) into
    ``destination``, check the copy against the seal, and return its metadata."""
    for rel in [*read_metadata(source)["files"], METADATA_FILE]:
        (destination / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, destination / rel)
    metadata = read_metadata(destination)
    verify(destination, metadata)
    return metadata


def read_metadata(directory: Path) -> dict[str, Any]:
    """``nlpkit.json`` as a dict with a model kind and a label list, or a one-line ModelLoadError."""
    path = directory / METADATA_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(
            f"{path} is not valid JSON ({one_line(err, 300)}); expected the metadata object written by Predictor.save. "
            "Fix: restore the file from the predictor's source or re-save the predictor."
        ) from None
    if not isinstance(metadata, dict):
        raise ModelLoadError(
            f"{path} holds a JSON {type(metadata).__name__}; expected an object with keys {list(REQUIRED_KEYS)}. "
            "Fix: restore the file from the predictor's source or re-save the predictor."
        )
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        raise ModelLoadError(
            f"{path} lacks the keys {missing}; expected {list(REQUIRED_KEYS)} (got {sorted(metadata)[:12]}). "
            "Fix: restore the file from the predictor's source or re-save the predictor."
        )
    _check_labels(path, metadata["labels"])
    return metadata


def _check_labels(path: Path, labels: Any) -> None:
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise ModelLoadError(
            f"{path}: 'labels' must be a non-empty list of label names; got {labels!r:.120}. "
            "Fix: restore the file from the predictor's source."
        )
    duplicates = sorted({x for x in labels if labels.count(x) > 1})
    if duplicates:
        raise ModelLoadError(
            f"{path}: 'labels' must name each label once; got duplicates {duplicates} in {labels}. "
            "Fix: restore the file from the predictor's source."
        )


def check_classes(directory: Path, labels: list[str], classes: Any) -> None:
    """Refuse a predictor whose ``nlpkit.json`` labels are not exactly the model's classes."""
    known = [str(c) for c in classes]
    if sorted(known) != sorted(labels):
        raise ModelLoadError(
            f"{directory / METADATA_FILE} lists labels {labels} but the model predicts {known}; expected the same "
            "set (in any order). Fix: restore nlpkit.json from the predictor's source or re-save the predictor."
        )


def find_predictor_dir(path: Path) -> Path:
    """The predictor directory at ``path`` (or under ``artifacts/predictor``, ``predictor`` of an MLflow model)."""
    if not path.is_dir():
        raise ModelLoadError(
            f"{str(path)!r} is a file; expected a predictor directory (with {METADATA_FILE} and the model files). "
            "Fix: pass the directory that contains it."
        )
    for candidate in (path, path / "artifacts" / "predictor", path / "predictor"):
        if (candidate / METADATA_FILE).is_file():
            return candidate
    raise ModelLoadError(
        f"{path} is not an nlpkit predictor: expected {METADATA_FILE} in it (or in artifacts/predictor/), got none. "
        "Fix: point to a directory saved by nlpkit or to an MLflow model logged by nlpkit-train."
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
