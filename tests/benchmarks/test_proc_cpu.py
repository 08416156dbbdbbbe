"""The benchmarks' CPU accounting (benchmarks/proc_cpu.py) against the kernel's own figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from benchmarks.proc_cpu import CpuMeter, cgroup_quota_available, cpu_quota_group, descendants, join

BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def _busy(seconds: float, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=seconds)], **kwargs)  # type: ignore[call-overload]


def test_meter_agrees_with_the_kernels_rusage_of_the_reaped_child() -> None:
    child = _busy(2.0)
    meter = CpuMeter(lambda: [child.pid], interval=0.1).start()
    # wait4 reaps the child and returns its rusage: the kernel's count of the same CPU time.
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    measured = meter.stop()
    kernel = usage.ru_utime + usage.ru_stime
    assert kernel > 0.1
    # The meter misses at most the last interval before the exit and the interpreter start-up
    # before its first sample.
    assert kernel - 0.4 <= measured <= kernel + 0.05


def test_descendants_finds_grandchildren() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '5'])"]
    )
    try:
        deadline = time.monotonic() + 10
        while len(descendants(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = descendants(parent.pid)
        assert tree[0] == parent.pid
        assert len(tree) == 2
    finally:
        for pid in reversed(descendants(parent.pid)):
            os.kill(pid, 9)
        parent.wait()


@pytest.mark.skipif(not cgroup_quota_available(), reason="needs a writable cgroup cpu controller")
def test_quota_caps_a_busy_process() -> None:
    with cpu_quota_group(f"shadowgap-test-{os.getpid()}", 0.05) as procs:
        started = time.monotonic()
        child = _busy(2.0, preexec_fn=join(procs))
        _, _, usage = os.wait4(child.pid, 0)
        child.returncode = 0
        wall = time.monotonic() - started
        stat = dict(line.split() for line in (procs.parent / "cpu.stat").read_text().splitlines())
    # The quota held it back (a busy machine alone could keep it under the cap)...
    assert int(stat["nr_throttled"]) > 0
    # ... to 5 ms of CPU per 100 ms period, plus a period of slack for the start and the end.
    assert usage.ru_utime + usage.ru_stime <= 0.05 * wall + 0.1
