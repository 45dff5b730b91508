"""Shared fixtures: real Hydra composition, real sqlite MLflow stores under tmp_path, small data files."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import venv
from pathlib import Path
from typing import Iterator

import pytest
from omegaconf import DictConfig

from nlpkit.config import compose

LABELS = ["escalatory", "de_escalatory", "neutral"]
ESCALATORY = ["Artillery shelled the border town overnight", "The army mobilised reserves and issued an ultimatum",
              "Missiles struck the port as threats mounted", "Troops massed near the frontier after the attack"]
DE_ESCALATORY = ["Both sides agreed a ceasefire and reopened the hotline", "Negotiators welcomed progress in the talks",
                 "Forces withdrew from the disputed ridge under the truce", "Prisoners were exchanged as calm returned"]
NEUTRAL = ["The ministry published the schedule for the next session", "Parliament will debate the budget on Tuesday",
           "The annual exercise was held as planned", "Officials released trade statistics for the quarter"]


def tiny_rows(copies: int = 3) -> list[dict]:
    """A small, clearly separable labelled set (12 distinct texts per copy) with sources for group splits."""
    rows = []
    for c in range(copies):
        for label, texts in zip(LABELS, (ESCALATORY, DE_ESCALATORY, NEUTRAL)):
            for i, text in enumerate(texts):
                rows.append({"id": f"{label}-{c}-{i}", "title": f"Report {c}-{i}", "text": f"{text} (item {c}{i}).",
                             "label": label, "source": f"outlet{(c * 4 + i) % 6}", "target": "the truce"})
    return rows


def legacy_tfidf(texts: list[str], labels: list[str]):
    """A TF-IDF classifier as nlpkit < 0.2 built it (scikit-learn vocabulary vectorizers), to save in the old
    ``model.skops`` form and check that such predictors still load."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    from nlpkit.models.tfidf import TfidfClassifier, Vectorizer

    model = TfidfClassifier()
    model.pairs_ = False
    model.features_ = FeatureUnion([("word", Vectorizer(ngram_range=(1, 2), sublinear_tf=True))]).fit(texts)
    model.classifier_ = LogisticRegression(C=10.0, max_iter=3000).fit(model.features_.transform(texts), labels)
    model.classes_ = model.classifier_.classes_
    model.fit_report_ = {}
    return model


def require_extra(extra: str, *modules: str) -> None:
    """Skip the test, naming the install, when one of ``modules`` (installed by nlpkit's ``extra``) is missing;
    fail instead under CI ($CI set: .ci/run installs every extra, so a skip there would hide a broken install)."""
    missing = [m for m in modules if not _importable(m)]
    if not missing:
        return
    reason = f"needs {', '.join(missing)} (the {extra!r} extra): pip install -e \".[{extra}]\""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs every extra")
    pytest.skip(reason)


def _importable(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def make_cfg(tmp_path: Path, tracking_uri: str):
    """Compose the real config tree with overrides; outputs and the MLflow store go under tmp_path."""

    def make(*overrides: str, tracking: bool = True) -> DictConfig:
        base = [f"output_dir={tmp_path / 'out'}", f"tracking.uri={tracking_uri}"]
        if not tracking:
            base.append("tracking=off")
        return compose([*base, *overrides])

    return make


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())


def file_overrides(path: Path, *extra: str) -> list[str]:
    """Overrides that train the escalation task on a small file with a random split.

    ``tiny_rows`` repeats each text with a suffix, so every row has near-duplicates in the other splits: these
    tests keep them (``dedupe=keep``; the default ``drop`` is tested in test_splits/test_bad_input)."""
    return ["data=file", f"data.path={path}", "data.columns.escalation=label", "model.char_ngrams=false",
            "data.split.dedupe=keep", *extra]


# -- the built wheel (test_packaging, test_runtime) ---------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built once per session (pip's isolated build, as a user's ``pip install .`` does)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(dist.glob("nlpkit_conflict-*.whl"))


NETWORK_ERRORS = re.compile(r"NewConnectionError|Network is unreachable|Temporary failure in name resolution|"
                            r"Max retries exceeded|No route to host")


