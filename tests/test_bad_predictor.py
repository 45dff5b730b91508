"""Every way Predictor.load / predict / predict_proba / predict_batches can be given something wrong.

One table: each case is a callable that does the bad thing with real predictors (trained once for the module
on the tiny set), the nlpkit error it must raise, and the patterns its message must match: what was expected,
what was got, and the fix. Every message must be one line.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest

from conftest import legacy_tfidf, tiny_rows, write_jsonl
from nlpkit import Predictor
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError
from nlpkit.models import tfidf_io
from nlpkit.predictor_files import METADATA_FILE, seal

TEXT = "Artillery shelled the border town overnight."
TARGET = "the truce"
RUN_ID = "0123456789abcdef0123456789abcdef"
STANCE_OF = {"escalatory": "against", "de_escalatory": "favor", "neutral": "none"}


@dataclass
class Ctx:
    esc: Predictor
    stance: Predictor
    esc_dir: Path
    stance_dir: Path
    legacy_dir: Path  # the escalation predictor as nlpkit 0.1 saved TF-IDF models: model.skops
    scratch: Callable[[], Path]

    def broken(self, edit: Callable[[Path], Any], source: Path | None = None) -> Path:
        """A copy of the escalation predictor with ``edit`` applied to its directory."""
        directory = shutil.copytree(source or self.esc_dir, self.scratch() / "p")
        edit(directory)
        return directory


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    import mlflow

    from nlpkit.config import compose
    from nlpkit.train import train

    root = tmp_path_factory.mktemp("bad_predictor")
    esc_file = write_jsonl(root / "esc.jsonl", tiny_rows())
    stance_file = write_jsonl(root / "stance.jsonl", [{**r, "stance": STANCE_OF[r["label"]]} for r in tiny_rows()])
    common = ["tracking=off", "data=file", "model.char_ngrams=false"]
    esc = train(compose([f"output_dir={root / 'esc'}", *common, f"data.path={esc_file}",
                         "data.columns.escalation=label"]))
    stance = train(compose([f"output_dir={root / 'stance'}", *common, f"data.path={stance_file}", "task=stance"]))
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")  # an empty store: no such run or model
    legacy = shutil.copytree(esc.predictor_dir, root / "legacy")
    for name in ("tfidf.json", "tfidf.npz"):
        (legacy / name).unlink()
    tfidf_io.save(legacy_tfidf([r["text"] for r in tiny_rows()], [r["label"] for r in tiny_rows()]), legacy)
    edit_meta(lambda m: {**m, **seal(legacy)})(legacy)
    yield Ctx(Predictor.load(esc.predictor_dir), Predictor.load(stance.predictor_dir), esc.predictor_dir,
              stance.predictor_dir, legacy, lambda: tmp_path_factory.mktemp("case"))
    mlflow.set_tracking_uri(previous)


# -- edits of a saved predictor ----------------------------------------------------------------------------
def edit_meta(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    """An edit that rewrites nlpkit.json as ``change(metadata)``."""

    def edit(directory: Path) -> None:
        meta = json.loads((directory / METADATA_FILE).read_text())
        (directory / METADATA_FILE).write_text(json.dumps(change(meta)))

    return edit


def without(key: str) -> Callable[[dict], dict]:
    return lambda meta: {k: v for k, v in meta.items() if k != key}


def write(name: str, data: bytes | str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def truncate(directory: Path, name: str = "tfidf.npz") -> None:
    model = directory / name
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])


def resealed(edit: Callable[[Path], None]) -> Callable[[Path], None]:
    """``edit``, then the digest re-sealed: only the file checks behind it can refuse the predictor."""
    return lambda d: (edit(d), edit_meta(lambda m: {**m, **seal(d)})(d))


def flip_middle(directory: Path, name: str = "model.skops") -> None:
    model = directory / name
    data = bytearray(model.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    model.write_bytes(bytes(data))


def bad_schema_zip(directory: Path) -> None:
    import zipfile

    with zipfile.ZipFile(directory / "model.skops", "w") as archive:
        archive.writestr("schema.json", "this is not json")


def load(ctx: Ctx, edit: Callable[[Path], Any], **options: Any) -> Predictor:
    return Predictor.load(ctx.broken(edit), **options)


def legacy(ctx: Ctx, edit: Callable[[Path], Any], **options: Any) -> Predictor:
    """``load`` on the model.skops (nlpkit 0.1) form of the escalation predictor."""
    return Predictor.load(ctx.broken(edit, ctx.legacy_dir), **options)


def object_array(directory: Path) -> None:
    """tfidf.npz with one member replaced by an object array (numpy would need pickle to read it)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(directory / "tfidf.npz", "a") as archive:
        archive.writestr("b0.idf.npy", buffer.getvalue())


