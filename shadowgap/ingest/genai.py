"""Reading an LLM call out of an OpenTelemetry span's attributes and events.

Three conventions are in use, often side by side (readers are tried in this order; the first one
that yields a value wins, so a span carrying two conventions is read once):

- the OpenTelemetry GenAI semantic conventions: ``gen_ai.operation.name``,
  ``gen_ai.request.model`` / ``gen_ai.response.model``, ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, ``gen_ai.system_instructions`` + ``gen_ai.input.messages`` /
  ``gen_ai.output.messages`` (messages of ``parts``; since v1.37, as attributes or on a
  ``gen_ai.client.inference.operation.details`` event; ``tool_call`` and
  ``tool_call_response`` parts are read as OpenAI chat tool calls and tool turns), and the
  older forms: the ``gen_ai.prompt`` / ``gen_ai.completion`` attributes or
  ``gen_ai.content.prompt`` / ``gen_ai.content.completion`` events (a JSON list of
  ``{role, content}``), per-message events (``gen_ai.user.message``, ..., ``gen_ai.choice``)
  and ``gen_ai.usage.prompt_tokens`` / ``completion_tokens``;
- OpenLLMetry (Traceloop): flattened ``gen_ai.prompt.<i>.role`` / ``.content``,
  ``gen_ai.completion.<i>.content`` / ``.finish_reason``, ``llm.request.type``;
- OpenInference (Arize Phoenix): ``openinference.span.kind``, ``llm.model_name``,
  ``llm.input_messages.<i>.message.role`` / ``.content``, ``llm.output_messages...``,
  ``input.value`` / ``output.value`` (raw, often the provider's JSON), ``llm.token_count.*``,
  ``llm.invocation_parameters``.

Every function takes the span's attributes (plain Python values) and, where the convention uses
them, its events. A value that is present but unusable raises :class:`SpanRejected` naming the
attribute, so that one bad span is refused on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from shadowgap.ingest import chat_shapes
from shadowgap.ingest.litellm import SECRET_KEY_PATTERN

# gen_ai.operation.name values that generate text from a prompt. embeddings, execute_tool,
# create_agent, invoke_agent, ... are not calls shadowgap can re-run.
TEXT_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
# OpenLLMetry's llm.request.type values for the same (not embedding, rerank, unknown).
TEXT_REQUEST_TYPES = frozenset({"chat", "completion"})

REQUESTED_MODEL = ("gen_ai.request.model", "llm.request.model_name", "llm.model_name")
# OpenInference records the served model in ``llm.model_name``; the model the caller asked for
# is the ``model`` of ``llm.invocation_parameters`` (and of the request JSON in ``input.value``).
_REQUESTED_BEFORE_OPENINFERENCE = ("gen_ai.request.model", "llm.request.model_name")
SERVED_MODEL = ("gen_ai.response.model", "llm.response.model_name", "llm.model_name")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
COST = ("gen_ai.usage.cost", "llm.cost.total")
# gen_ai.request.* -> native request.params key
REQUEST_PARAMS = (
    ("gen_ai.request.temperature", "temperature"),
    ("gen_ai.request.top_p", "top_p"),
    ("gen_ai.request.top_k", "top_k"),
    ("gen_ai.request.max_tokens", "max_tokens"),
    ("gen_ai.request.frequency_penalty", "frequency_penalty"),
    ("gen_ai.request.presence_penalty", "presence_penalty"),
    ("gen_ai.request.stop_sequences", "stop"),
    ("gen_ai.request.seed", "seed"),
    ("gen_ai.request.choice.count", "n"),
    ("gen_ai.openai.request.seed", "seed"),
)
# OpenLLMetry's request tools: llm.request.functions.<i>.name / .description / .parameters.
_OPENLLMETRY_FUNCTIONS = re.compile(
    r"^llm\.request\.functions\.(\d+)\.(name|description|parameters)$"
)
# Not generation settings: transport switches, and what the native event holds elsewhere.
_DROPPED_PARAMS = frozenset({"stream", "stream_options", "model", "messages", "prompt"})
# Events marking the first streamed chunk: OpenInference, OpenLLMetry, and the GenAI form.
FIRST_CHUNK_EVENTS = frozenset(
    {"First Token Stream Event", "llm.content.completion.chunk", "gen_ai.content.completion.chunk"}
)
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
REFUSAL_FINISH_REASONS = frozenset({"content_filter"})

_OPENLLMETRY = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(role|content|finish_reason)$")
_OPENINFERENCE = re.compile(
    r"^llm\.(input|output)_messages\.(\d+)\.message\."
    r"(role|content|contents\.(\d+)\.message_content\.text)$"
)
# Their tool calls: OpenLLMetry ``gen_ai.completion.0.tool_calls.0.name`` (``id``,
# ``arguments``) and ``gen_ai.prompt.2.tool_call_id``; OpenInference
# ``llm.output_messages.0.message.tool_calls.0.tool_call.function.name`` (``.id``,
# ``.function.arguments``) and ``llm.input_messages.2.message.tool_call_id``.
_TOOL_PATTERNS = {
    _OPENLLMETRY: re.compile(
        r"^gen_ai\.(prompt|completion)\.(\d+)\."
        r"(?:tool_calls\.(\d+)\.(id|name|arguments)|(tool_call_id))$"
    ),
    _OPENINFERENCE: re.compile(
        r"^llm\.(input|output)_messages\.(\d+)\.message\."
        r"(?:tool_calls\.(\d+)\.tool_call\.(id|function\.name|function\.arguments)"
        r"|(tool_call_id))$"
    ),
}


class SpanRejected(Exception):
    """An LLM span that cannot become an event; ``attribute`` names the culprit."""

    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(f"{attribute}: {message}")
        self.attribute = attribute


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: dict[str, Any] = field(default_factory=dict)


def first(attrs: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of ``keys`` present with a non-empty value, as (key, value)."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return key, value
    return None


def requested_model(attrs: dict[str, Any]) -> tuple[str, Any] | None:
    """The model the caller asked for, as (attribute, name). OpenInference's ``llm.model_name``
    is the served model (``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``): the requested one is
    read from its invocation parameters or request JSON first."""
    found = first(attrs, _REQUESTED_BEFORE_OPENINFERENCE)
    if found is not None:
        return found
    for attribute in ("llm.invocation_parameters", "input.value"):
        parsed = _maybe_json(attrs.get(attribute))
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str) and parsed["model"]:
            return attribute, parsed["model"]
    return first(attrs, REQUESTED_MODEL)


def is_llm_call(attrs: dict[str, Any]) -> bool:
    """Whether a span is a text-generation call. A span's own statement of its kind decides;
    without one, a model name makes it an LLM call."""
    kind = attrs.get("openinference.span.kind")
    if kind is not None:
        return str(kind).upper() == "LLM"
    operation = attrs.get("gen_ai.operation.name")
    if operation is not None:
        return str(operation) in TEXT_OPERATIONS
    request_type = attrs.get("llm.request.type")
    if request_type is not None:
        return str(request_type) in TEXT_REQUEST_TYPES
    return first(attrs, REQUESTED_MODEL + SERVED_MODEL) is not None


def with_details(attrs: dict[str, Any], events: list[SpanEvent]) -> dict[str, Any]:
    """The span's attributes, completed by a ``gen_ai.client.inference.operation.details``
    event's (v1.37+ instrumentations may put the messages there instead)."""
    details = next((e for e in events if e.name == DETAILS_EVENT), None)
    return attrs if details is None else {**details.attributes, **attrs}


