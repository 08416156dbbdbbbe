"""A pytest plugin: tests that run llama.cpp in-process run in a forked child each.

Native code that crashes (a llama.cpp build that does not suit the CPU segfaults) would kill
the whole pytest process and every test after it. Here only the child dies: that test fails
with the signal (and pytest's faulthandler prints the Python traceback of the crash on stderr),
and the suite goes on. Only the tests marked ``llama`` are forked; the rest of the suite stays
in one process, in order.

This is pytest-forked's idea in a few lines of our own: pytest-forked 1.7.5 cannot send a
passing test's report back from the child under pytest 9 (``marshal`` refuses the report's
``NodeId``), so every forked test failed with "EXITED with status 3". Reports travel here as
pickles of pytest's own JSON form of a report.

The embedded model's self-check runs once here, before any fork, so every child inherits its
answer instead of paying for it again.
"""

from __future__ import annotations

import os
import pickle
import signal
import traceback
from pathlib import Path
from typing import Any

import pytest
from _pytest.reports import TestReport
from _pytest.runner import CallInfo, runtestprotocol

TESTS = Path(__file__).resolve().parents[1]
CHILD_FAILED = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "llama: loads the SmolLM2 model through llama-cpp-python")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    llama_items = [item for item in items if item.get_closest_marker("llama")]
    # Only the project's own llama tests need the real model checked first.
    if not any(TESTS in Path(str(item.path)).resolve().parents for item in llama_items):
        return
    try:
        from shadowgap.llm.llama_cpp_client import N_CTX, packaged_model_path
        from shadowgap.llm.selfcheck import check_model

        check_model(packaged_model_path(), N_CTX)
    except (ImportError, FileNotFoundError):
        pass  # each llama test's fixture reports the missing dependency itself


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if item.get_closest_marker("llama") is None:
        return None
    hook = item.ihook
    hook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in _run_in_child(item):
        hook.pytest_runtest_logreport(report=report)
    # The child set up and tore down this test's own fixtures; the parent still holds the
    # module and session fixtures the tests before it set up. Tear down here what the next
    # test does not share, as pytest's own protocol would, or the next module's setup fails
    # with "previous item was not torn down properly".
    item.session._setupstate.teardown_exact(nextitem)
    hook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _run_in_child(item: pytest.Item) -> list[Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run setup, call and teardown, send the reports, exit
        os.close(read_end)
        status = 0
        message: tuple[str, Any]
        try:
            reports = runtestprotocol(item, log=False)
            message = ("reports", [report._to_json() for report in reports])
        except BaseException:  # noqa: BLE001 - anything here must end the child, not return
            message = ("error", traceback.format_exc())
            status = CHILD_FAILED
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(message, pipe)
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    kind, body = pickle.loads(payload) if payload else ("crash", None)
    if kind == "reports":
        return [TestReport._from_json(data) for data in body]
    return [_crash_report(item, status, body)]


def _crash_report(item: pytest.Item, status: int, child_traceback: str | None) -> Any:
    path, line = item.location[0], item.location[1] or 0
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        what = f"CRASHED with signal {number} ({name}); its traceback is on stderr above"
    else:
        what = f"EXITED with status {os.WEXITSTATUS(status)}"
    if child_traceback:
        what += f":\n{child_traceback}"
    call = CallInfo.from_call(lambda: None, "call")
    # A string as the exception makes pytest report it as the failure's text.
    call.excinfo = f"{path}:{line}: running the test {what}"  # type: ignore[assignment]
    return TestReport.from_item_and_call(item, call)
