"""CPU time of processes read from /proc, and CPU quotas through cgroups: the benchmarks'
accounting of who spent what (Linux only).

``/proc/PID/stat`` gives a process's user and system time (fields 14-15) and the time of its
children it has waited for (fields 16-17), in clock ticks. A process tree's CPU is the sum
over its live processes; a process that exits takes its time with it unless its parent reaps
it, so ``CpuMeter`` samples while a run goes on and keeps the last value it saw of each pid.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000


def _stat_fields(pid: int) -> list[str] | None:
    try:
        # The command name (field 2) may hold spaces: split after its closing parenthesis.
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system time of one process and of its reaped children, in seconds."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(value) for value in fields[11:15]) / TICKS


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system time of a process's main thread and of all its other threads (those that
    have exited included: the process's own total counts them), in seconds."""
    fields = _stat_fields(pid)
    try:
        main = (Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1]).split()
    except (OSError, IndexError):
        return 0.0, 0.0
    if fields is None:
        return 0.0, 0.0
    total = (int(fields[11]) + int(fields[12])) / TICKS
    own = (int(main[11]) + int(main[12])) / TICKS
    return own, total - own


def descendants(pid: int) -> list[int]:
    """The process and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class CpuMeter:
    """CPU seconds spent by a changing set of processes between ``start()`` and ``stop()``.

    ``pids`` is called at every sample (every ``interval`` seconds) and names the processes
    to count then; each pid's first and last seen CPU time are kept, so a process that joins
    mid-run counts from when it was first seen (at most one interval late) and one that exits
    keeps what it spent until its last sample."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.5) -> None:
        self._pids = pids
        self._interval = interval
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for pid in self._pids():
            used = cpu_seconds(pid)
            if used is None:
                continue
            self._first.setdefault(pid, used)
            self._last[pid] = used

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def start(self) -> CpuMeter:
        self._sample()
        self._thread.start()
        return self

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.seconds()

    def seconds(self) -> float:
        return sum(self._last[pid] - self._first[pid] for pid in self._last)


def cgroup_quota_available() -> bool:
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        return os.access(CGROUP_V1_CPU, os.W_OK)
    return (CGROUP_V2 / "cgroup.controllers").exists() and os.access(CGROUP_V2, os.W_OK)


@contextmanager
def cpu_quota_group(name: str, cpus: float) -> Iterator[Path]:
    """A cgroup whose processes share at most ``cpus`` CPUs (CFS bandwidth control: ``cpus``
    x 100 ms of CPU per 100 ms period, cgroup v1 or v2). Yields the ``cgroup.procs`` file a
    process writes its pid to (see ``join``); removed on exit, once its processes are gone."""
    quota = int(cpus * CFS_PERIOD_US)
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        group = CGROUP_V1_CPU / name
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(quota))
    else:
        group = CGROUP_V2 / name
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{quota} {CFS_PERIOD_US}")
    try:
        yield group / "cgroup.procs"
    finally:
        try:
            group.rmdir()
        except OSError:
            pass  # a process still in it: the group stays, harmless, and is reused by name


def join(procs_file: Path) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the new process into the group before it execs, so the
    server and everything it starts run under the quota from their first instruction."""

    def move() -> None:
        procs_file.write_text(str(os.getpid()))

    return move