# --- prompt ------------------------------------------------------------------------------------


def prompt_messages(attrs: dict[str, Any], events: list[SpanEvent]) -> list[dict[str, Any]]:
    """The request's messages as native ``{role, content}`` dicts ([] when none was recorded)."""
    readers = (
        lambda: _semconv_input(attrs),
        lambda: _flattened(attrs, _OPENLLMETRY),
        lambda: _legacy_messages(attrs, "gen_ai.prompt", "user"),
        lambda: _event_messages(events),
        lambda: _flattened(attrs, _OPENINFERENCE),
        lambda: _input_value(attrs),
    )
    for read in readers:
        messages = read()
        if messages:
            return [_native_message(m) for m in messages]
    return []


def _native_message(message: dict[str, Any]) -> dict[str, Any]:
    turn = {"role": message["role"], "content": message.get("content")}
    for key in _TOOL_KEYS:
        if message.get(key) is not None:
            turn[key] = message[key]
    return turn


def _semconv_input(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    messages = [
        _part_message(item, "gen_ai.input.messages")
        for item in _json_list(attrs, "gen_ai.input.messages")
    ]
    instructions = _json_list(attrs, "gen_ai.system_instructions")
    if messages and instructions:
        text = _parts_text(instructions)
        # OpenLIT writes the system prompt both here and as the first input message; the app
        # sent it once, so it is kept once.
        if not any(m["role"] in ("system", "developer") and m["content"] == text for m in messages):
            messages.insert(0, {"role": "system", "content": text})
    return messages


def _part_message(item: Any, attribute: str, default_role: str | None = None) -> dict[str, Any]:
    """A GenAI message (``{role, parts}``, or the OpenAI-like ``{role, content}``) -> native.
    Only the older attributes may leave the role out (``default_role``)."""
    role = item.get("role", default_role) if isinstance(item, dict) else None
    if not isinstance(role, str) or not role:
        raise SpanRejected(attribute, "every message must be an object with a string 'role'")
    parts = item.get("parts")
    if not isinstance(parts, list):
        return {"role": role, "content": _content(item.get("content"))}
    message: dict[str, Any] = {"role": role, "content": _parts_text(parts)}
    calls = [_tool_call(part) for part in parts if _kind(part) == "tool_call"]
    if calls:
        message["tool_calls"] = calls
    responses = [part for part in parts if _kind(part) == "tool_call_response"]
    if responses:
        # A tool turn answers one call: its id, and the response as text (JSON if not text).
        message["tool_call_id"] = _id(responses[0].get("id"))
        response = responses[0].get("response")
        message["content"] = response if isinstance(response, str) else _json_text(response)
    return message


# Keys of a semconv message part list read into OpenAI's chat shape (GenAI semconv v1.37:
# ``{"type": "tool_call", "id", "name", "arguments"}`` on an assistant message,
# ``{"type": "tool_call_response", "id", "response"}`` on a tool message).
_TOOL_KEYS = ("tool_calls", "tool_call_id")


def _kind(part: Any) -> str | None:
    return part.get("type") if isinstance(part, dict) else None


def _id(value: Any) -> str | None:
    return str(value) if value is not None and value != "" else None


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode() if value is not None else ""


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    """A semconv ``tool_call`` part as an OpenAI tool call (arguments as JSON text)."""
    arguments = part.get("arguments")
    call: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": str(part.get("name") or ""),
            "arguments": arguments if isinstance(arguments, str) else _json_text(arguments),
        },
    }
    if (call_id := _id(part.get("id"))) is not None:
        call["id"] = call_id
    return call


