"""Loading a predictor never runs code from its files, and what it loads is provably its own.

The gadget: a skops file holding a scikit-learn Pipeline of FunctionTransformers over numpy / builtins
callables, which skops' own defaults trust, arranged so that predicting writes a marker file. It is put into a
real saved predictor and the digest re-sealed, so that only the type allow-list can stop it.
"""

from __future__ import annotations

import builtins
import functools
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import LABELS, file_overrides, legacy_tfidf, tiny_rows, write_jsonl
from nlpkit import Predictor
from nlpkit.errors import ModelLoadError
from nlpkit.models import tfidf_io, transformer_io
from nlpkit.predictor_files import METADATA_FILE, combined_digest, file_digests, seal

OLD_TRUSTED_PREFIXES = ("sklearn.", "nlpkit.models.", "numpy.", "scipy.sparse.")  # the rule this module replaces
TEXT = "Artillery shelled the border town overnight."


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A TF-IDF predictor trained on the tiny set and logged to a real sqlite MLflow store."""
    from nlpkit.config import compose
    from nlpkit.train import train

    root = tmp_path_factory.mktemp("security")
    data = write_jsonl(root / "tiny.jsonl", tiny_rows())
    uri = f"sqlite:///{root / 'mlflow.db'}"
    return train(compose([f"output_dir={root / 'out'}", f"tracking.uri={uri}", *file_overrides(data)]))


def reseal(directory: Path) -> None:
    """Rewrite nlpkit.json's digests for the files now in ``directory`` (what an attacker with write access does)."""
    meta = json.loads((directory / METADATA_FILE).read_text())
    (directory / METADATA_FILE).write_text(json.dumps({**meta, **seal(directory)}))


def planted(source: Path, destination: Path, model_file: Path) -> Path:
    """A copy of the predictor at ``source`` with ``model_file`` as its model.skops instead of its plain arrays
    (the form nlpkit 0.1 saved, which still loads through skops), digest re-sealed."""
    shutil.copytree(source, destination)
    for name in ("tfidf.json", "tfidf.npz"):
        (destination / name).unlink()
    shutil.copyfile(model_file, destination / tfidf_io.FILENAME)
    reseal(destination)
    return destination


def gadget(kind: str, marker: Path) -> Pipeline:
    """A classifier for LABELS whose predict_proba writes ``marker`` before it fails."""
    if kind == "numpy":  # numpy functions only: np.save(np.take(np.full(np.size(texts), marker), 0), arr=...)
        steps = [("n", FunctionTransformer(np.size)),
                 ("paths", FunctionTransformer(np.full, kw_args={"fill_value": str(marker)})),
                 ("path", FunctionTransformer(np.take, kw_args={"indices": 0})),
                 ("write", FunctionTransformer(np.save, kw_args={"arr": np.zeros(1)}))]
    else:  # open(marker, "w", len(texts)): creates the file through builtins alone
        steps = [("n", FunctionTransformer(builtins.len)),
                 ("touch", FunctionTransformer(functools.partial(builtins.open, str(marker), "w")))]
    head = LogisticRegression().fit(np.eye(3), LABELS)
    return Pipeline([*steps, ("clf", head)])


def single_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


# -- the digest ---------------------------------------------------------------------------------------------
def test_save_seals_every_model_file_and_load_keeps_the_seal(logged):
    meta = json.loads((logged.predictor_dir / METADATA_FILE).read_text())
    assert set(meta["files"]) == {"tfidf.json", "tfidf.npz", "validation.npz"} and meta["files"] == file_digests(logged.predictor_dir)
    assert meta["digest"] == combined_digest(meta["files"]) == logged.predictor.metadata["digest"]
    assert Predictor.load(logged.predictor_dir).metadata["digest"] == meta["digest"]


def test_unsealed_predictor_is_refused_until_loaded_unverified_and_resaved(logged, tmp_path):
    old = shutil.copytree(logged.predictor_dir, tmp_path / "old")
    meta = json.loads((old / METADATA_FILE).read_text())
    (old / METADATA_FILE).write_text(json.dumps({k: v for k, v in meta.items() if k not in ("files", "digest")}))
    with pytest.raises(ModelLoadError, match=r"no 'files' digest map.*Predictor.load\(path, verify=False\)") as err:
        Predictor.load(old)
    single_line(err)
    resealed = Predictor.load(old, verify=False).save(tmp_path / "new")
    assert Predictor.load(resealed).predict([TEXT]) == logged.predictor.predict([TEXT])