def venv_env() -> dict[str, str]:
    """This environment without PYTHONPATH, which would put the checkout (and its egg-info) in a fresh venv's path."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def fresh_venv(root: Path, *requirements: str) -> Path:
    """A new virtual environment at ``root`` with ``requirements`` pip-installed (skips without a package index)."""
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                         check=False, capture_output=True, text=True, timeout=600, env=venv_env())
    if out.returncode and NETWORK_ERRORS.search(out.stderr):
        pytest.skip(f"installing {requirements} needs the package index: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def runtime_venv(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    """A fresh virtual environment with the wheel and its runtime dependencies only (no extras), built once per
    session (test_runtime, test_package). Tests may add predictor packages to it, never other distributions."""
    return fresh_venv(tmp_path_factory.mktemp("runtime-venv"), str(built_wheel))


def train_tiny_predictor(folder: Path) -> Path:
    """Train a TF-IDF escalation predictor on ``tiny_rows`` (no tracking) under ``folder``; return its directory."""
    import nlpkit

    data = write_jsonl(folder / "tiny.jsonl", tiny_rows())
    return nlpkit.train(compose([*file_overrides(data), "tracking=off", f"output_dir={folder / 'run'}"])).predictor_dir


STANCE_OF = {"escalatory": "against", "de_escalatory": "favor", "neutral": "none"}


def train_tiny_tracked(folder: Path, tracking_uri: str, *overrides: str, stance: bool = False):
    """Train a TF-IDF predictor on ``tiny_rows`` (escalation, or stance toward "the truce") with tracking to
    ``tracking_uri`` (the MLflow model is logged); ``overrides`` e.g. register it. Returns the TrainResult."""
    import nlpkit

    rows = [{**r, "stance": STANCE_OF[r["label"]]} for r in tiny_rows()] if stance else tiny_rows()
    data = write_jsonl(folder / f"tiny-{uuid.uuid4().hex[:8]}.jsonl", rows)
    task = ["task=stance"] if stance else ["data.columns.escalation=label"]
    base = ["data=file", f"data.path={data}", "model.char_ngrams=false", "data.split.dedupe=keep", *task,
            f"output_dir={folder / data.stem}", f"tracking.uri={tracking_uri}"]
    return nlpkit.train(compose([*base, *overrides]))


# -- tiny randomly initialised encoders for the transformer families (built once per test session) ------------
TINY_VOCAB_WORDS = sorted({w.strip(".,()").lower() for t in ESCALATORY + DE_ESCALATORY + NEUTRAL for w in t.split()}
                          | {"the", "truce", "report", "item", "a", "of", "and", "in", "to"})


@functools.lru_cache(maxsize=1)
def tiny_encoder() -> str:
    """A BERT with hidden size 32, 2 layers, 2 heads and a ~150-token vocabulary, saved with save_pretrained.

    Words outside the vocabulary split into single letters (``##x`` pieces), so any English text tokenizes.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.set_num_threads(1)  # a 32-wide model gains nothing from threads, and loses 30x on a busy 2-core machine
    directory = Path(tempfile.mkdtemp(prefix="nlpkit-tiny-encoder-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *letters, *(f"##{c}" for c in letters), *TINY_VOCAB_WORDS]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    BertTokenizer(vocab=vocab).save_pretrained(directory)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(directory)
    return str(directory)


def tiny_model_overrides(kind: str) -> dict:
    """Model-config overrides that make an encoder kind use the tiny encoder and learn a tiny set quickly."""
    if kind.startswith("embed_logreg"):
        return {"encoder": tiny_encoder(), "max_length": 32, "chunk_stride": 8, "batch_size": 8, "C": 10.0}
    if kind.startswith("finetune"):
        return {"encoder": tiny_encoder(), "max_length": 32, "chunk_stride": 8, "batch_size": 8, "epochs": 30, "learning_rate": 1e-2,
                "warmup_ratio": 0.0, "validation_fraction": 0.0, "progress": False}
    if kind.startswith("blend"):
        return {"finetune": tiny_model_overrides("finetune.v1"), "tfidf": {"C": 10.0}}
    if kind.startswith("tfidf_mlp"):  # a dozen examples: more, larger steps than FNC-1's 20 epochs of 100 batches
        return {"epochs": 200, "learning_rate": 1e-2}
    return {}


def tunable_param(kind: str) -> tuple[str, list[float]]:
    """A float hyper-parameter of ``kind`` and two values for a grid search (contract tests)."""
    if kind.startswith("blend"):
        return "encoder_weight", [0.3, 0.7]
    if kind.startswith("tfidf_mlp"):
        return "learning_rate", [3e-3, 1e-2]
    return ("learning_rate", [3e-3, 1e-2]) if kind.startswith("finetune") else ("C", [0.5, 2.0])


def batch_tolerance(kind: str) -> float:
    """How far batched and one-at-a-time probabilities may differ: encoders run float32 on padded batches."""
    return 1e-6 if kind.startswith(("embed_logreg", "finetune", "blend")) else 1e-10


@pytest.fixture(scope="session")
def tiny_encoder_dir() -> str:
    pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")
    return tiny_encoder()


# -- real MLflow servers and PostgreSQL databases --------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(proc: subprocess.Popen, health_url: str, startup_s: float, what: str, log: Path) -> None:
    """Poll ``health_url`` until it answers 200; fail the test (with the log's tail) if ``proc`` exits first or
    ``startup_s`` pass."""
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if urllib.request.urlopen(health_url, timeout=1).status == 200:
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{what} did not answer {health_url} within {startup_s:.0f} s; log: {log.read_text()[-3000:]}")


@contextlib.contextmanager
def mlflow_server_at(backend_uri: str, artifacts: Path, workers: int = 1, startup_s: float = 120) -> Iterator[str]:
    """Run a real `mlflow server` on 127.0.0.1 over ``backend_uri``; yield its URL; stop it afterwards."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = artifacts.parent / f"mlflow-server-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(bin_dir / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--backend-store-uri", backend_uri, "--artifacts-destination", str(artifacts)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{url}/health", startup_s, f"mlflow server over {backend_uri}", log)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards), as a SQLAlchemy URI with the psycopg2 dialect.

    The server comes from $NLPKIT_TEST_POSTGRES (a role with CREATEDB; .ci/run installs, starts and sets it).
    Without it the test is skipped, except when NLPKIT_REQUIRE_POSTGRES=1 (CI), where it fails.
    """
    admin = os.environ.get("NLPKIT_TEST_POSTGRES")
    if not admin:
        reason = "needs PostgreSQL: set NLPKIT_TEST_POSTGRES=postgresql+psycopg2://USER:PASSWORD@127.0.0.1:5432/DB"
        if os.environ.get("NLPKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    psycopg2 = pytest.importorskip("psycopg2", reason="needs `pip install -e .[postgres]`")
    name = f"nlpkit_test_{uuid.uuid4().hex[:12]}"
    dsn = admin.replace("postgresql+psycopg2://", "postgresql://")
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        yield admin.rsplit("/", 1)[0] + f"/{name}"
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


# -- README commands: every command of a ```bash block is fetched here by the test that runs it ------------------
README = ROOT / "README.md"


def _strip_comment(line: str) -> str:
    """``line`` without a shell comment (a ``#`` at the start of a word, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands(text: str | None = None) -> list[str]:
    """Every command in the README's fenced ```bash blocks: ``\\`` continuations joined, comments and blank lines
    dropped, runs of spaces collapsed to one."""
    text = README.read_text() if text is None else text
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [" ".join(c.split()) for c in map(_strip_comment, joined.splitlines()) if c.strip()]
    return commands


def readme_command(start: str) -> str:
    """The README command that is ``start``, else the one that begins with it (whitespace-insensitive), exactly as
    the README shows it; fails the test when there is none or several. A test that runs a README command gets its text
    here, with a string literal (tests/test_readme.py checks statically that every README command is fetched)."""
    wanted = " ".join(start.split())
    commands = readme_commands()
    found = [wanted] if wanted in commands else [c for c in commands if c.startswith(wanted + " ")]
    if len(found) != 1:
        pytest.fail(f"{len(found)} README commands start with {wanted!r} (expected exactly one): {found}")
    return found[0]
