"""A self-check of the embedded model, run in a child process before a process first uses it.

llama.cpp is native code: a build that does not suit the CPU (a ``-march=native`` build takes
ggml's AMX path on Sapphire Rapids and segfaults there, llama.cpp issue 20824; a build for a
newer CPU dies with SIGILL on an older one) kills the whole process, and under Celery's
``acks_late`` + ``reject_on_worker_lost`` the task comes back and kills the next worker too.
So before a process loads the model, a child process loads it and answers one prompt as long
as the context allows (at least as long as any judge prompt: the judges clip their inputs to
fit the context). If the child dies, the model is reported unavailable with one line naming the
cause and the fix, and whatever needed it fails with that line instead of dying.

The result is kept per model file for the life of the process; a Celery worker runs the check
at start-up, so its pool processes inherit the answer.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 300.0
# Tokens left free in the context for the chat template and the reply.
REPLY_ROOM_TOKENS = 128
REBUILD_HINT = (
    "rebuild llama-cpp-python with the project's flags (./dev rebuilds it; see "
    "docs/operations.md, 'The llama.cpp build')"
)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # One line naming the cause and the fix; None when the check passed.
    problem: str | None
    seconds: float


_RESULTS: dict[Path, CheckResult] = {}
_LOCK = threading.Lock()


def check_model(path: Path, n_ctx: int) -> CheckResult:
    """The self-check's result for this model file, run once per process."""
    resolved = path.resolve()
    with _LOCK:
        result = _RESULTS.get(resolved)
        if result is None:
            result = _RESULTS[resolved] = run_check(resolved, n_ctx)
            if not result.ok:
                log.error("embedded model unavailable: %s", result.problem)
        return result


def last_problem() -> str | None:
    """The problem of a failed check in this process, if any (for heartbeats and status)."""
    with _LOCK:
        for result in _RESULTS.values():
            if not result.ok:
                return result.problem
    return None


def checked() -> bool:
    with _LOCK:
        return bool(_RESULTS)


def run_check(path: Path, n_ctx: int, *, timeout: float = CHECK_TIMEOUT_SECONDS) -> CheckResult:
    """Load ``path`` and answer one context-filling prompt in a child process."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "shadowgap.llm.selfcheck", str(path), str(n_ctx)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return CheckResult(
            False,
            f"the embedded model ({path.name}) did not answer the self-check within "
            f"{timeout:.0f} s; {REBUILD_HINT}",
            time.perf_counter() - started,
        )
    seconds = time.perf_counter() - started
    if child.returncode == 0:
        return CheckResult(True, None, seconds)
    return CheckResult(False, _describe(child.returncode, child.stderr, path), seconds)


def _describe(returncode: int, stderr: str, path: Path) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return (
            f"llama.cpp crashed ({name}) answering a self-check prompt with {path.name}: this "
            f"llama-cpp-python build does not run on this CPU; {REBUILD_HINT}"
        )
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {returncode}"
    return f"the embedded model ({path.name}) failed its self-check: {last[:300]}"


def _child(path: Path, n_ctx: int) -> None:
    # The same construction the client uses (same threads, context and seed).
    from shadowgap.llm.llama_cpp_client import new_llama

    llama = new_llama(path, n_ctx)
    filler = " ".join(
        f"Step {i}: add {i * 7 % 97} apples to {i * 13 % 89} pears, then explain why."
        for i in range(n_ctx)
    )
    tokens = llama.tokenize(filler.encode(), add_bos=False)[: n_ctx - REPLY_ROOM_TOKENS]
    prompt = llama.detokenize(tokens).decode(errors="ignore")
    llama.create_chat_completion(
        messages=[{"role": "user", "content": prompt}], max_tokens=8, temperature=0.0
    )


if __name__ == "__main__":
    _child(Path(sys.argv[1]), int(sys.argv[2]))
