"""nlpkit analyze: one article, three tasks, from a bundle of three tiny predictors trained here (no mocks)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nlpkit
import nlpkit.cli
from conftest import ROOT, file_overrides, readme_command, tiny_rows, write_jsonl
from nlpkit.analyze import Analyzer, read_article, save_bundle
from nlpkit.article import as_article
from nlpkit.config import compose
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError
from nlpkit.predict import Predictor
from nlpkit.predictor_files import folder_digest
from nlpkit.sentences import split_sentences

TITLE = "Report from the frontier"
NEUTRAL_1 = "Officials released the schedule on Monday."
NEUTRAL_2 = "The weather was mild in the capital."
ESCALATORY = "Artillery shelled the border town overnight as missiles struck the port."
ARTICLE = {"title": TITLE, "text": f"{NEUTRAL_1} {ESCALATORY}\n\n{NEUTRAL_2}"}
TARGETS = ["the truce", "the blockade"]
# label maps that turn the tiny escalation set into a 3-class topic set and a stance set
TOPIC = ["data.columns.topic=label", "task.labels=[military_action,diplomacy,domestic_politics]",
         "+data.label_map.escalatory=military_action", "+data.label_map.de_escalatory=diplomacy",
         "+data.label_map.neutral=domestic_politics"]
STANCE = ["data.columns.stance=label", "+data.label_map.escalatory=against",
          "+data.label_map.de_escalatory=favor", "+data.label_map.neutral=none"]


def _train(folder: Path, task: str, extra: list[str]) -> Path:
    rows = [{**row, "target": TARGETS[i % 2]} for i, row in enumerate(tiny_rows())]
    data = write_jsonl(folder / f"{task}.jsonl", rows)
    overrides = file_overrides(data)
    if task != "escalation":  # the label column is mapped to this task instead
        overrides = [o for o in overrides if not o.startswith("data.columns.escalation")]
    cfg = compose([*overrides, f"task={task}", *extra, "tracking=off", f"output_dir={folder / task}"])
    return nlpkit.train(cfg).predictor_dir


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> dict[str, Path]:
    """Three tiny sealed predictors, one per role."""
    folder = tmp_path_factory.mktemp("members")
    return {"topic": _train(folder, "topic", TOPIC), "escalation": _train(folder, "escalation", []),
            "stance": _train(folder, "stance", STANCE)}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, members) -> Path:
    return save_bundle(tmp_path_factory.mktemp("bundles") / "bundle", **members)


def _cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlpkit.cli", *args], input=stdin, capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env=env)


# -- the sentence splitter -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("The U.S. envoy met Gen. Smith on Jan. 5. Talks resumed.",
     ["The U.S. envoy met Gen. Smith on Jan. 5.", "Talks resumed."]),
    ("Troops left the U.S. The next day talks began.", ["Troops left the U.S.", "The next day talks began."]),
    ('"We do not seek conflict," he said. "Stop!" Then silence.',
     ['"We do not seek conflict," he said.', '"Stop!"', "Then silence."]),
    ("Is it over? Prices rose 2.5 percent. 3 soldiers died",
     ["Is it over?", "Prices rose 2.5 percent.", "3 soldiers died"]),
    ("A headline without a stop\n\nFirst line\ncontinues here. Next.",
     ["A headline without a stop", "First line\ncontinues here.", "Next."]),
    ("  ", []),
])
def test_sentence_splitter_handles_abbreviations_quotes_and_paragraphs(text, expected):
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == expected


# -- building and loading a bundle -----------------------------------------------------------------------------
def test_save_bundle_copies_each_sealed_predictor_unchanged(bundle, members):
    spec = json.loads((bundle / "nlpkit-bundle.json").read_text())
    assert spec == {"format": "nlpkit-bundle/1", "members": {role: role for role in members}}
    for role, source in members.items():
        assert folder_digest(bundle / role) == folder_digest(source)
    analyzer = Analyzer.load(bundle)
    assert sorted(analyzer.members) == sorted(members) and "tfidf_logreg.v1" in repr(analyzer)


def test_analyze_agrees_with_each_predictors_own_probabilities(bundle, members):
    result = Analyzer.load(bundle).analyze(ARTICLE, targets=TARGETS)
    json.dumps(result)  # plain JSON types only
    loaded = {role: Predictor.load(path) for role, path in members.items()}
    for role in ("topic", "escalation"):
        expected = loaded[role].predict_proba([ARTICLE])[0]
        _same(result[role], loaded[role], expected)
    stance = loaded["stance"].predict_proba([{**ARTICLE, "target": t} for t in TARGETS])
    assert [s["target"] for s in result["stance"]] == TARGETS
    for got, row in zip(result["stance"], stance):
        _same(got, loaded["stance"], row)
    for role, predictor in loaded.items():
        info = result["members"][role]
        assert info["digest"] == predictor.metadata["digest"] and info["model_kind"] == predictor.metadata["model_kind"]
        assert info["test_macro_f1"] == pytest.approx(predictor.metrics["test/macro_f1"], abs=5e-5)
    assert result["article"] == {"title": TITLE, "characters": len(f"{TITLE}\n\n{ARTICLE['text']}"), "sentences": 4}
    assert result["notes"] == [] and result["nlpkit_version"] == nlpkit.__version__


def _same(got: dict, predictor: Predictor, row: np.ndarray) -> None:
    assert list(got["probabilities"]) == predictor.labels
    np.testing.assert_allclose(list(got["probabilities"].values()), row, atol=5e-5)
    assert got["label"] == predictor.labels[int(np.argmax(row))]


def test_occlusion_ranks_the_one_escalatory_sentence_first_wherever_it_stands(bundle):
    analyzer = Analyzer.load(bundle)
    for text in (f"{ESCALATORY} {NEUTRAL_1} {NEUTRAL_2}", f"{NEUTRAL_1} {ESCALATORY} {NEUTRAL_2}",
                 f"{NEUTRAL_1}\n\n{NEUTRAL_2} {ESCALATORY}"):
        escalation = analyzer.analyze({"title": TITLE, "text": text})["escalation"]
        assert escalation["label"] == "escalatory"
        first = escalation["drivers"][0]
        assert first["sentence"] == ESCALATORY and text[first["start"]:first["end"]] == ESCALATORY
        assert first["field"] == "text"
        deltas = [d["delta"] for d in escalation["drivers"]]
        assert deltas == sorted(deltas, reverse=True) and all(d > 0 for d in deltas) and len(deltas) <= 3
        assert first["delta"] > 2 * deltas[-1] or len(deltas) == 1  # clearly ahead of any other sentence
    neutral = "Parliament will debate the budget on Tuesday."  # a neutral training text: it drives a neutral call
    escalation = analyzer.analyze(f"{NEUTRAL_2} {neutral} {NEUTRAL_1}")["escalation"]
    assert escalation["label"] == "neutral" and escalation["drivers"][0]["sentence"] == neutral


def test_the_delta_is_the_drop_when_the_sentence_is_removed(bundle, members):
    escalation = Predictor.load(members["escalation"])
    result = Analyzer.load(bundle).analyze(ARTICLE, top_sentences=1)["escalation"]
    assert len(result["drivers"]) == 1
    column = escalation.labels.index(result["label"])
    without = f"{NEUTRAL_1}\n\n{NEUTRAL_2}"  # the cut joins the paragraphs around it with a blank line
    full, cut = escalation.predict_proba([ARTICLE, {"title": TITLE, "text": without}])[:, column]
    assert result["drivers"][0]["delta"] == pytest.approx(full - cut, abs=5e-5)
    assert Analyzer.load(bundle).analyze(ARTICLE, top_sentences=0)["escalation"]["drivers"] == []


def test_without_targets_stance_is_empty_with_a_note_and_partial_bundles_say_what_is_missing(bundle, members, tmp_path):
    result = Analyzer.load(bundle).analyze(ARTICLE)
    assert result["stance"] == [] and any("no stance targets given" in n for n in result["notes"])
    partial = save_bundle(tmp_path / "two", topic=members["topic"], escalation=Predictor.load(members["escalation"]))
    result = Analyzer.load(partial).analyze(ARTICLE)
    assert result["stance"] is None and result["notes"] == ["the bundle has no stance predictor: stance is null"]
    with pytest.raises(DataError, match=r"Stance targets were given \(\['the truce'\]\) but the bundle has no stance"):
        Analyzer.load(partial).analyze(ARTICLE, targets=["the truce"])


# -- the command line ------------------------------------------------------------------------------------------
def test_cli_prints_the_same_json_as_the_python_api(bundle, tmp_path):
    path = tmp_path / "article.txt"
    path.write_text(f"{TITLE}\n\n{ARTICLE['text']}\n", encoding="utf-8")
    expected = Analyzer.load(bundle).analyze(ARTICLE, targets=TARGETS, top_sentences=2)
    assert read_article(path) == as_article(ARTICLE)
    args = ["analyze", str(path), "--bundle", str(bundle), "--target", TARGETS[0], "--target", TARGETS[1],
            "--top-sentences", "2"]
    out = _cli(*args)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == expected and out.stdout.count("\n") == 1
    piped = _cli(*args[:1], "-", *args[2:], "--pretty", stdin=path.read_text())
    assert piped.returncode == 0 and json.loads(piped.stdout) == expected and piped.stdout.count("\n") > 20
    (tmp_path / "article.json").write_text(json.dumps({**ARTICLE, "id": "x1"}))
    assert json.loads(_cli(*args[:1], str(tmp_path / "article.json"), *args[2:]).stdout) == expected


def test_an_installed_bundle_package_is_found_by_name(bundle, tmp_path):
    """A real distribution on the path (dist-info with an nlpkit_predictors entry point), as pip installs one."""
    site = tmp_path / "site"
    package = site / "tiny_bundle"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"def data_path():\n    return {str(bundle)!r}\n")
    info = site / "tiny_bundle-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tiny-bundle\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nlpkit_predictors]\ntiny-bundle = tiny_bundle:data_path\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = _cli("analyze", "-", "--bundle", "Tiny_Bundle", stdin=ARTICLE["text"], env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == Analyzer.load(bundle).analyze(ARTICLE["text"])
    out = _cli("analyze", "-", "--bundle", "other-bundle", stdin=ARTICLE["text"], env=env)
    assert out.returncode == 1 and "(installed: ['tiny-bundle'])" in out.stderr and out.stderr.count("\n") == 1


# -- bad input: one line each ----------------------------------------------------------------------------------
def _tampered(bundle: Path, tmp_path: Path, how: str) -> Path:
    import shutil

    copy = Path(shutil.copytree(bundle, tmp_path / f"bundle-{how}"))
    if how == "missing-role":
        shutil.rmtree(copy / "stance")
    elif how == "tampered":
        model = next(p for p in (copy / "escalation").iterdir() if p.name != "nlpkit.json")
        model.write_bytes(model.read_bytes() + b"\0")
    elif how == "unknown-role":
        spec = {"format": "nlpkit-bundle/1", "members": {"sentiment": "topic"}}
        (copy / "nlpkit-bundle.json").write_text(json.dumps(spec))
    return copy


@pytest.mark.parametrize("how, error", [
    ("missing-role", r"Bundle .* lists role 'stance' in 'stance', which is missing; expected a sealed predictor"),
    ("tampered", r"Bundle member 'escalation': Predictor file '.*' .* was changed: expected sha256"),
    ("unknown-role", r"names the roles \['sentiment'\]; expected one or more of \['topic', 'escalation', 'stance'\]"),
])
def test_broken_bundles_are_refused_in_one_line(bundle, tmp_path, capsys, how, error):
    broken = _tampered(bundle, tmp_path, how)
    with pytest.raises(ModelLoadError, match=error):
        Analyzer.load(broken)
    article = tmp_path / "a.txt"
    article.write_text(ARTICLE["text"])
    assert nlpkit.cli.main(["analyze", str(article), "--bundle", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Fix:" in err


def test_bad_bundles_articles_and_targets_are_refused_in_one_line(bundle, members, tmp_path):
    analyzer = Analyzer.load(bundle)
    cases = [
        (ModelLoadError, r"No bundle 'no-such-bundle': no such folder, and no installed predictor package",
         lambda: Analyzer.load("no-such-bundle")),
        (ModelLoadError, r"is a single predictor: expected a bundle folder with nlpkit-bundle.json",
         lambda: Analyzer.load(members["topic"])),
        (DataError, r"the article is empty \(no text\); expected an article with some body text",
         lambda: analyzer.analyze("   ")),
        (DataError, r"the article dict is empty \(only a title\)",
         lambda: analyzer.analyze({"title": "T", "text": " "})),
        (InputTypeError, r"targets must be a list of str; got a single str",
         lambda: analyzer.analyze("x", "the truce")),
        (DataError, r"Stance target 1 is ' '; expected a non-empty str", lambda: analyzer.analyze("x", ["a", " "])),
        (ConfigError, r"top_sentences must be an int >= 0; got -1", lambda: analyzer.analyze("x", top_sentences=-1)),
        (ConfigError, r"The 'topic' member must be a topic predictor .*got a 'escalation' predictor",
         lambda: save_bundle(tmp_path / "swapped", topic=members["escalation"], escalation=members["topic"])),
        (ConfigError, r"The 'stance' member must be a stance predictor \(one with a target field, task=stance\)",
         lambda: Analyzer(stance=Predictor.load(members["topic"]))),
        (InputTypeError, r"Analyzer\(topic=...\) expects a Predictor; got str", lambda: Analyzer(topic="path")),
        (ConfigError, r"save_bundle writes into a new or empty folder; got .* a folder that is not empty",
         lambda: save_bundle(bundle, topic=members["topic"])),
        (ConfigError, r"Analyzer needs at least one predictor", lambda: Analyzer()),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message) as info:
            call()
        assert "\n" not in str(info.value) and "Fix:" in str(info.value), str(info.value)
    assert not (tmp_path / "swapped").exists()


def test_bad_article_files_are_refused_in_one_line(tmp_path):
    files = {"many.jsonl": (b"{}", r"reads one article; got .* a .jsonl file of many documents"),
             "latin.txt": ("Caf\xe9 talks".encode("latin-1"), r"is not UTF-8 text .* Fix: convert it"),
             "notext.json": (b'{"title": "T", "body": "B"}', r"has no 'text' field \(keys \['body', 'title'\]\)"),
             "list.json": (b"[1]", r"holds a JSON list; expected one object with 'text'"),
             "blank.txt": (b"\n\n  \n", r"is empty \(no text\)")}
    for name, (data, message) in files.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=message) as info:
            read_article(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="got .*: no such file"):
        read_article(tmp_path / "absent.txt")


def test_a_failed_save_bundle_leaves_no_half_bundle(members, tmp_path):
    import shutil

    tampered = Path(shutil.copytree(members["stance"], tmp_path / "stance"))
    model = next(p for p in tampered.iterdir() if p.name != "nlpkit.json")
    model.write_bytes(model.read_bytes() + b"\0")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"save_bundle stance: Predictor file .* was changed"):
        save_bundle(tmp_path / "empty", topic=members["topic"], stance=tampered)
    assert list((tmp_path / "empty").iterdir()) == []


# -- the README example ----------------------------------------------------------------------------------------
README_TARGETS = ["U.S. airstrikes in Iraq and Syria", "the 2015 Iran nuclear deal"]
README_COMMAND = readme_command("nlpkit analyze experiments/example_article/article.txt --bundle example-bundle")
README_BUILD = readme_command("python experiments/example_article/run.py example-bundle")


def _readme_command(bundle: Path) -> subprocess.CompletedProcess:
    """The README's command as a user runs it (the ``nlpkit`` console script), with ``bundle`` for example-bundle."""
    script = Path(sys.executable).parent / "nlpkit"
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "nlpkit.cli"]
    command = [*launcher, *shlex.split(README_COMMAND.replace("--bundle example-bundle", f"--bundle {bundle}"))[1:]]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_readme_command_runs_on_the_example_article(bundle):
    """The README's command, on this module's tiny bundle (the slow test below runs it on the real one)."""
    out = _readme_command(bundle)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["article"]["title"].startswith("U.S. strikes hit militia") and result["article"]["sentences"] == 7
    assert [s["target"] for s in result["stance"]] == README_TARGETS