def test_edited_digest_in_metadata_is_refused(logged, tmp_path):
    copy = shutil.copytree(logged.predictor_dir, tmp_path / "p")
    meta = json.loads((copy / METADATA_FILE).read_text())
    (copy / METADATA_FILE).write_text(json.dumps({**meta, "digest": "0" * 64}))
    with pytest.raises(ModelLoadError, match="does not match its 'files' map"):
        Predictor.load(copy)


# -- the allow-list: the gadget ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["numpy", "builtins"])
def test_gadget_runs_code_when_loaded_naively(kind, tmp_path):
    """The gadget is live: skops' own trust (get_untrusted_types -> trusted) lets predicting write the marker."""
    marker = tmp_path / "pwned.npy"
    sio.dump(gadget(kind, marker), tmp_path / "g.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "g.skops")
    if kind == "numpy":  # nlpkit's old prefix rule trusted every one of them
        assert untrusted and all(t.startswith(OLD_TRUSTED_PREFIXES) for t in untrusted)
    model = sio.load(tmp_path / "g.skops", trusted=untrusted)
    with pytest.raises(ValueError, match="Expected 2D array, got scalar array"):  # the gadget's return value
        model.predict_proba([TEXT])
    assert marker.exists()


@pytest.mark.parametrize("kind", ["numpy", "builtins"])
@pytest.mark.parametrize("verify", [True, False])
def test_gadget_in_a_resealed_predictor_is_refused_and_never_runs(logged, tmp_path, kind, verify):
    marker = tmp_path / "pwned.npy"
    sio.dump(gadget(kind, marker), tmp_path / "g.skops")
    directory = planted(logged.predictor_dir, tmp_path / "p", tmp_path / "g.skops")
    with pytest.raises(ModelLoadError, match=r"model\.skops contains types nlpkit does not trust") as err:
        Predictor.load(directory, verify=verify)
    message = single_line(err)
    assert "FunctionTransformer" in message and ("numpy.save" in message or "io.open" in message)
    assert "Fix:" in message and not marker.exists()


def test_allow_list_holds_no_functions_and_loads_every_skops_family(logged):
    assert not any(name.startswith("builtins.") and name.split(".")[1] not in ("dict", "list", "slice", "str", "tuple")
                   for name in tfidf_io.ALLOWED_TYPES)
    assert not tfidf_io.ALLOWED_LOADERS & {"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode"}
    assert not {"sklearn.preprocessing._function_transformer.FunctionTransformer"} & tfidf_io.ALLOWED_TYPES
    rows = tiny_rows()
    texts, y = [r["text"] for r in rows], [r["label"] for r in rows]
    head = Pipeline([("s", __import__("sklearn.preprocessing").preprocessing.StandardScaler()),
                     ("lr", LogisticRegression(class_weight="balanced"))]).fit(np.random.rand(len(y), 4), y)
    for model in (legacy_tfidf(texts, y), head):  # TF-IDF predictors of nlpkit < 0.2, the embed_logreg head
        with tempfile.TemporaryDirectory() as tmp:
            tfidf_io.save(model, Path(tmp))
            assert list(tfidf_io.load(Path(tmp)).classes_) == sorted(set(y))


# -- the archive checks -----------------------------------------------------------------------------------
def test_zip_bomb_is_refused_from_its_directory(logged, tmp_path):
    bomb = tmp_path / "bomb.skops"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("schema.json", b"{}")
        archive.writestr("1.npy", bytes(64 << 20))  # 64 MiB of zeros in ~64 KiB
    assert bomb.stat().st_size < 1 << 20
    directory = planted(logged.predictor_dir, tmp_path / "p", bomb)
    with pytest.raises(ModelLoadError, match=r"model\.skops would unpack \d+ bytes into \d+; expected at most .*bomb"):
        Predictor.load(directory)


def test_zip_claiming_a_huge_member_is_refused_before_reading_it(logged, tmp_path):
    liar = tmp_path / "liar.skops"
    with zipfile.ZipFile(liar, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("schema.json", b"{}" * 50)
    data = bytearray(liar.read_bytes())
    central = data.index(b"PK\x01\x02")
    data[central + 24:central + 28] = (3 << 30).to_bytes(4, "little")  # uncompressed size: 3 GiB
    liar.write_bytes(bytes(data))
    directory = planted(logged.predictor_dir, tmp_path / "p", liar)
    with pytest.raises(ModelLoadError, match=r"into 3221225472; expected at most 2147483648"):
        Predictor.load(directory)


def test_not_a_zip_is_refused_with_the_file_named(logged, tmp_path):
    fake = tmp_path / "fake.skops"
    fake.write_bytes(b"\x80\x04\x95 this is a pickle, not a zip")
    directory = planted(logged.predictor_dir, tmp_path / "p", fake)
    with pytest.raises(ModelLoadError, match=r"model\.skops is not a skops zip archive .*got 31 bytes") as err:
        Predictor.load(directory)
    single_line(err)


# -- the transformer families ------------------------------------------------------------------------------
@pytest.mark.parametrize("plant, match", [
    ("pytorch_model.bin", r"contains files nlpkit does not load: \['pytorch_model.bin'\]"),
    ("modeling_evil.py", r"contains files nlpkit does not load: \['modeling_evil.py'\]"),
    ("auto_map", r"config.json has an 'auto_map' \(custom model code"),
    ("no_safetensors", r"has no safetensors weights; expected model.safetensors"),
])
def test_encoder_files_that_could_run_code_are_refused(tiny_encoder_dir, tmp_path, plant, match):
    encoder = shutil.copytree(tiny_encoder_dir, tmp_path / "encoder")
    transformer_io.check_encoder_files(encoder)  # the untouched encoder passes
    if plant == "auto_map":
        config = json.loads((encoder / "config.json").read_text())
        (encoder / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_evil.Evil"}}))
    elif plant == "no_safetensors":
        (encoder / "model.safetensors").unlink()
    else:
        (encoder / plant).write_bytes(b"import os")
    with pytest.raises(ModelLoadError, match=match):
        transformer_io.check_encoder_files(encoder)


def test_no_loader_in_nlpkit_uses_pickle_or_remote_code():
    source = "\n".join(p.read_text() for p in Path(tfidf_io.__file__).parents[1].rglob("*.py"))
    for banned in ("import pickle", "pickle.load", "torch.load(", "import joblib", "joblib.load(", "cloudpickle",
                   "trust_remote_code=True", "allow_pickle=True", "weights_only=False"):
        assert banned not in source, banned


# -- MLflow loads: in memory, no temporary folder left, no network ----------------------------------------------
def test_runs_uri_load_leaves_no_temporary_folder(logged, tmp_path, monkeypatch):
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    assert tempfile.gettempdir() == str(private)
    p = Predictor.load(logged.model_uri)
    assert list(private.iterdir()) == [] and p.path is None
    assert p.predict([TEXT]) == logged.predictor.predict([TEXT])  # everything it needs is in memory


def test_runs_uri_load_from_sqlite_makes_no_network_connection(logged, tmp_path):
    code = (
        "import json, sys, time\n"
        "events = []\n"
        "def hook(event, args):\n"
        "    if event.startswith(('socket.connect', 'socket.getaddrinfo', 'socket.gethostbyname', 'urllib.Request')):\n"
        "        events.append([event, repr(args)[:200]])\n"
        "sys.addaudithook(hook)\n"
        "from nlpkit import Predictor\n"
        f"p = Predictor.load({logged.model_uri!r})\n"
        f"label = p.predict([{TEXT!r}])[0]\n"
        "time.sleep(1.0)  # give any background thread (telemetry) time to try\n"
        "print(json.dumps({'label': label, 'events': events}))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": logged.tracking_uri, "TMPDIR": str(tmp_path),
           "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["events"] == [] and result["label"] in LABELS


@pytest.mark.parametrize("runtime", ["torch", "onnx"])
def test_encoder_predictor_is_sealed_and_fully_in_memory_once_loaded(tiny_encoder_dir, tmp_path, runtime):
    """embed_logreg (safetensors + tokenizer + a skops head): sealed; loads; predicts after its folder is gone."""
    from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides
    from nlpkit.models.embed import EmbedLogregClassifier

    texts, labels = ESCALATORY + DE_ESCALATORY + NEUTRAL, [x for x in LABELS for _ in range(4)]
    model = EmbedLogregClassifier(**tiny_model_overrides("embed_logreg.v1")).fit(texts, labels)
    meta = {"model_kind": "embed_logreg.v1", "labels": LABELS, "task": "escalation", "text_fields": ["text"]}
    original = Predictor(model, meta)
    saved = original.save(tmp_path / "saved")
    assert {"model.skops", "encoder/model.safetensors", "estimator.json"} <= set(json.loads(
        (saved / METADATA_FILE).read_text())["files"])
    copy = shutil.copytree(saved, tmp_path / "copy")
    loaded = Predictor.load(copy, runtime=runtime)
    assert "model.onnx" in json.loads((saved / METADATA_FILE).read_text())["files"]  # the shipped graph is sealed
    assert not (copy / "onnx").exists()  # nothing is written into the folder at load time
    shutil.rmtree(copy)
    np.testing.assert_allclose(loaded.predict_proba(texts), original.predict_proba(texts), atol=1e-4)