def _parts_text(parts: list[Any]) -> str | None:
    """The text parts of a GenAI message joined; tool calls and media carry no prompt text."""
    texts = [
        str(part.get("content"))
        for part in parts
        if isinstance(part, dict) and part.get("type", "text") == "text" and part.get("content")
    ]
    return "\n".join(texts) if texts else None


def _content(value: Any) -> str | list[Any] | None:
    if value is None or isinstance(value, str | list):
        return value
    return str(value)


def _flattened(
    attrs: dict[str, Any], pattern: re.Pattern[str], output: bool = False
) -> list[dict[str, Any]]:
    """Messages from indexed keys (``gen_ai.prompt.0.role``, ``llm.input_messages.0...``)."""
    wanted = {"completion", "output"} if output else {"prompt", "input"}
    tools = _TOOL_PATTERNS.get(pattern)
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = pattern.match(key)
        if match is None:
            if tools is not None and (tool := tools.match(key)) and tool.group(1) in wanted:
                _tool_key(by_index.setdefault(int(tool.group(2)), {}), tool, value)
            continue
        if match.group(1) not in wanted:
            continue
        slot = by_index.setdefault(int(match.group(2)), {})
        name = match.group(3)
        if name.startswith("contents."):  # OpenInference multi-part content: join the texts
            slot.setdefault("parts", {})[int(match.group(4))] = str(value)
        else:
            slot[name] = value
    messages = []
    for index in sorted(by_index):
        slot = by_index[index]
        content = slot.get("content")
        if content is None and "parts" in slot:
            content = "\n".join(slot["parts"][i] for i in sorted(slot["parts"]))
        role = slot.get("role") or ("assistant" if output else "user")
        message = {
            "role": str(role),
            "content": _flat_content(content),
            "finish": slot.get("finish_reason"),
        }
        if "calls" in slot:
            message["tool_calls"] = [_tool_call(slot["calls"][i]) for i in sorted(slot["calls"])]
        if "tool_call_id" in slot:
            message["tool_call_id"] = _id(slot["tool_call_id"])
        messages.append(message)
    return messages


