"""Predictor: loading, input handling, streaming, and the `nlpkit predict` command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nlpkit import Predictor
from nlpkit.cli import main as cli_main
from nlpkit.errors import ConfigError, InputTypeError, ModelLoadError
from nlpkit.train import train

ARTICLE = ("Warplanes struck depots used by armed groups overnight. The defence ministry called the raids "
           "limited and defensive; the neighbouring government said they would be answered.")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from nlpkit.config import compose

    out = tmp_path_factory.mktemp("predict")
    esc = train(compose([f"output_dir={out / 'esc'}", "tracking=off"]))
    stance = train(compose([f"output_dir={out / 'stance'}", "tracking=off", "task=stance"]))
    return esc, stance


def test_saved_predictor_carries_its_metadata(trained):
    esc, _ = trained
    p = Predictor.load(esc.predictor_dir)
    assert p.task == "escalation" and p.labels == ["escalatory", "de_escalatory", "neutral"]
    meta = p.metadata
    assert meta["nlpkit_version"] and meta["model_kind"] == "tfidf_logreg.v1"
    assert meta["config"]["task"]["labels"] == p.labels and "test/macro_f1" in meta["metrics"]
    assert not list(esc.predictor_dir.glob("*.pkl"))


def test_predict_proba_columns_follow_labels(trained):
    esc, _ = trained
    p = Predictor.load(esc.predictor_dir)
    proba = p.predict_proba([ARTICLE, "The ministry published the calendar of talks."])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert p.predict([ARTICLE]) == [p.labels[int(np.argmax(proba[0]))]]
    assert p.predict([{"title": "Raids overnight", "text": ARTICLE}])[0] in p.labels


def test_predict_batches_streams_the_same_answers(trained):
    esc, _ = trained
    p = Predictor.load(esc.predictor_dir)
    texts = [ARTICLE, "Talks resumed.", "Budget published.", "Shelling resumed at dawn."] * 3
    streamed = list(p.predict_batches(iter(texts), batch_size=5))
    assert [label for label, _ in streamed] == p.predict(texts)


def test_stance_predictor_takes_pairs_or_dicts(trained):
    _, stance = trained
    p = Predictor.load(stance.predictor_dir)
    pair = p.predict([("a ceasefire in Gaza", ARTICLE)])
    assert pair == p.predict([{"target": "a ceasefire in Gaza", "text": ARTICLE}])
    with pytest.raises(InputTypeError, match=r"needs \(target, text\) pairs or dicts with 'target' and 'text'"):
        p.predict([ARTICLE])
    with pytest.raises(InputTypeError, match=r"Input 0 has no 'target'"):
        p.predict([{"text": ARTICLE}])


def test_bad_inputs_have_clear_messages(trained, tmp_path):
    esc, _ = trained
    p = Predictor.load(esc.predictor_dir)
    with pytest.raises(InputTypeError, match=r"got a single str.*predictor.predict\(\[text\]\)"):
        p.predict(ARTICLE)
    with pytest.raises(InputTypeError, match="at least one input"):
        p.predict([])
    with pytest.raises(InputTypeError, match=r"Expected a text \(str\).*got int"):
        p.predict([3])
    with pytest.raises(ModelLoadError, match="No predictor at"):
        Predictor.load(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="is not an nlpkit predictor"):
        Predictor.load(tmp_path)
    with pytest.raises(ConfigError, match=r"\(runtime='onnx'\) apply to the encoder families .* TF-IDF model"):
        Predictor.load(esc.predictor_dir, runtime="onnx")


def test_cli_predict_on_text_and_jsonl_files(trained, tmp_path, capsys):
    esc, stance = trained
    (tmp_path / "a.txt").write_text(ARTICLE)
    (tmp_path / "b.jsonl").write_text(json.dumps({"body": ARTICLE}) + "\n" + json.dumps({"body": "Talks resumed."}) + "\n")
    assert cli_main(["predict", "--model", str(esc.predictor_dir), str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl"),
                     "--text-field", "body"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith(str(tmp_path / "a.txt"))
    assert all("escalatory=" in line and "neutral=" in line for line in lines)
    assert cli_main(["predict", "--model", str(stance.predictor_dir), "--target", "the raids", "--json",
                     str(tmp_path / "a.txt")]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] in ("favor", "against", "none") and set(row["probabilities"]) == {"favor", "against", "none"}


def test_cli_reports_bad_input_without_a_traceback(trained, tmp_path, capsys):
    esc, _ = trained
    (tmp_path / "c.jsonl").write_text('{"headline": "x"}\n')
    assert cli_main(["predict", "--model", str(esc.predictor_dir), str(tmp_path / "c.jsonl")]) == 1
    assert "has no string field 'text'" in capsys.readouterr().err
    assert cli_main(["predict", "--model", str(tmp_path / "nothing"), str(tmp_path / "c.jsonl")]) == 1


def test_loading_and_predicting_never_touch_the_network(trained):
    """Run load + predict in a process where any socket connection or DNS lookup raises."""
    esc, _ = trained
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise RuntimeError('network access attempted')\n"
        "socket.socket.connect = refuse; socket.getaddrinfo = refuse; socket.create_connection = refuse\n"
        "from nlpkit import Predictor\n"
        f"p = Predictor.load({str(esc.predictor_dir)!r})\n"
        "print(p.predict(['Shelling resumed at dawn.'])[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("escalatory", "de_escalatory", "neutral")
