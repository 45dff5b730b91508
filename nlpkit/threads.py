"""``runtime.threads``: how many CPU threads torch and the BLAS/OpenMP libraries (numpy, scikit-learn) use.

The default is the number of CPUs this process may run on (``os.sched_getaffinity``, so a container's or
``taskset``'s limit counts) that are idle when the run starts (the machine's CPUs minus its 1-minute load
average), at least 1 and at most ``DEFAULT_CAP``: on a machine shared with other jobs, threads that wait for a
core slow every step (``experiments/threads/`` measures it). The number applied is logged as ``runtime.threads``.
Environment variables such as ``OMP_NUM_THREADS`` only act before the libraries load, so they are set for child
processes only; the running process is limited through ``threadpoolctl`` and ``torch.set_num_threads``.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

DEFAULT_CAP = 8  # more threads rarely help the small batches nlpkit trains on, and hurt on shared machines
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
USER_OMP_THREADS = os.environ.get("OMP_NUM_THREADS", "").strip()  # as the user set it, before apply_threads


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), or ``os.cpu_count()`` where there is no such mask."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads() -> int:
    """``runtime.threads`` when the config leaves it null: ``OMP_NUM_THREADS`` if the user set it, else the CPUs
    this process may use that are idle now (``choose_threads``)."""
    if USER_OMP_THREADS.isdigit() and int(USER_OMP_THREADS) > 0:
        return int(USER_OMP_THREADS)
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average
        load = 0.0
    return choose_threads(available_cpus(), os.cpu_count() or 1, load)


def choose_threads(cpus: int, machine_cpus: int, load: float) -> int:
    """The CPUs we may use (``cpus``), but no more than the machine's idle ones (``machine_cpus`` minus the
    1-minute ``load`` average, rounded) and ``DEFAULT_CAP``; at least 1. A thread beyond the idle cores waits
    for one, and torch's threads wait for each other at every step: on a 2-core machine at load 7-12, 2 threads
    fine-tuned 5x slower than 1 (experiments/threads)."""
    idle = int(round(machine_cpus - load))
    return max(1, min(cpus, idle, DEFAULT_CAP))


def apply_threads(threads: int | None, use_torch: bool = False) -> int:
    """Limit torch (when ``use_torch`` or already imported) and BLAS/OpenMP to ``threads`` (None: the default);
    return the number applied."""
    n = default_threads() if threads is None else int(threads)
    for name in THREAD_VARIABLES:
        os.environ[name] = str(n)  # for child processes (data loaders, tokenizers); too late for this one
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)  # not used as a context manager: the limit stays for the process
    if use_torch or "torch" in sys.modules:
        _torch_threads(n)
    return n


def _torch_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    if torch.get_num_interop_threads() != n:
        try:
            torch.set_num_interop_threads(n)  # allowed once, before any inter-op parallel work
        except RuntimeError as err:
            log.debug("torch inter-op threads stay at %d: %s", torch.get_num_interop_threads(), err)