def _tool_key(slot: dict[str, Any], match: re.Match[str], value: Any) -> None:
    """One flattened tool-call key into its message's slot."""
    if match.group(5):
        slot["tool_call_id"] = value
        return
    field_name = match.group(4).removeprefix("function.")
    slot.setdefault("calls", {}).setdefault(int(match.group(3)), {})[field_name] = value


def _flat_content(value: Any) -> str | list[Any] | None:
    """OpenLLMetry writes multimodal content as a JSON list of OpenAI content parts."""
    parsed = _maybe_json(value)
    if isinstance(parsed, list) and all(isinstance(p, dict) and "type" in p for p in parsed):
        return parsed
    return _content(value)


def _legacy_messages(attrs: dict[str, Any], attribute: str, role: str) -> list[dict[str, Any]]:
    """``gen_ai.prompt`` / ``gen_ai.completion``: a JSON list of ``{role, content}``; a value
    that is not JSON is taken as the text itself."""
    value = attrs.get(attribute)
    if value is None or value == "":
        return []
    parsed = _maybe_json(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if isinstance(parsed, list):
        return [_part_message(item, attribute, default_role=role) for item in parsed]
    return [{"role": role, "content": str(value)}]


def _event_messages(events: list[SpanEvent]) -> list[dict[str, Any]]:
    for event in events:
        if event.name == "gen_ai.content.prompt":
            return _legacy_messages(event.attributes, "gen_ai.prompt", "user")
    messages = []
    for event in events:
        role = MESSAGE_EVENTS.get(event.name)
        if role is None:
            continue
        body = _event_body(event)
        messages.append(
            {"role": str(body.get("role") or role), "content": _content(body.get("content"))}
        )
    return messages


def _event_body(event: SpanEvent) -> dict[str, Any]:
    """A message event's body: its attributes, or the JSON in ``gen_ai.event.content``."""
    packed = event.attributes.get("gen_ai.event.content")
    if packed is not None:
        parsed = _maybe_json(packed)
        if isinstance(parsed, dict):
            return {**event.attributes, **parsed}
    return event.attributes


def _input_value(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenInference ``input.value``: the provider's request JSON, or plain text."""
    value = attrs.get("input.value")
    if value is None or value == "":
        return []
    parsed = _maybe_json(value)
    if isinstance(parsed, dict):
        if isinstance(parsed.get("messages"), list):
            return [_part_message(item, "input.value") for item in parsed["messages"]]
        if isinstance(parsed.get("prompt"), str):
            return [{"role": "user", "content": parsed["prompt"]}]
    return [{"role": "user", "content": value if isinstance(value, str) else str(parsed)}]


# --- answer ------------------------------------------------------------------------------------


@dataclass
class Answer:
    text: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    # Tool calls of the first output message in OpenAI's shape (semconv ``tool_call`` parts).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finish_reason(self) -> str | None:
        """The first finish reason in OpenAI's words (semconv says ``tool_call``)."""
        if not self.finish_reasons:
            return None
        first = self.finish_reasons[0]
        return "tool_calls" if first == "tool_call" else first[:64]

    def native(self) -> str | dict[str, Any] | None:
        """The native ``answer``: the text, or the assistant message when it calls tools."""
        if not self.tool_calls:
            return self.text
        return {"role": "assistant", "content": self.text, "tool_calls": self.tool_calls}

    @property
    def refused(self) -> bool:
        return any(reason in REFUSAL_FINISH_REASONS for reason in self.finish_reasons)


def answer(attrs: dict[str, Any], events: list[SpanEvent]) -> Answer:
    """The first output message's text, and every finish reason the span states."""
    found = Answer()
    readers = (
        lambda: _semconv_output(attrs),
        lambda: _flattened(attrs, _OPENLLMETRY, output=True),
        lambda: _legacy_messages(attrs, "gen_ai.completion", "assistant"),
        lambda: _event_outputs(events),
        lambda: _flattened(attrs, _OPENINFERENCE, output=True),
        lambda: _output_value(attrs),
    )
    for read in readers:
        outputs = read()
        if outputs:
            found.text = _text(outputs[0].get("content"))
            found.tool_calls = list(outputs[0].get("tool_calls") or [])
            found.finish_reasons = [str(m["finish"]) for m in outputs if m.get("finish")]
            break
    if not found.finish_reasons and attrs.get("llm.finish_reason"):  # OpenInference
        found.finish_reasons.append(str(attrs["llm.finish_reason"]))
    declared = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(declared, list | tuple):
        found.finish_reasons += [str(reason) for reason in declared]
    elif isinstance(declared, str):
        found.finish_reasons.append(declared)
    return found


def _semconv_output(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    outputs = []
    for item in _json_list(attrs, "gen_ai.output.messages"):
        message = _part_message(item, "gen_ai.output.messages")
        message["finish"] = item.get("finish_reason")
        outputs.append(message)
    return outputs


def _event_outputs(events: list[SpanEvent]) -> list[dict[str, Any]]:
    for event in events:
        if event.name == "gen_ai.content.completion":
            return _legacy_messages(event.attributes, "gen_ai.completion", "assistant")
    outputs = []
    for event in events:
        if event.name != "gen_ai.choice":
            continue
        body = _event_body(event)
        message = _maybe_json(body.get("message"))
        content = message.get("content") if isinstance(message, dict) else body.get("content")
        outputs.append(
            {"role": "assistant", "content": _content(content), "finish": body.get("finish_reason")}
        )
    return outputs


def _output_value(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenInference ``output.value``: the provider's response JSON, or plain text."""
    value = attrs.get("output.value")
    if value is None or value == "":
        return []
    parsed = _maybe_json(value)
    if isinstance(parsed, dict):
        choices = parsed.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            message = choice.get("message")
            content = message.get("content") if isinstance(message, dict) else choice.get("text")
            return [{"content": _content(content), "finish": choice.get("finish_reason")}]
        if isinstance(parsed.get("content"), list):  # Anthropic Messages: content blocks
            return [{"content": _parts_text_blocks(parsed["content"])}]
    return [{"content": value if isinstance(value, str) else str(parsed)}]


def _parts_text_blocks(blocks: list[Any]) -> str | None:
    texts = [b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)]
    return "\n".join(texts) if texts else None


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return _parts_text_blocks(content) or _parts_text(content)
    return str(content)


# --- numbers -----------------------------------------------------------------------------------


def token_counts(attrs: dict[str, Any]) -> tuple[int, int]:
    return _count(attrs, INPUT_TOKENS), _count(attrs, OUTPUT_TOKENS)


def _count(attrs: dict[str, Any], keys: tuple[str, ...]) -> int:
    found = first(attrs, keys)
    if found is None:
        return 0
    key, value = found
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SpanRejected(key, f"must be a non-negative integer, got {preview(value)}")
    return value


def number(attrs: dict[str, Any], keys: tuple[str, ...], minimum: float | None) -> float | None:
    """A finite number from the first present key (numeric strings accepted)."""
    found = first(attrs, keys)
    if found is None:
        return None
    key, value = found
    try:
        result = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        result = math.nan
    if not math.isfinite(result) or (minimum is not None and result < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise SpanRejected(key, f"must be a finite number{bound}, got {preview(value)}")
    return result


def cost_usd(attrs: dict[str, Any]) -> float | None:
    return number(attrs, COST, minimum=0.0)


def request_params(attrs: dict[str, Any]) -> dict[str, Any]:
    """Generation settings: OpenInference's invocation parameters, then ``gen_ai.request.*``.
    Keys naming credentials are dropped."""
    params: dict[str, Any] = {}
    invocation = attrs.get("llm.invocation_parameters")
    if invocation is not None:
        parsed = _maybe_json(invocation)
        if not isinstance(parsed, dict):
            raise SpanRejected("llm.invocation_parameters", "must be a JSON object")
        params.update(parsed)
    fills_defaults = is_openlit(attrs)
    for attribute, name in REQUEST_PARAMS:
        value = attrs.get(attribute)
        if value is None:
            continue
        if fills_defaults and _is_filled_default(name, value):
            continue
        params[name] = value
    tools = _tool_definitions(attrs)
    if tools:
        params["tools"] = tools
    response_format = attrs.get("gen_ai.openai.request.response_format")
    if isinstance(response_format, str) and response_format and "response_format" not in params:
        params["response_format"] = {"type": response_format}
    return {
        key: value
        for key, value in params.items()
        if key not in _DROPPED_PARAMS and not SECRET_KEY_PATTERN.search(key)
    }


# OpenLIT writes these request settings on every span, with these values when the caller set
# none (OpenAI's own defaults, and 0 for the seed). A value equal to the API's default changes
# nothing when sent, so dropping it loses nothing but OpenLIT's guess; a caller's explicit
# ``seed=0`` is the one setting lost (documented in docs/sending-traffic.md).
_OPENLIT_FILLED_DEFAULTS = {
    "temperature": 1.0,
    "top_p": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "seed": 0,
}


def is_openlit(attrs: dict[str, Any]) -> bool:
    """Whether OpenLIT wrote the span (it marks its spans and log records so)."""
    return attrs.get("telemetry.sdk.name") == "openlit" or "openlit.agent.version_hash" in attrs


def _is_filled_default(name: str, value: Any) -> bool:
    default = _OPENLIT_FILLED_DEFAULTS.get(name)
    if default is None or isinstance(value, bool):
        return False
    try:
        return float(value) == default
    except (TypeError, ValueError):
        return False


# OpenInference's request tools: ``llm.tools.<i>.tool.json_schema``, each a chat tool as JSON.
_OPENINFERENCE_TOOLS = re.compile(r"^llm\.tools\.(\d+)\.tool\.json_schema$")


def _tool_definitions(attrs: dict[str, Any]) -> list[Any]:
    """The request's tools as chat function tools: GenAI semconv ``gen_ai.tool.definitions``
    (a JSON list of flat function tools), else OpenLLMetry's ``llm.request.functions.*``."""
    if attrs.get("gen_ai.tool.definitions") is not None:
        return [
            chat_shapes.flat_function_tool(t) for t in _json_list(attrs, "gen_ai.tool.definitions")
        ]
    openinference = {
        int(match.group(1)): _maybe_json(value)
        for key, value in attrs.items()
        if (match := _OPENINFERENCE_TOOLS.match(key)) is not None
    }
    if openinference:
        return [_chat_tool(openinference[i]) for i in sorted(openinference)]
    functions: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _OPENLLMETRY_FUNCTIONS.match(key)
        if match is not None:
            field_name = match.group(2)
            parsed = _maybe_json(value) if field_name == "parameters" else value
            functions.setdefault(int(match.group(1)), {})[field_name] = parsed
    return [{"type": "function", "function": functions[i]} for i in sorted(functions)]


def _chat_tool(value: Any) -> Any:
    """A chat tool (``{type, function}``) as sent; a flat function tool is nested."""
    if isinstance(value, dict) and "function" not in value and "name" in value:
        return chat_shapes.flat_function_tool(value)
    if not isinstance(value, dict):
        raise SpanRejected("llm.tools", "each tool's json_schema must be a JSON object")
    return value


def ttft_ms(attrs: dict[str, Any], events: list[SpanEvent], start_unix_nano: int) -> float | None:
    """Time to first token: the GenAI attribute, else the first streamed-chunk event."""
    seconds = number(attrs, (TIME_TO_FIRST_CHUNK,), minimum=0.0)
    if seconds is not None:
        return seconds * 1000
    chunks = [
        e.time_unix_nano
        for e in events
        if e.name in FIRST_CHUNK_EVENTS and e.time_unix_nano >= start_unix_nano > 0
    ]
    return (min(chunks) - start_unix_nano) / 1e6 if chunks else None


def error_text(status_message: str, attrs: dict[str, Any], events: list[SpanEvent]) -> str:
    """Why a call failed: the span status message, else the recorded exception, else
    ``error.type``."""
    if status_message:
        return status_message
    for event in events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type")
            message = event.attributes.get("exception.message")
            text = ": ".join(str(part) for part in (kind, message) if part)
            if text:
                return text
    return str(attrs.get("error.type") or "the span's status is ERROR")


# --- helpers -----------------------------------------------------------------------------------


def preview(value: Any, limit: int = 60) -> str:
    """A value as quoted in a rejection reason: short, whatever the sender put there."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _maybe_json(value: Any) -> Any:
    """A JSON string parsed; anything else (structured attribute values) as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _json_list(attrs: dict[str, Any], attribute: str) -> list[Any]:
    """A list-valued attribute sent as JSON text or as a structured (array) value."""
    value = attrs.get(attribute)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise SpanRejected(attribute, f"is not valid JSON: {exc}") from exc
    if not isinstance(value, list | tuple):
        raise SpanRejected(attribute, "must be a JSON array of messages")
    return list(value)