@pytest.mark.slow
def test_readme_example_builds_the_bundle_and_analyzes_the_article(tmp_path):
    """README, "Example: one article, three tasks": run.py trains three default predictors on the corpus and
    bundles them; then the README's nlpkit analyze command runs on the article (58-112 s measured on 2 shared cores)."""
    bundle = tmp_path / "example-bundle"
    start = time.perf_counter()
    python, script, name = shlex.split(README_BUILD)
    assert python == "python" and name == bundle.name  # the README's command, with this test's folder
    built = subprocess.run([sys.executable, script, str(bundle)], cwd=ROOT,
                           capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    out = _readme_command(bundle)
    print(f"README example: {time.perf_counter() - start:.1f} s")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert built.stdout.startswith("$ nlpkit analyze ") and json.loads(built.stdout.split("\n", 1)[1]) == result
    article = read_article(ROOT / "experiments/example_article/article.txt")
    assert result == Analyzer.load(bundle).analyze(article, README_TARGETS)
    assert {m["model_kind"] for m in result["members"].values()} == {"tfidf_logreg.v1"}
    assert [s["target"] for s in result["stance"]] == README_TARGETS
    for driver in result["escalation"]["drivers"]:
        assert article.field(driver["field"])[driver["start"]:driver["end"]] == driver["sentence"]


def test_a_member_without_a_folder_is_saved_with_its_calibrator_and_data_files(members, tmp_path):
    """A Predictor loaded from an MLflow URI has no folder: save_bundle saves it, with everything it predicts with."""
    from nlpkit import calibrators

    loaded = Predictor.load(members["escalation"])
    texts = [ESCALATORY, NEUTRAL_1, NEUTRAL_2]
    loaded.calibrator = calibrators.fit("temperature", loaded.predict_proba(texts * 3),
                                        ["escalatory", "neutral", "neutral"] * 3, loaded.labels)
    loaded.path = None  # as Predictor.load leaves a predictor whose MLflow download is gone
    assert loaded.data_files  # training sealed validation.npz into it
    bundle = save_bundle(tmp_path / "b", escalation=loaded)
    member = Analyzer.load(bundle).members["escalation"]
    np.testing.assert_array_equal(member.predict_proba(texts), loaded.predict_proba(texts))
    assert member.calibrator is not None and member.data_files == loaded.data_files
