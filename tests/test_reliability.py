"""Reliability with real processes, real signals and real sqlite stores: jobs started together on a new
store, output folders that no two jobs share, and no run left RUNNING after a signal or kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import file_overrides, require_extra, tiny_rows, write_jsonl
from nlpkit import outputs
from nlpkit.errors import ConfigError, NlpkitError
from nlpkit.procs import alive, process_tags, start_ticks
from nlpkit.store import open_store, reap_stale_runs
from nlpkit.predictor_files import folder_digest as files_digest
from nlpkit.tracking import verify_logged_predictor
from nlpkit.train import train

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false"]
# A Hydra callback (a real extension point, loaded in every job process, joblib workers included) that
# makes each TF-IDF fit announce itself in a marker folder and wait, so a test can signal a job mid-fit.
SLOW_FIT = '''
import os, time
from pathlib import Path
from hydra.experimental.callback import Callback

class SlowFit(Callback):
    def __init__(self, marker_dir):
        self.marker_dir = Path(marker_dir)

    def on_job_start(self, config, **kwargs):
        from nlpkit.models.tfidf import TfidfClassifier
        original, markers = TfidfClassifier.fit, self.marker_dir

        def slow_fit(model, X, y, **kw):
            (markers / f"fit-{os.getpid()}-{time.monotonic_ns()}").write_text(str(os.getpid()))
            deadline = time.monotonic() + 120
            while not (markers / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            return original(model, X, y, **kw)

        TfidfClassifier.fit = slow_fit
'''


def _env(tmp_path: Path, uri: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tmp_path / "helpers")}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env | ({"MLFLOW_TRACKING_URI": uri} if uri else {})


def _all_runs(uri: str) -> list:
    client = MlflowClient(uri)
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def _wait_for(condition, proc: subprocess.Popen | None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"nlpkit-train exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def _nlpkit(tmp_path: Path, *args: str) -> str:
    out = subprocess.run([str(BIN / "nlpkit"), *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_eight_jobs_started_together_on_a_new_store_each_log_their_own_predictor(tmp_path):
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    work = tmp_path / "work"  # fresh and empty: the default store ./mlflow.db is created by the jobs
    work.mkdir()
    procs = [subprocess.Popen([str(BIN / "nlpkit-train"), *file_overrides(data), f"seed={i}", f"model.C={i + 1}",
                               f"tracking.run_name=job{i}"],
                              cwd=work, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    errors = [p.communicate(timeout=400)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, "\n".join(e[-2000:] for e in errors)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    runs = _all_runs(uri)
    assert sorted(r.info.run_name for r in runs) == [f"job{i}" for i in range(8)]
    assert {r.info.status for r in runs} == {"FINISHED"}
    markers = {json.loads(m.read_text())["run_id"]: m.parent for m in work.glob("outputs/*/*/nlpkit.job")}
    assert sorted(markers) == sorted(r.info.run_id for r in runs)  # 8 folders, one per job
    mlflow.set_tracking_uri(uri)
    for run in runs:
        logged = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model/artifacts/predictor",
                                                          dst_path=str(tmp_path / run.info.run_id)))
        own = markers[run.info.run_id] / "predictor"
        recorded = json.loads((logged / "nlpkit.json").read_text())
        assert files_digest(logged) == files_digest(own)
        assert run.data.tags["nlpkit.predictor_digest"] == recorded.get("digest", files_digest(logged))
        assert run.info.run_name == f"job{recorded['seed']}"  # the job's own predictor, not a neighbour's
    assert len({run.data.tags["nlpkit.predictor_digest"] for run in runs}) == 8  # model.C differs: 8 models


SLOW = pytest.mark.slow  # same code path as a default case (KeyboardInterrupt in the launcher): keeps CI short
SIGNALS = [pytest.param(False, signal.SIGTERM, id="run-SIGTERM", marks=SLOW),
           pytest.param(False, signal.SIGKILL, id="run-SIGKILL"),
           pytest.param(True, signal.SIGTERM, id="joblib-sweep-SIGTERM"),
           pytest.param(True, signal.SIGINT, id="joblib-sweep-SIGINT", marks=SLOW),
           pytest.param(True, signal.SIGKILL, id="joblib-sweep-SIGKILL")]


@pytest.mark.parametrize(("sweep", "signum"), SIGNALS)
def test_a_signal_mid_fit_leaves_no_run_running(tmp_path, sweep, signum):
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "nlpkit_slow_fit.py").write_text(SLOW_FIT)
    markers = tmp_path / "markers"
    markers.mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = [*FAST, "tracking.log_model=false", "+hydra.callbacks.slow._target_=nlpkit_slow_fit.SlowFit",
            f"+hydra.callbacks.slow.marker_dir={markers}"]
    if sweep:
        require_extra("research", "hydra_plugins.hydra_joblib_launcher")
        args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *args]
    jobs = 2 if sweep else 1
    proc = subprocess.Popen([str(BIN / "nlpkit-train"), *args], cwd=tmp_path, env=_env(tmp_path, uri),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: len(list(markers.glob("fit-*"))) >= jobs, proc)
        assert [r.info.status for r in _all_runs(uri)] == ["RUNNING"] * (jobs + sweep)
        if signum == signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)  # like the OOM killer: launcher and workers, no handler runs
        else:
            os.kill(proc.pid, signum)
        proc.wait(timeout=90)
        workers = [int(m.read_text()) for m in markers.glob("fit-*")]
        _wait_for(lambda: not any(alive(pid) for pid in workers), None, timeout=30)  # none can end a run later
        if signum == signal.SIGKILL:
            assert {r.info.status for r in _all_runs(uri)} == {"RUNNING"}
            parent = [r.info.run_id for r in _all_runs(uri) if r.data.tags.get("nlpkit.sweep")]
            command = ["report", *parent] if sweep else ["runs", "clean"]  # any nlpkit command reaps
            _nlpkit(tmp_path, *command, "--tracking-uri", uri)
        runs = _all_runs(uri)
        expected = "FAILED" if signum == signal.SIGKILL else "KILLED"
        assert [r.info.status for r in runs] == [expected] * (jobs + sweep)
        words = "is gone: killed" if signum == signal.SIGKILL else "nterrupt"
        assert all(words in r.data.tags["nlpkit.error"] for r in runs), [r.data.tags["nlpkit.error"] for r in runs]
    finally:
        (markers / "release").touch()
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever this test started and is still alive
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def test_runs_clean_dry_run_then_clean(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    client = open_store(uri)
    experiment = client.create_experiment("e")
    stale = client.create_run(experiment, run_name="stale", tags=process_tags() | {"nlpkit.pid": str(dead.pid)}).info.run_id
    out = _nlpkit(tmp_path, "runs", "clean", "--dry-run", "--tracking-uri", uri)
    assert f"would mark FAILED {stale} (e/stale): process {dead.pid} on " in out and out.count("\n") == 1
    assert client.get_run(stale).info.status == "RUNNING"
    assert f"marked FAILED {stale} (e/stale)" in _nlpkit(tmp_path, "runs", "clean", "--tracking-uri", uri)
    assert client.get_run(stale).info.status == "FAILED"
    assert "no stale runs of host" in _nlpkit(tmp_path, "runs", "clean", "--tracking-uri", uri)


def test_reaper_marks_only_this_hosts_runs_whose_process_is_gone(tracking_uri):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = process_tags()
    cases = {
        "dead pid": (me | {"nlpkit.pid": str(dead.pid)}, "FAILED"),
        "pid reused": (me | {"nlpkit.pid_start": str(start_ticks(os.getpid()) - 1)}, "FAILED"),
        "rebooted": (me | {"nlpkit.boot_id": "another-boot"}, "FAILED"),
        "alive": (me, "RUNNING"),
        "other host": (me | {"nlpkit.host": "elsewhere", "nlpkit.pid": str(dead.pid)}, "RUNNING"),
        "other container": (me | {"nlpkit.pid_ns": "pid:[1]", "nlpkit.pid": str(dead.pid)}, "RUNNING"),
        "not nlpkit's": ({}, "RUNNING"),
    }
    client = open_store(tracking_uri)
    experiment = client.create_experiment("reaper")
    ids = {name: client.create_run(experiment, run_name=name, tags=tags).info.run_id for name, (tags, _) in cases.items()}
    assert {s.name for s in reap_stale_runs(client, dry_run=True)} == {"dead pid", "pid reused", "rebooted"}
    assert {client.get_run(i).info.status for i in ids.values()} == {"RUNNING"}
    open_store(tracking_uri)  # any nlpkit command that opens the store reaps
    for name, (_, expected) in cases.items():
        run = client.get_run(ids[name])
        assert run.info.status == expected, name
        assert ("is gone" in run.data.tags.get("nlpkit.error", "")) == (expected == "FAILED"), name
    assert "later process" in client.get_run(ids["pid reused"]).data.tags["nlpkit.error"]
    client.set_terminated(ids["alive"], "FINISHED")


def test_output_dir_claimed_by_another_job_is_refused_before_data_loads_or_a_run_opens(make_cfg, tmp_path, tracking_uri):
    claimed = tmp_path / "out"
    claimed.mkdir()
    (claimed / outputs.MARKER).write_text(json.dumps({"nlpkit.pid": "1", "nlpkit.host": "elsewhere", "run_id": "abc"}))
    with pytest.raises(ConfigError, match=r"already belongs to another job \(pid 1 on elsewhere, run abc.*Fix: pass a new"):
        train(make_cfg("data=file", f"data.path={tmp_path / 'missing.jsonl'}"))  # a load would raise DataError
    assert MlflowClient(tracking_uri).search_experiments(filter_string="name = 'escalation'") == []
    assert sorted(p.name for p in claimed.iterdir()) == [outputs.MARKER]


def test_a_second_job_of_the_same_process_goes_to_a_fresh_subfolder_and_the_logged_model_is_verified(
        make_cfg, tmp_path, tracking_uri):
    first = train(make_cfg(*FAST))
    before = files_digest(first.predictor_dir)
    second = train(make_cfg(*FAST, "seed=1"))
    assert second.output_dir.parent == first.output_dir and second.output_dir.name.endswith(tuple("0123456789abcdef"))
    assert files_digest(first.predictor_dir) == before  # the first job's files are untouched
    for result in (first, second):
        marker = json.loads((result.output_dir / outputs.MARKER).read_text())
        assert marker["run_id"] == result.run_id and marker["state"] == "finished"
    mlflow.set_tracking_uri(tracking_uri)
    verify_logged_predictor(first.model_uri, first.predictor_dir)
    with pytest.raises(NlpkitError, match="is not the one this job saved"):
        verify_logged_predictor(first.model_uri, second.predictor_dir)


def test_default_run_and_sweep_dirs_are_unique_per_process_and_shared_within_a_sweep(tmp_path):
    from hydra import compose, initialize_config_dir

    from nlpkit.config import config_dir

    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        a, b = (compose("train", return_hydra_config=True) for _ in range(2))
    dirs = {str(c.hydra.run.dir) for c in (a, b)} | {str(c.hydra.sweep.dir) for c in (a, b)}
    assert len(dirs) == 4 and all(f"-{os.getpid()}-" in d for d in dirs)
    job = OmegaConf.create({"suffix": "${nlpkit_job_id:}"})
    OmegaConf.copy_cache(from_config=a, to_config=job)  # what Hydra does for each job of a sweep
    assert str(a.hydra.sweep.dir).endswith(f"-{job.suffix}") and str(a.hydra.run.dir).endswith(f"-{job.suffix}")


def test_experiment_creation_race_gives_every_process_the_named_experiment(tmp_path):
    """Processes that lose the race to create an experiment must still log into it (mlflow.set_experiment
    leaves the loser in the Default experiment): 8 real processes, one new experiment name."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    open_store(uri)
    code = ("import sys; from nlpkit.store import experiment_id, open_store; "
            "print(experiment_id(open_store(sys.argv[1], reap=False), 'raced'))")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err[-500:] for _, err in outs]
    ids = {out.strip() for out, _ in outs}
    assert ids == {MlflowClient(uri).get_experiment_by_name("raced").experiment_id} and "0" not in ids
