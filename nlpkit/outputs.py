"""Job output folders that no other job can share.

* Default folders get a per-process unique name: Hydra's run and sweep dirs end in
  ``<HH-MM-SS>-${nlpkit_job_id:}``, i.e. ``<time>-<pid>-<random>`` (``configs/train.yaml``), so jobs started
  in the same second never meet. The resolver is registered when this module is imported (``nlpkit.train``
  imports it), which also happens in every joblib/submitit worker that unpickles the task function; Hydra
  copies the resolver cache into each sweep job, so all jobs of a sweep agree on the sweep dir.
* A job claims its folder atomically: it creates ``nlpkit.job`` with ``O_EXCL`` (pid, host, start time, run
  id, state). A folder another job claimed is refused with a ConfigError before data loads and before a run
  opens. The one exception: when this very process claimed it for an earlier job that has ended (a notebook
  or test calling ``train(cfg)`` twice), the new job goes to a fresh subfolder ``<output_dir>/<stamp>``,
  logged as a warning and reported in ``TrainResult.output_dir``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from omegaconf import OmegaConf

from nlpkit.errors import ConfigError
from nlpkit.procs import process_tags

log = logging.getLogger(__name__)

RESOLVER = "nlpkit_job_id"
MARKER = "nlpkit.job"
_ACTIVE: set[Path] = set()  # folders claimed by jobs of this process that have not ended


def job_id() -> str:
    """``<pid>-<random>``: unique among live processes, and across pid reuse thanks to the random part."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


def unique_name() -> str:
    """A readable, unique folder name: ``<date>_<time>-<pid>-<random>``."""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S}-{job_id()}"


def register_resolver() -> None:
    """Register ``${nlpkit_job_id:}`` (cached per config, like Hydra's ``${now:...}``); idempotent."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, job_id, use_cache=True)


register_resolver()  # at import: before @hydra.main composes, and in every worker that imports nlpkit.train


@dataclass
class JobDir:
    """A claimed output folder and its marker's content."""

    path: Path
    info: dict[str, Any] = field(default_factory=dict)

    def record_run(self, run: Any) -> None:
        """Write the job's MLflow run id into the marker."""
        if run is not None:
            self._update(run_id=run.info.run_id)

    def _update(self, **changes: Any) -> None:
        self.info.update(changes)
        tmp = self.path / f".{MARKER}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(self.info, indent=2))
        os.replace(tmp, self.path / MARKER)  # the marker never disappears, so the claim holds throughout


@contextmanager
def claimed(path: Path) -> Iterator[JobDir]:
    """Claim ``path`` for one job (see the module docstring); its marker records how the job ended."""
    job = claim(path)
    state = "failed"
    try:
        yield job
        state = "finished"
    finally:
        _ACTIVE.discard(job.path)
        job._update(state=state, ended=datetime.now().isoformat(timespec="seconds"))


def claim(path: Path) -> JobDir:
    """Create ``<path>/nlpkit.job`` atomically and return the claimed folder (maybe a fresh subfolder)."""
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    info = {**process_tags(), "claimed": datetime.now().isoformat(timespec="seconds"), "state": "running",
            "run_id": None}
    try:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        owner = _read_marker(path)
        if not _ended_job_of_this_process(owner, path):
            raise ConfigError(_refusal(path, owner)) from None
        fresh = path / unique_name()
        log.warning("output_dir %s holds an earlier job of this process; this job writes to %s", path, fresh)
        return claim(fresh)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(info, indent=2))
    _ACTIVE.add(path)
    return JobDir(path, info)


def _read_marker(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return {}  # being written right now by its claimer: claimed all the same


def _ended_job_of_this_process(owner: dict[str, Any], path: Path) -> bool:
    mine = {k: v for k, v in process_tags().items() if k in ("nlpkit.host", "nlpkit.pid", "nlpkit.pid_start")}
    return bool(owner) and all(owner.get(k) == v for k, v in mine.items()) and path not in _ACTIVE


def _refusal(path: Path, owner: dict[str, Any]) -> str:
    who = (f"pid {owner.get('nlpkit.pid', '?')} on {owner.get('nlpkit.host', '?')}, run {owner.get('run_id')}, "
           f"claimed {owner.get('claimed', '?')}, {owner.get('state', 'running')}")
    return (f"output_dir {str(path)!r} already belongs to another job ({who}); expected a folder no other job "
            "has claimed. Fix: pass a new output_dir=..., or leave output_dir unset for a unique folder per job.")
