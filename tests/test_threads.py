"""``runtime.threads``: torch and BLAS/OpenMP thread limits, the default, and the logged param."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT, file_overrides
from nlpkit.config import compose, validate
from nlpkit.errors import ConfigError
from nlpkit.threads import choose_threads
from nlpkit.train import train

PROBE = """
import json, os, sys
os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:int(sys.argv[1])]))
from nlpkit.threads import apply_threads, default_threads
import torch
from threadpoolctl import threadpool_info
applied = apply_threads(None if sys.argv[2] == "null" else int(sys.argv[2]), use_torch=True)
print(json.dumps({"default": default_threads(), "applied": applied, "torch": torch.get_num_threads(),
                  "interop": torch.get_num_interop_threads(), "blas": sorted({p["num_threads"] for p in threadpool_info()}),
                  "omp_env": os.environ["OMP_NUM_THREADS"]}))
"""


def probe(cpus: int, threads: str, **env: str) -> dict:
    """Apply ``runtime.threads`` in a fresh process limited to ``cpus`` CPUs; what torch and BLAS then use."""
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    full.update(PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", PROBE, str(cpus), threads], env=full, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_threads_limit_torch_and_blas_and_default_to_the_available_cpus():
    one = probe(2, "1")
    assert (one["applied"], one["torch"], one["interop"], one["blas"], one["omp_env"]) == (1, 1, 1, [1], "1")
    default = probe(2, "null")  # 1 or 2 (the probe keeps at most 2 CPUs; fewer if the machine is busy)
    assert default["default"] == default["applied"] == default["torch"] in (1, 2)
    assert default["blas"] == [default["applied"]]
    assert probe(1, "null")["applied"] == 1  # the affinity mask counts, not the machine's CPUs
    assert probe(2, "null", OMP_NUM_THREADS="3")["applied"] == 3  # a user's OMP_NUM_THREADS is the default


def test_default_threads_are_the_idle_cpus_we_may_use():
    assert choose_threads(cpus=2, machine_cpus=2, load=0.1) == 2  # an idle 2-core machine: both
    assert choose_threads(cpus=2, machine_cpus=2, load=7.8) == 1  # the busy machine of experiments/threads
    assert choose_threads(cpus=4, machine_cpus=64, load=30.0) == 4  # a taskset slice of a big, half-busy server
    assert choose_threads(cpus=64, machine_cpus=64, load=0.0) == 8  # capped
    assert choose_threads(cpus=16, machine_cpus=16, load=11.4) == 5


def test_threads_are_logged_as_a_param(make_cfg, tracking_uri, tiny_file):
    one = train(make_cfg(*file_overrides(tiny_file, "runtime.threads=1", "tracking.log_model=false")))
    default = train(make_cfg(*file_overrides(tiny_file, "tracking.log_model=false")))
    client = MlflowClient(tracking_uri)
    assert client.get_run(one.run_id).data.params["runtime.threads"] == "1"
    applied = default.predictor.metadata["config"]["runtime"]["threads"]  # the default depends on the load now
    assert client.get_run(default.run_id).data.params["runtime.threads"] == str(applied)
    assert 1 <= applied <= min(len(os.sched_getaffinity(0)), 8)


def test_threads_out_of_range_fail_with_the_key():
    with pytest.raises(ConfigError, match=r"runtime\.threads must be an integer in \[1, 256\] or null; got 0\. "
                                          r"Fix: e\.g\. runtime\.threads=1"):
        validate(compose(["runtime.threads=0"]))
