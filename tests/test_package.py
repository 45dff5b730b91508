"""``nlpkit package``: the wheel's contents and model card, and the wheel installed into a fresh virtual environment
(nlpkit's runtime-only install, no package index) where ``import NAME; NAME.load()``, ``Predictor.load("NAME")`` and
``nlpkit predict --model NAME`` give the source predictor's probabilities; bundles; one-line errors for bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import subprocess
import zipfile
from email.parser import Parser
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    fresh_venv,
    readme_command,
    tiny_model_overrides,
    train_tiny_predictor,
    venv_env,
    write_jsonl,
)

from nlpkit import Predictor, compose, train
from nlpkit._version import __version__
from nlpkit.cli import main
from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.package import package

NAME, MODULE, VERSION = "Conflict.Escalation-test", "conflict_escalation_test", "1.2.0"
TEXTS = ["Artillery shelled the border town overnight.", "Negotiators welcomed progress in the ceasefire talks.",
         "Parliament will debate the budget on Tuesday."]
MINOR_LINE = f"<{__version__.split('.')[0]}.{int(__version__.split('.')[1]) + 1}"
# Run in the fresh venv: the installed package's load(), Predictor.load(NAME) and what entry points it finds.
PROBE = """
import json, sys
import {module}
from nlpkit import Predictor, installed
p = {module}.load()
q = Predictor.load(sys.argv[1])
print(json.dumps({{"version": {module}.__version__, "data_path": str({module}.data_path()), "names": installed.names(),
                   "module": p.predict_proba(sys.argv[2:]).tolist(), "by_name": q.predict_proba(sys.argv[2:]).tolist()}}))
