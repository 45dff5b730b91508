"""Which process owns a run, and whether it still runs (Linux ``/proc``; ``os.kill(pid, 0)`` elsewhere).

Every nlpkit run records ``process_tags()``: the host name, the pid, the process start time (clock ticks
after boot, from ``/proc/<pid>/stat``: a pid reused by a later process has a different start time), the
boot id (a reboot ends every process) and the pid namespace (a container sharing the host name cannot see
this one's processes). ``why_gone`` judges a run from those tags and answers None whenever in doubt.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path


def hostname() -> str:
    """This machine's name, as recorded in the ``nlpkit.host`` tag."""
    return socket.gethostname()


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None where ``/proc`` does not tell."""
    stat = _stat(pid)
    return int(stat[19]) if stat else None


@lru_cache(maxsize=1)
def boot_id() -> str | None:
    """This boot's id (Linux), or None."""
    return _read("/proc/sys/kernel/random/boot_id")


def pid_namespace() -> str | None:
    """This process's pid namespace (``pid:[4026531836]``), or None."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def process_tags(pid: int | None = None) -> dict[str, str]:
    """The tags that let a later nlpkit command tell whether the process of a run is gone."""
    pid = pid or os.getpid()
    optional = {"nlpkit.pid_start": start_ticks(pid), "nlpkit.boot_id": boot_id(), "nlpkit.pid_ns": pid_namespace()}
    tags = {"nlpkit.host": hostname(), "nlpkit.pid": str(pid)}
    return tags | {key: str(value) for key, value in optional.items() if value is not None}


def why_gone(tags: dict[str, str]) -> str | None:
    """Why the process that started a run (its ``process_tags``) is gone; None while it may still run or
    when the run is not this host's to judge."""
    if tags.get("nlpkit.host") != hostname() or not tags.get("nlpkit.pid", "").isdigit():
        return None
    pid = int(tags["nlpkit.pid"])
    where = f"process {pid} on {hostname()}"
    if tags.get("nlpkit.boot_id") and boot_id() and tags["nlpkit.boot_id"] != boot_id():
        return f"{where} is gone: the host rebooted since the run started"
    if tags.get("nlpkit.pid_ns") and pid_namespace() and tags["nlpkit.pid_ns"] != pid_namespace():
        return None  # another container with the same host name: its processes are invisible from here
    if not alive(pid):
        return f"{where} is gone: killed (e.g. kill -9 or the OOM killer) or crashed before ending its run"
    started = start_ticks(pid)
    if tags.get("nlpkit.pid_start") and started is not None and str(started) != tags["nlpkit.pid_start"]:
        return f"{where} is gone (the pid now belongs to a later process): killed or crashed before ending its run"
    return None


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, dead but not yet waited for, is not)."""
    stat = _stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    if Path("/proc/self/stat").is_file():
        return False  # /proc exists but knows no such pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stat(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; the command name before it may hold spaces."""
    text = _read(f"/proc/{pid}/stat")
    return text.rsplit(")", 1)[1].split() if text else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None