def spec_edit(change: Callable[[dict], dict]) -> Callable[[Path], None]:
    """An edit that rewrites tfidf.json as ``change(spec)``."""

    def edit(directory: Path) -> None:
        spec = json.loads((directory / "tfidf.json").read_text())
        (directory / "tfidf.json").write_text(json.dumps(change(spec)))

    return edit


FIX_META = r"Fix: restore"
CHANGED = (r"Predictor file 'tfidf\.npz' in .* was changed", r"expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}",
           r"Fix: get the predictor again")
NOT_ZIP = (r"model\.skops is not a skops zip archive", r"expected a model file written by nlpkit, got \d+ bytes",
           r"Fix: load only predictors saved by nlpkit")
NOT_NPZ = (r"tfidf\.npz is not a plain-array archive", r"expected numeric and string arrays written by nlpkit",
           r"Fix: load only predictors saved by nlpkit")
LIST_FIX = r"Fix: (wrap it in a list|e\.g\. predictor\.predict\(\[)"
EMPTY = (r"Input {} has an empty {}", r"expected some text, as in training", r"Fix: drop or fill empty inputs")


def empty(position: int, what: str = "text") -> tuple[str, ...]:
    return tuple(p.format(position, what) if "{}" in p else p for p in EMPTY)


CASES: list[tuple[str, Callable[[Ctx], Any], type[NlpkitError], tuple[str, ...]]] = [
    # -- where the predictor is ------------------------------------------------------------------------------
    ("path-missing", lambda c: Predictor.load(c.scratch() / "nope"), ModelLoadError,
     (r"No predictor at '.*nope'", r"the path does not exist; expected a local directory", r"Fix: check the path")),
    ("path-is-a-file", lambda c: Predictor.load(c.esc_dir / METADATA_FILE), ModelLoadError,
     (r"nlpkit\.json' is a file", r"expected a predictor directory", r"Fix: pass the directory")),
    ("no-nlpkit-json", lambda c: Predictor.load(c.scratch()), ModelLoadError,
     (r"is not an nlpkit predictor", r"expected nlpkit\.json in it .* got none", r"Fix: point to a directory")),
    ("uri-not-a-path", lambda c: Predictor.load(None), InputTypeError,
     (r"expects a path or an MLflow URI", r"got NoneType", r"Fix: e\.g\. Predictor\.load\(")),
    ("runs-unknown-id", lambda c: Predictor.load(f"runs:/{RUN_ID}/model"), ModelLoadError,
     (rf"Could not fetch 'runs:/{RUN_ID}/model' from the MLflow store at sqlite", r"Expected an existing run id",
      r"Fix: check the run id")),
    ("models-unknown-name", lambda c: Predictor.load("models:/no-such-model/1"), ModelLoadError,
     (r"Could not fetch 'models:/no-such-model/1'", r"Expected an existing run id or registered model",
      r"Fix: check the run id / model name")),
    # -- nlpkit.json ----------------------------------------------------------------------------------------------
    ("meta-not-json", lambda c: load(c, write(METADATA_FILE, "{model_kind: tfidf")), ModelLoadError,
     (r"nlpkit\.json is not valid JSON \(", r"expected the metadata object", FIX_META)),
    ("meta-not-utf8", lambda c: load(c, write(METADATA_FILE, b"\xff\xfe\x00")), ModelLoadError,
     (r"nlpkit\.json is not valid JSON", r"expected the metadata object", FIX_META)),
    ("meta-a-list", lambda c: load(c, write(METADATA_FILE, "[1, 2]")), ModelLoadError,
     (r"holds a JSON list", r"expected an object with keys \['model_kind', 'labels'\]", FIX_META)),
    ("meta-no-kind", lambda c: load(c, edit_meta(without("model_kind"))), ModelLoadError,
     (r"lacks the keys \['model_kind'\]", r"expected \['model_kind', 'labels'\] \(got \[", FIX_META)),
    ("meta-no-labels", lambda c: load(c, edit_meta(without("labels"))), ModelLoadError,
     (r"lacks the keys \['labels'\]", r"expected \['model_kind', 'labels'\]", FIX_META)),
    ("meta-unknown-kind", lambda c: load(c, edit_meta(lambda m: {**m, "model_kind": "tfidf_magic.v9"})),
     ModelLoadError, (r"unknown model_kind 'tfidf_magic\.v9'", r"expected one of \[.*'tfidf_logreg\.v1'",
                      r"Fix: load it with the nlpkit version that saved it")),
    ("labels-two-of-three", lambda c: load(c, edit_meta(lambda m: {**m, "labels": ["escalatory", "de_escalatory"]})),
     ModelLoadError, (r"lists labels \['escalatory', 'de_escalatory'\] but the model predicts \[",
                      r"expected the same set", r"Fix: restore nlpkit\.json")),
    ("labels-renamed", lambda c: load(c, edit_meta(lambda m: {**m, "labels": ["up", "down", "flat"]})),
     ModelLoadError, (r"lists labels \['up', 'down', 'flat'\] but the model predicts", r"expected the same set",
                      r"Fix: restore")),
    ("labels-duplicate", lambda c: load(c, edit_meta(lambda m: {**m, "labels": ["neutral", "escalatory", "neutral"]})),
     ModelLoadError, (r"'labels' must name each label once", r"got duplicates \['neutral'\]", FIX_META)),
    ("labels-a-string", lambda c: load(c, edit_meta(lambda m: {**m, "labels": "neutral"})), ModelLoadError,
     (r"'labels' must be a non-empty list of label names", r"got 'neutral'", FIX_META)),
    # -- the seal -------------------------------------------------------------------------------------------------
    ("model-truncated", lambda c: load(c, truncate), ModelLoadError, CHANGED),
    ("model-replaced", lambda c: load(c, lambda d: shutil.copyfile(c.stance_dir / "tfidf.npz", d / "tfidf.npz")),
     ModelLoadError, CHANGED),
    ("model-missing", lambda c: load(c, lambda d: (d / "tfidf.npz").unlink()), ModelLoadError,
     (r"Predictor file 'tfidf\.npz' is missing from", r"expected sha256 [0-9a-f]{64}, got no file",
      r"Fix: copy the whole predictor directory")),
    ("extra-file", lambda c: load(c, write("notes.txt", "hello")), ModelLoadError,
     (r"Unexpected file 'notes\.txt' in predictor", r"expected only the 3 sealed files; got 1 extra",
      r"Fix: remove it")),
    ("digest-edited", lambda c: load(c, edit_meta(lambda m: {**m, "files": {"tfidf.npz": "0" * 64}})),
     ModelLoadError, (r"'digest' '[0-9a-f]{64}' does not match its 'files' map", r"expected [0-9a-f]{64}\)",
                      r"Fix: for a predictor you trust")),
    ("unsealed", lambda c: load(c, edit_meta(without("files"))), ModelLoadError,
     (r"has no 'files' digest map", r"got NoneType", r"Fix: .*Predictor\.load\(path, verify=False\) then \.save")),
    # -- tfidf.json / tfidf.npz themselves (unverified, or re-sealed after the change) ---------------------------
    ("arrays-truncated-unverified", lambda c: load(c, truncate, verify=False), ModelLoadError, NOT_NPZ),
    ("arrays-not-a-zip", lambda c: load(c, resealed(write("tfidf.npz", "hello"))), ModelLoadError, NOT_NPZ),
    ("arrays-object-array", lambda c: load(c, resealed(object_array)), ModelLoadError,
     (r"tfidf\.npz is not a plain-array archive \(ValueError: Object arrays cannot be loaded",
      r"expected numeric and string arrays written by nlpkit", r"Fix: load only predictors saved by nlpkit")),
    ("arrays-missing-unverified", lambda c: load(c, lambda d: (d / "tfidf.npz").unlink(), verify=False),
     ModelLoadError, (r"No tfidf\.npz in", r"expected it beside tfidf\.json", r"Fix: copy the whole")),
    ("spec-not-json", lambda c: load(c, resealed(write("tfidf.json", "{blocks"))), ModelLoadError,
     (r"tfidf\.json is not readable JSON \(JSONDecodeError\)", r"expected nlpkit's TF-IDF description",
      r"Fix: load only")),
    ("spec-other-format", lambda c: load(c, resealed(spec_edit(lambda s: {**s, "format": "other/9"}))), ModelLoadError,
     (r"tfidf\.json has format 'other/9'", r"expected one of \('nlpkit-tfidf/1', 'nlpkit-tfidf/2'\)",
      r"Fix: load it with the nlpkit version")),
    ("spec-block-dropped", lambda c: load(c, resealed(spec_edit(lambda s: {**s, "blocks": s["blocks"][:0]}))),
     ModelLoadError, (r"holds an inconsistent TF-IDF model \(ValueError: the features are 0 wide but the classifier "
                      r"takes \d+\)", r"expected the tfidf\.json and tfidf\.npz nlpkit writes together", r"Fix:")),
    ("spec-unknown-classifier", lambda c: load(c, resealed(spec_edit(lambda s: {**s, "classifier": {"kind": "mlp"}}))),
     ModelLoadError, (r"inconsistent TF-IDF model \(ValueError: unknown classifier kind 'mlp'\)", r"expected the",
                      r"Fix:")),
    # -- model.skops of nlpkit 0.1 predictors (unverified, or re-sealed after the change) -------------------------
    ("skops-truncated-unverified", lambda c: legacy(c, lambda d: truncate(d, "model.skops"), verify=False),
     ModelLoadError, NOT_ZIP),
    ("skops-not-a-zip", lambda c: legacy(c, resealed(write("model.skops", "hello"))), ModelLoadError, NOT_ZIP),
    ("skops-empty-file", lambda c: legacy(c, resealed(write("model.skops", b""))), ModelLoadError, NOT_ZIP),
    ("skops-bytes-zeroed", lambda c: legacy(c, resealed(flip_middle)), ModelLoadError,
     (r"model\.skops (has no readable skops schema|could not be read by skops|is not a skops zip)",
      r"expected a model file written by", r"Fix: load only predictors saved by nlpkit")),
    ("skops-schema-not-json", lambda c: legacy(c, resealed(bad_schema_zip)), ModelLoadError,
     (r"model\.skops has no readable skops schema \(JSONDecodeError\)", r"expected a model file written by nlpkit",
      r"Fix: load only")),
    ("skops-missing-unverified", lambda c: legacy(c, lambda d: (d / "model.skops").unlink(), verify=False),
     ModelLoadError, (r"No tfidf\.json or model\.skops in", r"expected a TF-IDF predictor saved by nlpkit",
                      r"Fix: copy the whole")),
    # -- what predict is given ----------------------------------------------------------------------------------------
    ("none", lambda c: c.esc.predict(None), InputTypeError,
     (r"Expected a list of inputs \(texts, dicts or \(target, text\) pairs\)", r"got NoneType", LIST_FIX)),
    ("int", lambda c: c.esc.predict(42), InputTypeError, (r"Expected a list of inputs", r"got int", LIST_FIX)),
    ("bare-str", lambda c: c.esc.predict(TEXT), InputTypeError,
     (r"Expected a list of inputs", r"got a single str", r"Fix: wrap it in a list")),
    ("bytes", lambda c: c.esc.predict(TEXT.encode()), InputTypeError,
     (r"Expected a list", r"got a single bytes", LIST_FIX)),
    ("dict", lambda c: c.esc.predict({"text": TEXT}), InputTypeError,
     (r"Expected a list", r"got a single dict", LIST_FIX)),
    ("empty-list", lambda c: c.esc.predict([]), InputTypeError,
     (r"Expected at least one input", r"got an empty list", r"Fix: pass a non-empty list")),
    ("generator-of-ints", lambda c: c.esc.predict(x for x in [1, 2]), InputTypeError,
     (r"Expected a text \(str\) or a dict with a 'text' field at position 0", r"got int 1",
      r"Fix: pass plain strings")),
    ("list-none", lambda c: c.esc.predict([None]), InputTypeError,
     (r"Expected a text \(str\).* at position 0", r"got NoneType None", r"Fix: pass plain strings")),
    ("list-float", lambda c: c.esc.predict_proba([TEXT, 3.5]), InputTypeError,
     (r"Expected a text \(str\).* at position 1", r"got float 3\.5", r"Fix:")),
    ("list-nested", lambda c: c.esc.predict([[TEXT]]), InputTypeError,
     (r"Expected a text \(str\).* at position 0", r"got list", r"Fix:")),
    ("empty-text", lambda c: c.esc.predict([""]), DataError, empty(0)),
    ("blank-text", lambda c: c.esc.predict([TEXT, "   "]), DataError, empty(1)),
    ("newline-tab-text", lambda c: c.esc.predict_proba(["\n\t"]), DataError, empty(0)),
    ("dict-no-text", lambda c: c.esc.predict([{"title": "Raids"}]), InputTypeError,
     (r"Input 0 has no text in field 'text'", r"got NoneType; keys \['title'\]", r"Fix: give each dict a 'text'")),
    ("dict-empty-text", lambda c: c.esc.predict([{"title": "Raids", "text": " "}]), DataError,
     empty(0, "field 'text'")),
    ("frame-no-text-column", lambda c: c.esc.predict(pd.DataFrame({"body": [TEXT]})), InputTypeError,
     (r"The DataFrame has no column 'text'", r"expected columns \['text'\], got \['body'\]", r"Fix: rename")),
    ("batches-none-eagerly", lambda c: c.esc.predict_batches(None), InputTypeError,
     (r"Expected a list of inputs", r"got NoneType", LIST_FIX)),
    ("batches-blank-third", lambda c: list(c.esc.predict_batches(iter([TEXT, TEXT, " "]), batch_size=2)), DataError,
     empty(2)),
    ("batches-size-zero", lambda c: c.esc.predict_batches([TEXT], batch_size=0), ConfigError,
     (r"batch_size must be an int >= 1", r"got 0", r"Fix: e\.g\. batch_size=64")),
    # -- stance ---------------------------------------------------------------------------------------------------
    ("stance-bare-text", lambda c: c.stance.predict([TEXT]), InputTypeError,
     (r"needs \(target, text\) pairs or dicts with 'target' and 'text'", r"got str at position 0", r"Fix: pass \[")),
    ("stance-empty-target", lambda c: c.stance.predict([("", TEXT)]), DataError, empty(0, "target")),
    ("stance-empty-text", lambda c: c.stance.predict([(TARGET, "")]), DataError, empty(0, "text")),
    ("stance-blank-target", lambda c: c.stance.predict([(TARGET, TEXT), ("   ", TEXT)]), DataError,
     empty(1, "target")),
    ("stance-3-tuple", lambda c: c.stance.predict([(TARGET, TEXT, "extra")]), InputTypeError,
     (r"needs \(target, text\) pairs", r"got a 3-item tuple at position 0", r"Fix: pass \[\(target, text\)")),
    ("stance-dict-no-target", lambda c: c.stance.predict([{"text": TEXT}]), InputTypeError,
     (r"Input 0 has no 'target'", r"needs the target of the stance \(got NoneType\)", r"Fix: pass")),
    ("stance-dict-blank-target", lambda c: c.stance.predict([{"text": TEXT, "target": " "}]), DataError,
     empty(0, "target")),
    ("stance-frame-no-target", lambda c: c.stance.predict(pd.DataFrame({"text": [TEXT]})), InputTypeError,
     (r"The DataFrame has no column 'target'", r"expected columns \['text', 'target'\], got \['text'\]",
      r"Fix: rename")),
    ("stance-bare-str", lambda c: c.stance.predict(TEXT), InputTypeError,
     (r"Expected a list of inputs", r"got a single str", r"Fix: wrap it in a list")),
]


