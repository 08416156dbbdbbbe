"""A pytest plugin: tests that run llama.cpp in-process run in a forked child each.

Native code that crashes (a llama.cpp build that does not suit the CPU segfaults) would kill
the whole pytest process and every test after it. With pytest-forked, the crash kills only the
child: that test fails with the signal and the faulthandler traceback, and the suite goes on.
pytest-forked was chosen over xdist's crash handling because it isolates only the tests that
need it (the ``llama`` marker) and keeps the rest of the suite in one process, in order.

The embedded model's self-check runs once here, before any fork, so every child inherits its
answer instead of paying for it again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    llama_items = [item for item in items if item.get_closest_marker("llama")]
    for item in llama_items:
        item.add_marker(pytest.mark.forked)
    # Only the project's own llama tests need the real model checked first.
    if not any(TESTS in Path(str(item.path)).resolve().parents for item in llama_items):
        return
    try:
        from shadowgap.llm.llama_cpp_client import N_CTX, packaged_model_path
        from shadowgap.llm.selfcheck import check_model

        check_model(packaged_model_path(), N_CTX)
    except (ImportError, FileNotFoundError):
        pass  # each llama test's fixture reports the missing dependency itself