"""


def run(args: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, timeout=300, cwd="/",
                          env=venv_env(), **kw)


def install(venv: Path, *wheels: Path, offline: bool = True) -> None:
    """pip-install ``wheels`` into ``venv``; offline: only from what is installed there (no package index)."""
    out = run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
               *(["--no-index"] if offline else []), *wheels])
    assert out.returncode == 0, out.stderr[-3000:]


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return train_tiny_predictor(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def built(source, tmp_path_factory) -> Path:
    return package([str(source)], NAME, VERSION, tmp_path_factory.mktemp("dist"))


def test_wheel_holds_the_sealed_predictor_the_package_and_valid_metadata(built, source):
    assert built.name == f"{MODULE}-{VERSION}-py3-none-any.whl"
    files = members(built)
    info = f"{MODULE}-{VERSION}.dist-info"
    sealed = [*json.loads((source / "nlpkit.json").read_text())["files"], "nlpkit.json"]
    assert sorted(files) == sorted([f"{MODULE}/__init__.py", f"{MODULE}/MODEL_CARD.md", *(f"{MODULE}/data/{r}" for r in sealed),
                                    *(f"{info}/{n}" for n in ("METADATA", "WHEEL", "RECORD", "entry_points.txt",
                                                              "top_level.txt"))])
    for rel in sealed:  # the predictor's files, byte for byte
        assert files[f"{MODULE}/data/{rel}"] == (source / rel).read_bytes()
    record = [line.rsplit(",", 2) for line in files[f"{info}/RECORD"].decode().splitlines()]
    assert sorted(path for path, _, _ in record) == sorted(files)
    for path, digest, size in record:
        if path != f"{info}/RECORD":
            expected = base64.urlsafe_b64encode(hashlib.sha256(files[path]).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={expected}", len(files[path])), path
    meta = Parser().parsestr(files[f"{info}/METADATA"].decode())
    assert (meta["Name"], meta["Version"]) == (NAME, VERSION)
    assert meta.get_all("Requires-Dist") == [f"nlpkit-conflict>={__version__},{MINOR_LINE}"]  # TF-IDF: no extra
    assert meta.get_payload() == files[f"{MODULE}/MODEL_CARD.md"].decode()
    assert files[f"{info}/entry_points.txt"].decode().splitlines()[:2] == [
        "[nlpkit_predictors]", f"{NAME} = {MODULE}:data_path"]
    assert files[f"{info}/top_level.txt"].decode() == f"{MODULE}\n"
    assert "Root-Is-Purelib: true" in files[f"{info}/WHEEL"].decode()


def test_model_card_states_task_labels_metrics_data_config_and_limits(built, source):
    card = members(built)[f"{MODULE}/MODEL_CARD.md"].decode()
    meta = json.loads((source / "nlpkit.json").read_text())
    m = meta["metrics"]
    assert card.startswith(f"# {NAME} {VERSION}\n") and "**escalation**" in card
    assert "`escalatory`, `de_escalatory`, `neutral`" in card and "`tfidf_logreg.v1`" in card
    for split in ("validation", "test"):  # every evaluated split, its size, accuracy with an interval, macro-F1
        row = next(line for line in card.splitlines() if line.startswith(f"| {split} | {m[f'{split}/n']:.0f} |"))
        assert f"{m[f'{split}/accuracy']:.3f} [" in row
        low, high = m[f"{split}/macro_f1_ci_low"], m[f"{split}/macro_f1_ci_high"]  # the bootstrap CI training stores
        assert f"| {m[f'{split}/macro_f1']:.3f} [{low:.3f}, {high:.3f}] |" in row
        assert f"{m[f'{split}/f1/neutral']:.3f}" in card
    assert meta["dataset"]["digest"] in card and meta["digest"] in card
    assert f"nlpkit {meta['nlpkit_version']}" in card and f"nlpkit {__version__}" in card
    config = card.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(config) == meta["config"]
    assert "## Intended use and limits" in card and "Not for" in card and "nlpkit/corpus/CODEBOOK.md" in card
    assert "kept, so these scores may be optimistic" in card  # tiny_rows' near-duplicates (dedupe=keep)


def test_same_inputs_give_a_byte_identical_wheel(built, source, tmp_path):
    again = package([str(source)], NAME, VERSION, tmp_path)
    assert again.read_bytes() == built.read_bytes()


def test_installed_package_predicts_like_its_source_offline(runtime_venv, built, source, tmp_path):
    install(runtime_venv, built)  # --no-index: the runtime-only install already holds every dependency
    expected = Predictor.load(source).predict_proba(TEXTS)
    out = run([runtime_venv / "bin" / "python", "-c", PROBE.format(module=MODULE), NAME.lower(), *TEXTS])
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["version"] == VERSION and NAME in got["names"]
    assert Path(got["data_path"]).is_relative_to(runtime_venv) and Path(got["data_path"], "nlpkit.json").is_file()
    for key in ("module", "by_name"):
        np.testing.assert_allclose(np.asarray(got[key]), expected, rtol=0, atol=1e-12)
    inputs = write_jsonl(tmp_path / "news.jsonl", [{"text": t} for t in TEXTS])
    out = run([runtime_venv / "bin" / "nlpkit", "predict", "--model", NAME, inputs, "--output", tmp_path / "p.jsonl", "-q"])
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    labels = Predictor.load(source).labels
    np.testing.assert_allclose([[r[f"proba_{lab}"] for lab in labels] for r in rows], expected, rtol=0, atol=1e-12)


def test_predict_with_a_name_nothing_installs_fails_in_one_line(runtime_venv, built, tmp_path):
    install(runtime_venv, built)
    inputs = write_jsonl(tmp_path / "news.jsonl", [{"text": TEXTS[0]}])
    out = run([runtime_venv / "bin" / "nlpkit", "predict", "--model", "not-installed", inputs])
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error: No predictor at 'not-installed': the path does not exist")
    assert NAME in out.stderr.split("(installed: ", 1)[1].split(")", 1)[0]  # the names that are installed
    assert "Fix: check the path, or pip install the predictor's wheel" in out.stderr


# -- bundles --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trio(source, tmp_path_factory) -> dict[str, Path]:
    """A topic, an escalation and a stance TF-IDF predictor (topic/stance on 200 rows of the embedded corpus)."""
    out = tmp_path_factory.mktemp("trio")
    made = {task: train(compose(["tracking=off", f"task={task}", "model.char_ngrams=false", "data.max_rows=200",
                                 f"output_dir={out / task}"])).predictor_dir for task in ("topic", "stance")}
    return {"topic": made["topic"], "escalation": source, "stance": made["stance"]}


def test_bundle_wheel_holds_each_role_and_installs_with_its_data_path(trio, runtime_venv, tmp_path):
    wheel = package([f"{role}={path}" for role, path in trio.items()], "conflict-bundle-test", "0.3", tmp_path)
    files = members(wheel)
    spec = json.loads(files["conflict_bundle_test/data/nlpkit-bundle.json"])
    assert spec == {"format": "nlpkit-bundle/1", "members": {r: r for r in ("topic", "escalation", "stance")}}
    for role, path in trio.items():
        for rel in [*json.loads((path / "nlpkit.json").read_text())["files"], "nlpkit.json"]:
            assert files[f"conflict_bundle_test/data/{role}/{rel}"] == (path / rel).read_bytes()
    card = files["conflict_bundle_test/MODEL_CARD.md"].decode()
    assert all(f"## Role: {role}" in card for role in trio) and "CODEBOOK.md" in card
    assert "from nlpkit.analyze import Analyzer" in files["conflict_bundle_test/__init__.py"].decode()
    install(runtime_venv, wheel)
    code = ("import json, conflict_bundle_test as b; from nlpkit import installed\n"
            "print(json.dumps({'path': str(b.data_path()), 'found': str(installed.find('conflict-bundle-test')),"
            " 'members': {r: str(p) for r, p in installed.bundle_members(b.data_path()).items()}}))")
    out = run([runtime_venv / "bin" / "python", "-c", code])
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    assert got["found"] == got["path"] and sorted(got["members"]) == sorted(trio)
    assert all(Path(p, "nlpkit.json").is_file() for p in got["members"].values())
    out = run([runtime_venv / "bin" / "python", "-c", "from nlpkit import Predictor; Predictor.load('conflict-bundle-test')"])
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("nlpkit.errors.ModelLoadError: 'conflict-bundle-test' is a predictor bundle"), out.stderr
    assert "Fix: use nlpkit.analyze.Analyzer.load('conflict-bundle-test') or nlpkit analyze" in last


# -- bad input ----------------------------------------------------------------------------------------------
BAD = [
    ("missing-model", lambda s, o: package([str(o / "nope")], "x-model", "1.0", o), ModelLoadError,
     r"^No predictor at '.*nope': the path does not exist; expected .* Fix: check the path"),
    ("no-model", lambda s, o: package([], "x-model", "1.0", o), ConfigError, r"expects a MODEL .* got \[\]\. Fix: e\.g\."),
    ("name-not-pep508", lambda s, o: package([str(s)], "-bad name", "1.0", o), ConfigError,
     r"--name must be a PEP 508 project name .* got '-bad name'\. Fix: e\.g\. --name conflict-topic-en"),
    ("name-not-identifier", lambda s, o: package([str(s)], "3d-model", "1.0", o), ConfigError,
     r"module name '3d_model', which is not a Python identifier; expected .* Fix:"),
    ("name-shadows-stdlib", lambda s, o: package([str(s)], "JSON", "1.0", o), ConfigError,
     r"module name 'json', which would shadow a standard-library module; .* Fix:"),
    ("name-shadows-nlpkit", lambda s, o: package([str(s)], "nlpkit-conflict", "1.0", o), ConfigError,
     r"would shadow nlpkit; expected a name of its own\. Fix:"),
    ("version-not-pep440", lambda s, o: package([str(s)], "x-model", "1.0 beta", o), ConfigError,
     r"--version must be a PEP 440 version; got '1\.0 beta'\. Fix: e\.g\. --version 1\.0\.0"),
    ("unknown-role", lambda s, o: package([f"topics={s}"], "x-model", "1.0", o), ConfigError,
     r"Unknown bundle role 'topics' in topics=.*; expected one of \['topic', 'escalation', 'stance'\]\. Fix: e\.g\. topic="),
    ("role-of-another-task", lambda s, o: package([f"topic={s}"], "x-model", "1.0", o), ConfigError,
     r"Bundle role 'topic' needs a topic predictor; got .*, whose task is 'escalation'\. Fix: pass it as escalation=MODEL"),
    ("role-twice", lambda s, o: package([f"escalation={s}", f"escalation={s}"], "x-model", "1.0", o), ConfigError,
     r"Role 'escalation' is given twice .* Fix: keep one model per role"),
    ("several-without-roles", lambda s, o: package([str(s), f"topic={s}"], "x-model", "1.0", o), ConfigError,
     r"Several models make a bundle, so each needs a role; got '.*' without one\. Fix: write ROLE=MODEL"),
    ("out-is-a-file", lambda s, o: package([str(s)], "x-model", "1.0", write_jsonl(o / "f.jsonl", [])), ConfigError,
     r"--out '.*f\.jsonl' is a file; expected a directory .* Fix: pass a directory"),
]


@pytest.mark.parametrize("case, call, error, pattern", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_naming_the_fix(case, call, error, pattern, source, tmp_path):
    with pytest.raises(error, match=pattern) as info:
        call(source, tmp_path)
    assert "\n" not in str(info.value)
    assert not list(tmp_path.glob("*.whl*")), "a refused package must leave no wheel behind"


def test_existing_wheel_is_never_overwritten(built, source, capsys):
    before = built.read_bytes()
    code = main(["package", str(source), "--name", NAME, "--version", VERSION, "--out", str(built.parent)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"error: {built} already exists; expected a new file") and "Fix: delete it, bump --version" in err
    assert built.read_bytes() == before


def test_cli_prints_the_wheel_path_under_dist_by_default(source, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["package", str(source), "--name", "cli-model", "--version", "2.0.0"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == "dist/cli_model-2.0.0-py3-none-any.whl" and (tmp_path / printed).is_file()


def test_runtime_only_install_packages_the_same_wheel_offline(runtime_venv, built, source, tmp_path):
    """No build tools, no training stack: the runtime install writes the wheel the dev install wrote, byte for byte."""
    out = run([runtime_venv / "bin" / "nlpkit", "package", source, "--name", NAME, "--version", VERSION, "--out", tmp_path])
    assert out.returncode == 0, out.stderr[-3000:]
    assert Path(out.stdout.strip()).read_bytes() == built.read_bytes()


def test_readme_package_install_and_predict_commands_run_as_written(runtime_venv, source, tmp_path):
    """README, "Share a predictor as a pip package": the three commands in a shell whose PATH starts with the
    runtime-only venv (its pip; the wheel's one dependency, nlpkit's runtime, is already there), with this
    module's predictor for the README's outputs/.../predictor path."""
    package_command = readme_command("nlpkit package outputs/2026-12-06/19-57-59-31380-ff27da/predictor")
    written_path = package_command.split()[2]
    commands = [package_command.replace(written_path, str(source)),
                readme_command("pip install dist/conflict_escalation_en-1.0.0-py3-none-any.whl"),
                readme_command("nlpkit predict --model conflict-escalation-en news.jsonl")]
    write_jsonl(tmp_path / "news.jsonl", [{"text": t} for t in TEXTS])
    env = {**venv_env(), "PATH": f"{runtime_venv / 'bin'}:{venv_env()['PATH']}"}
    for command in commands:
        out = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, f"{command}: {out.stderr[-3000:]}"
    assert [line.split("\t")[1] for line in out.stdout.splitlines()] == Predictor.load(source).predict(TEXTS)


# -- an encoder predictor: the wheel plus the onnx extra, no torch ---------------------------------------------
@pytest.mark.slow
def test_encoder_package_runs_on_onnx_runtime_without_torch(tiny_encoder_dir, built_wheel, tmp_path):
    overrides = [f"model.{k}={v}" for k, v in tiny_model_overrides("embed_logreg.v1").items()]
    predictor_dir = train(compose(["tracking=off", "model=embed_logreg", *overrides, "data.max_rows=120",
                                   f"output_dir={tmp_path / 'run'}"])).predictor_dir
    wheel = package([str(predictor_dir)], "conflict-encoder-test", "1.0.0", tmp_path / "dist")
    meta = Parser().parsestr(members(wheel)["conflict_encoder_test-1.0.0.dist-info/METADATA"].decode())
    assert meta.get_all("Requires-Dist") == [f"nlpkit-conflict[onnx]>={__version__},{MINOR_LINE}"]
    # README, "Encoder predictors without torch": pip install "nlpkit-conflict[onnx]", with this checkout's wheel
    # standing in for PyPI's (the onnx extra's packages come from the index), then the predictor's wheel
    readme = shlex.split(readme_command('pip install "nlpkit-conflict[onnx]"'))
    assert readme[:2] == ["pip", "install"] and readme[2:] == ["nlpkit-conflict[onnx]"]
    venv = fresh_venv(tmp_path / "venv", f"nlpkit-conflict[onnx] @ {built_wheel.as_uri()}")
    install(venv, wheel)
    code = ("import importlib.util as u, json, sys, conflict_encoder_test as m\n"
            "p = m.load(runtime='onnx')\n"
            "print(json.dumps({'absent': [n for n in ('torch', 'transformers') if u.find_spec(n) is None],"
            " 'proba': p.predict_proba(sys.argv[1:]).tolist()}))")
    out = run([venv / "bin" / "python", "-c", code, *TEXTS])
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.splitlines()[-1])
    assert got["absent"] == ["torch", "transformers"]
    expected = Predictor.load(predictor_dir, runtime="onnx").predict_proba(TEXTS)
    np.testing.assert_allclose(np.asarray(got["proba"]), expected, rtol=0, atol=1e-6)