@pytest.mark.parametrize("run, error, patterns", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_predictor_input_gives_one_clear_line(ctx, run, error, patterns):
    with pytest.raises(error) as caught:
        run(ctx)
    message = str(caught.value)
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {message}"
    assert "\n" not in message, message
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"


def test_table_is_large_and_each_case_has_expected_got_and_fix():
    assert len(CASES) >= 30 and len({name for name, *_ in CASES}) == len(CASES)
    assert all(2 <= len(patterns) <= 3 for *_, patterns in CASES)
    assert {ModelLoadError, InputTypeError, DataError} <= {error for _, _, error, _ in CASES}


def test_arrays_frames_and_generators_of_good_input_work(ctx):
    expected = ctx.esc.predict([TEXT, "Negotiators welcomed progress in the talks"])
    assert ctx.esc.predict(np.array([TEXT, "Negotiators welcomed progress in the talks"])) == expected
    assert ctx.esc.predict(pd.DataFrame({"text": [TEXT, "Negotiators welcomed progress in the talks"]})) == expected
    assert ctx.esc.predict(t for t in [TEXT, "Negotiators welcomed progress in the talks"]) == expected
    pairs = [(TARGET, TEXT), (TARGET, "Negotiators welcomed progress in the talks")]
    assert ctx.stance.predict(np.array(pairs)) == ctx.stance.predict(pairs)
    assert ctx.stance.predict(pd.DataFrame({"target": [TARGET], "text": [TEXT]})) == ctx.stance.predict(pairs[:1])
    assert list(ctx.esc.predict_batches([], batch_size=3)) == []
