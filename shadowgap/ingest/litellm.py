"""LiteLLM's generic API logging callback -> native TrafficEvents (``POST /v1/ingest/litellm``).

What arrives: LiteLLM's ``GenericAPILogger`` POSTs ``StandardLoggingPayload`` objects
(``litellm/types/utils.py``) with ``Content-Type: application/json`` in one of three shapes, all
accepted here: a JSON array per flush (``log_format: json_array``, the default), newline-delimited
JSON (``ndjson``), or one object per POST (``single``). Only async calls are logged, failed calls
included (``status: "failure"``, zero tokens, ``error_str`` and ``error_information``).

Mapping (payload field -> TrafficEvent):

- ``id`` -> event_id; ``startTime`` (epoch seconds) -> timestamp;
  ``(endTime - startTime)`` -> latency_ms; ``(completionStartTime - startTime)`` -> ttft_ms
  (for a non-streamed call LiteLLM sets completionStartTime to endTime, so ttft equals latency);
- ``messages`` (a chat list, or a prompt string) -> request.messages, with each turn's
  ``role``, ``content``, ``name``, ``tool_calls``, ``function_call``, ``tool_call_id`` and
  ``refusal`` (other keys LiteLLM adds, e.g. ``provider_specific_fields``, are dropped);
  ``model_parameters`` -> request.params (``stream``, ``stream_options`` and secret-named keys
  dropped). A call made in Anthropic Messages or Responses API shape (``call_type``, or its
  ``tool_use``/``tool_result`` blocks, ``function_call``/``function_call_output`` items) is
  normalised to the OpenAI chat request (shadowgap/ingest/chat_shapes.py);
- ``response.choices[0].message`` (or ``.text``; Anthropic ``content`` blocks; Responses
  API ``output``) -> answer: its text, or the assistant message when it calls tools (so a
  tool-call answer is sampled, re-run and judged), and ``finish_reason``; a
  ``content_filter`` finish or a ``refusal`` -> refused;
- ``prompt_tokens`` / ``completion_tokens`` -> usage; ``response_cost`` -> cost_usd;
- ``status == "failure"`` -> status "error", error <- ``error_str`` or
  ``error_information.error_message``;
- attributes: tenant <- team alias, else team id, else org alias, else org id (key metadata
  ``user_api_key_team_alias`` / ``user_api_key_team_id`` / ``user_api_key_org_*``);
  team <- team alias, else team id; user <- ``end_user``, else
  ``metadata.user_api_key_end_user_id``, else ``model_parameters.user``;
  api_key_alias <- ``metadata.user_api_key_alias``; tags <- ``request_tags``;
  metadata <- an allow-list of plain identifiers (below). Key hashes, auth metadata, custom
  headers and anything else not on the list never reach the database.

The router's decision. When a router decided where a request went, it is read from
``metadata.routing_decision``. LiteLLM's own auto-routers (complexity, quality, adaptive, ...)
stamp it there themselves (``StandardLoggingRoutingDecision``: ``tier``, ``tier_label``,
``routed_model``, ``score``, ``cause``, ``escalated``, ``context_escalated``). Routers in front of
LiteLLM follow the same convention by passing ``metadata={"routing_decision": {...}}`` with the
request; they may name the routed model ``model`` instead of ``routed_model``. (LiteLLM's own
``Router`` clears a caller-supplied ``routing_decision`` unless one of its auto-routers made the
decision, so the caller-supplied shape survives only on calls that bypass ``Router``.)

- route.tier <- ``tier_label`` (the operator's renamed tier), else ``tier``, else
  ``routed_model``; without a decision, the ``model_group``, else the ``model``;
- route.model <- the decision's ``model`` (an external router's statement of what it called),
  else the payload's ``model`` (the deployment that served the call; LiteLLM's ``routed_model``
  is a model-group alias), else ``routed_model``, else ``model_group``;
- route.score <- ``score``; route.reason <- ``cause``;
- escalated <- ``escalated is true`` or ``context_escalated is true``: the convention is that a
  cascade or router which moved a request above the tier it first chose says so with
  ``"escalated": true`` in the decision.

Payloads that are not text generation (embeddings, images, audio, files, batches, ...) carry no
prompt/answer pair to shadow, and neither do failures logged before any prompt was recorded;
:func:`parse_litellm` skips both rather than reject the batch, since LiteLLM's generic logger
does not retry a 4xx and the whole batch would be lost.

Bad input raises :class:`InvalidInput` naming the offending field as a payload path (e.g.
``startTime``, ``metadata.routing_decision.score``) and the item's index in the batch; a body
that is not JSON names the NDJSON line that failed.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from shadowgap.errors import InvalidInput
from shadowgap.ingest import chat_shapes
from shadowgap.ingest.body import field_path, refuse_deep, without_nul
from shadowgap.schemas import TrafficEvent

# Call types that carry a prompt and a generated answer. An absent call_type counts as one, so
# hand-written payloads work.
TEXT_CALL_TYPES = frozenset(
    {
        "completion",
        "acompletion",
        "text_completion",
        "atext_completion",
        "anthropic_messages",
        "aanthropic_messages",
        "responses",
        "aresponses",
        "generate_content",
        "agenerate_content",
        "generate_content_stream",
        "agenerate_content_stream",
    }
)

# Plain identifiers worth keeping for segmentation and debugging: (payload path, stored key).
# Anything not listed is dropped, which is what keeps secrets out (user_api_key_hash,
# user_api_key_auth_metadata, requester_custom_headers, ...).
_TOP_LEVEL_METADATA = (
    ("model_group", "model_group"),
    ("call_type", "call_type"),
    ("custom_llm_provider", "provider"),
    ("litellm_call_id", "litellm_call_id"),
    ("trace_id", "trace_id"),
    ("session_id", "session_id"),
    ("cache_hit", "cache_hit"),
)
_KEY_METADATA = (
    ("user_api_key_team_id", "team_id"),
    ("user_api_key_org_id", "org_id"),
    ("user_api_key_org_alias", "org_alias"),
    ("user_api_key_project_id", "project_id"),
    ("user_api_key_project_alias", "project_alias"),
    ("user_api_key_user_id", "key_user_id"),
)
_DECISION_METADATA = (
    ("router_model_name", "router"),
    ("router_type", "router_type"),
    ("routed_model", "routed_model"),
    ("tier", "router_tier"),
    ("classifier_model", "classifier_model"),
    ("context_escalation_original_tier", "context_escalation_original_tier"),
)
_ERROR_METADATA = (
    ("error_class", "error_class"),
    ("error_code", "error_code"),
    ("normalized_error", "normalized_error"),
)
_METADATA_VALUE_MAX = 256

# A second guard for pass-through dicts (request params): keys that name credentials are dropped
# even if a future LiteLLM starts logging them.
SECRET_KEY_PATTERN = re.compile(
    r"api[_-]?key|secret|passw(or)?d|authorization|bearer|credential|cookie|private[_-]?key"
    r"|access[_-]?token|refresh[_-]?token|session[_-]?token|(^|_)hash(ed)?($|_)",
    re.IGNORECASE,
)
# A key longer than this names no parameter; it is dropped as secret-named unread (the pattern
# tries every position of a key: a 1,000,000-character key held the GIL for about a second).
MAX_PARAM_KEY = 256


def is_secret_key(key: str) -> bool:
    """Whether a pass-through key names a credential (or is too long to be a parameter)."""
    return len(key) > MAX_PARAM_KEY or SECRET_KEY_PATTERN.search(key) is not None


# Transport switches, not generation settings: a shadow re-run collects the whole answer.
_DROPPED_PARAMS = frozenset({"stream", "stream_options"})

# Native limits (shadowgap.schemas) that the mapping enforces before validation so errors can
# name the LiteLLM field rather than the native one.
_TAG_LIMIT = 64
_ATTRIBUTE_MAX = 256
_REASON_MAX = 2000
_ERROR_MAX = 10_000

# Native path prefix -> the payload field it came from, for the rare error only pydantic catches.
_NATIVE_TO_PAYLOAD = (
    ("event_id", "id"),
    ("timestamp", "startTime"),
    ("request.messages", "messages"),
    ("request.params", "model_parameters"),
    ("route.tier", "metadata.routing_decision.tier"),
    ("route.model", "model"),
    ("route.score", "metadata.routing_decision.score"),
    ("route.reason", "metadata.routing_decision.cause"),
    ("answer", "response"),
    ("latency_ms", "endTime"),
    ("ttft_ms", "completionStartTime"),
    ("usage.prompt_tokens", "prompt_tokens"),
    ("usage.completion_tokens", "completion_tokens"),
    ("cost_usd", "response_cost"),
    ("error", "error_str"),
    ("attributes.tags", "request_tags"),
    ("attributes", "metadata"),
)


def parse_litellm(body: bytes) -> list[TrafficEvent]:
    """Every text-generation payload in a LiteLLM generic-API body (array, object or NDJSON)."""
    events: list[TrafficEvent] = []
    for index, payload in enumerate(litellm_payloads(body)):
        if is_text_call(payload, index) and not _failed_before_request(payload):
            events.append(litellm_to_event(payload, index))
    return events


def litellm_payloads(body: bytes) -> list[dict[str, Any]]:
    """The payload objects of a body: one JSON array, one object, or one object per line."""
    if not body.strip():
        raise InvalidInput("the request body is empty", field="body")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if body.lstrip().startswith(b"["):
            # A broken batch array: orjson's message carries the line and column.
            raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from exc
        items = _ndjson(body)
    else:
        items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"item {index}: a LiteLLM payload must be a JSON object, got {_kind(item)}",
                field="body",
                item=index,
            )
    refuse_deep(items)
    return without_nul(items, body)


def _ndjson(body: bytes) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number} of the body is not valid JSON (the body is neither one JSON "
                f"value nor NDJSON): {exc}",
                field="body",
                item=len(items),
            ) from exc
    return items


def is_text_call(payload: dict[str, Any], item: int = 0) -> bool:
    """Whether a payload is a text generation (what shadowgap shadows)."""
    call_type = payload.get("call_type")
    if call_type is None or call_type == "":
        return True
    if not isinstance(call_type, str):
        raise InvalidInput(
            _msg(item, "call_type", "must be a string"), field="call_type", item=item
        )
    return call_type in TEXT_CALL_TYPES


def _failed_before_request(payload: dict[str, Any]) -> bool:
    """A failure logged before any prompt was recorded (e.g. a proxy rejecting the key): there
    is no request to attribute or shadow, and rejecting it would make LiteLLM drop the batch."""
    return payload.get("status") == "failure" and payload.get("messages") in (None, "", [])


def litellm_to_event(payload: dict[str, Any], item: int) -> TrafficEvent:
    """One StandardLoggingPayload as a TrafficEvent; ``item`` is its index, for errors."""
    reader = _Reader(payload, item)
    metadata = reader.mapping("metadata")
    decision = reader.mapping("metadata.routing_decision", metadata.get("routing_decision"))

    start = reader.required_number("startTime")
    try:
        timestamp = datetime.fromtimestamp(start, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise reader.invalid("startTime", "is not a usable epoch time in seconds") from exc
    end = reader.number("endTime")
    first_token = reader.number("completionStartTime")
    if end is not None and end < start:
        raise reader.invalid("endTime", "is earlier than startTime")

    status = payload.get("status") or "success"
    if status not in ("success", "failure"):
        raise reader.invalid("status", "must be 'success' or 'failure'")
    failed = status == "failure"

    params = reader.mapping("model_parameters")
    messages, chat_params = _chat_request(payload, reader.raw_messages(), params)
    answer, finish_reason = _answer(payload.get("response"))
    event = {
        "event_id": reader.string("id", required=True, max_length=200),
        "timestamp": timestamp,
        "request": {"messages": reader.messages(messages), "params": _params(chat_params)},
        "route": _route(reader, payload, decision),
        "answer": answer,
        "finish_reason": finish_reason,
        "latency_ms": None if end is None else (end - start) * 1000.0,
        "ttft_ms": (
            None if first_token is None or first_token < start else (first_token - start) * 1000.0
        ),
        "usage": {
            "prompt_tokens": reader.count("prompt_tokens"),
            "completion_tokens": reader.count("completion_tokens"),
        },
        "cost_usd": reader.number("response_cost", minimum=0.0),
        "status": "error" if failed else "ok",
        "error": _error(reader, payload) if failed else None,
        "refused": _refused(payload.get("response")),
        "escalated": decision.get("escalated") is True or decision.get("context_escalated") is True,
        "attributes": _attributes(reader, payload, metadata, decision, params),
    }
    try:
        return TrafficEvent.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        native = field_path(tuple(first["loc"]))
        source = _payload_field(native)
        raise InvalidInput(
            _msg(item, source, f"{first['msg']} (as {native})"), field=source, item=item
        ) from exc


class _Reader:
    """Typed access to one payload's fields; every failure names the field path and the item."""

    def __init__(self, payload: dict[str, Any], item: int) -> None:
        self.payload = payload
        self.item = item

    def invalid(self, field: str, problem: str) -> InvalidInput:
        return InvalidInput(_msg(self.item, field, problem), field=field, item=self.item)

    def string(
        self, field: str, *, required: bool = False, max_length: int | None = None
    ) -> str | None:
        value = self.payload.get(field)
        if value is None or value == "":
            if required:
                raise self.invalid(field, "is required")
            return None
        if not isinstance(value, str):
            raise self.invalid(field, f"must be a string, got {_kind(value)}")
        if max_length is not None and len(value) > max_length:
            raise self.invalid(field, f"is longer than {max_length} characters")
        return value

    def required_number(self, field: str) -> float:
        value = self.number(field)
        if value is None:
            raise self.invalid(field, "is required")
        return value

    def number(self, field: str, *, minimum: float | None = None) -> float | None:
        value = self.payload.get(field)
        if value is None:
            return None
        # bool is an int subclass: true/false is never a time or a cost.
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = ""
            if isinstance(value, str) and "modelParameters" in self.payload:
                hint = " (this looks like the legacy payload of litellm.generic_api_use_v1=True)"
            raise self.invalid(field, f"must be a number, got {_kind(value)}{hint}")
        if not math.isfinite(value):
            raise self.invalid(field, "must be a finite number")
        if minimum is not None and value < minimum:
            raise self.invalid(field, f"must be at least {minimum}")
        return float(value)

    def count(self, field: str) -> int:
        value = self.number(field, minimum=0.0)
        if value is None:
            return 0
        if not value.is_integer():
            raise self.invalid(field, "must be a whole number")
        return int(value)

    def mapping(self, field: str, value: Any = ...) -> dict[str, Any]:
        if value is ...:
            value = self.payload.get(field)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.invalid(field, f"must be an object, got {_kind(value)}")
        return value

    def raw_messages(self) -> list[Any]:
        raw = self.payload.get("messages")
        if isinstance(raw, str):
            raw = [{"role": "user", "content": raw}]
        elif isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list) or not raw:
            raise self.invalid("messages", "must be a non-empty list of messages or a prompt")
        return raw

    def messages(self, raw: list[Any]) -> list[dict[str, Any]]:
        """The chat turns (see :func:`_chat_request`), each checked and cut to the keys of
        OpenAI's chat message that shadowgap keeps (others are dropped, see schemas)."""
        messages: list[dict[str, Any]] = []
        for position, message in enumerate(raw):
            path = f"messages[{position}]"
            if isinstance(message, str):
                # A list of prompt strings (text completion with several prompts).
                messages.append({"role": "user", "content": message})
                continue
            if not isinstance(message, dict):
                raise self.invalid(path, f"must be an object, got {_kind(message)}")
            if "role" not in message and message.get("type") not in (None, "message"):
                # Other Responses API items (built-in tool calls, ...): no chat turn.
                continue
            role = message.get("role")
            if not isinstance(role, str) or not role or len(role) > 64:
                raise self.invalid(f"{path}.role", "must be a non-empty string of <= 64 characters")
            content = message.get("content")
            if content is not None and not isinstance(content, str | list):
                raise self.invalid(
                    f"{path}.content", f"must be text or a list of parts, got {_kind(content)}"
                )
            turn = {key: message[key] for key in _MESSAGE_KEYS if message.get(key) is not None}
            turn["content"] = content
            messages.append(turn)
        if not messages:
            raise self.invalid("messages", "holds no role/content message")
        return messages


# The keys of an OpenAI chat message kept from a logged message (see schemas.Message).
_MESSAGE_KEYS = ("role", "name", "tool_calls", "function_call", "tool_call_id", "refusal")


def _chat_request(
    payload: dict[str, Any], raw: list[Any], params: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The request as the OpenAI chat request it is (see shadowgap/ingest/chat_shapes.py): an
    Anthropic Messages or Responses API call is normalised, a chat call kept as logged."""
    call_type = payload.get("call_type")
    if call_type in chat_shapes.ANTHROPIC_CALL_TYPES or chat_shapes.is_anthropic_conversation(raw):
        return chat_shapes.anthropic_messages(raw, params), chat_shapes.anthropic_params(params)
    if call_type in chat_shapes.RESPONSES_CALL_TYPES or chat_shapes.is_responses_input(raw):
        return chat_shapes.responses_messages(raw, params), chat_shapes.responses_params(params)
    return raw, params


def _route(reader: _Reader, payload: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    def text(field: str, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise reader.invalid(field, f"must be a string, got {_kind(value)}")
        return value

    decided = "metadata.routing_decision"
    tier_label = text(f"{decided}.tier_label", decision.get("tier_label"))
    decided_tier = text(f"{decided}.tier", decision.get("tier"))
    routed_model = text(f"{decided}.routed_model", decision.get("routed_model"))
    decided_model = text(f"{decided}.model", decision.get("model"))
    model = text("model", payload.get("model"))
    model_group = text("model_group", payload.get("model_group"))

    tier_source, tier = _first(
        (f"{decided}.tier_label", tier_label),
        (f"{decided}.tier", decided_tier),
        (f"{decided}.routed_model", routed_model),
        ("model_group", model_group),
        ("model", model),
    )
    model_source, routed = _first(
        (f"{decided}.model", decided_model),
        ("model", model),
        (f"{decided}.routed_model", routed_model),
        ("model_group", model_group),
    )
    if tier is None or routed is None:
        raise reader.invalid("model", "is required (no model, model_group or routing_decision)")
    if len(tier) > 128:
        raise reader.invalid(tier_source, "is longer than 128 characters")
    if len(routed) > 256:
        raise reader.invalid(model_source, "is longer than 256 characters")

    score = decision.get("score")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
    ):
        raise reader.invalid(f"{decided}.score", f"must be a finite number, got {_kind(score)}")
    cause = decision.get("cause")
    if cause is not None and not isinstance(cause, str):
        raise reader.invalid(f"{decided}.cause", f"must be a string, got {_kind(cause)}")
    return {
        "tier": tier,
        "model": routed,
        "score": None if score is None else float(score),
        "reason": cause[:_REASON_MAX] if cause else None,
    }


def _first(*candidates: tuple[str, str | None]) -> tuple[str, str | None]:
    for source, value in candidates:
        if value:
            return source, value
    return candidates[-1][0], None


# Params that hold the app's own definitions (JSON schemas): their keys are parameter and
# property names, not credentials (a tool's "password" argument is a schema, not a secret),
# and the flagship must get them whole.
_DEFINITION_PARAMS = frozenset({"tools", "functions", "tool_choice", "response_format"})


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if key in _DEFINITION_PARAMS else _scrub(value)
        for key, value in params.items()
        if key not in _DROPPED_PARAMS and not is_secret_key(key)
    }


def _scrub(value: Any) -> Any:
    """Drop secret-named keys at every depth of a pass-through value."""
    if isinstance(value, dict):
        return {
            k: _scrub(v) for k, v in value.items() if not (isinstance(k, str) and is_secret_key(k))
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _answer(response: Any) -> tuple[str | dict[str, Any] | None, str | None]:
    """The answer (text, or the assistant message when it calls tools) and finish_reason,
    from whichever response shape LiteLLM logged."""
    if isinstance(response, str):
        return response or None, None
    if not isinstance(response, dict):
        return None, None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        finish = choice.get("finish_reason")
        finish = finish if isinstance(finish, str) else None
        message = choice.get("message")
        if isinstance(message, dict):
            refusal_only = message.get("refusal") and message.get("content") is None
            if message.get("tool_calls") or message.get("function_call") or refusal_only:
                return {k: v for k, v in message.items() if v is not None}, finish
            if message.get("content") is not None:
                return _text(message["content"]), finish
        if isinstance(choice.get("text"), str):
            return choice["text"], finish
        return None, finish
    if isinstance(response.get("content"), list):  # Anthropic /v1/messages
        return _structured(*chat_shapes.anthropic_answer(response))
    if isinstance(response.get("output"), list):  # Responses API
        return _structured(*chat_shapes.responses_answer(response))
    return None, None


def _structured(
    message: dict[str, Any] | None, finish: str | None
) -> tuple[str | dict[str, Any] | None, str | None]:
    """A message without tool calls or a refusal as its plain text, as prose answers are."""
    if message is None or message.get("tool_calls") or message.get("refusal"):
        return message, finish
    return message.get("content"), finish


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        joined = "\n".join(t for t in texts if isinstance(t, str) and t)
        return joined or None
    return None


def _refused(response: Any) -> bool:
    if not isinstance(response, dict):
        return False
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        message = choice.get("message")
        refusal = message.get("refusal") if isinstance(message, dict) else None
        return choice.get("finish_reason") == "content_filter" or bool(refusal)
    return response.get("stop_reason") == "refusal"


def _error(reader: _Reader, payload: dict[str, Any]) -> str:
    info = reader.mapping("error_information")
    for field, value in (
        ("error_str", payload.get("error_str")),
        ("error_information.error_message", info.get("error_message")),
    ):
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise reader.invalid(field, f"must be a string, got {_kind(value)}")
        return value[:_ERROR_MAX]
    error_class = info.get("error_class")
    return (
        f"LiteLLM reported a failure ({error_class})"
        if error_class
        else "LiteLLM reported a failure"
    )


def _attributes(
    reader: _Reader,
    payload: dict[str, Any],
    metadata: dict[str, Any],
    decision: dict[str, Any],
    params: dict[str, Any],
) -> dict[str, Any]:
    def meta(key: str) -> str | None:
        return _identifier(reader, f"metadata.{key}", metadata.get(key))

    team_alias = meta("user_api_key_team_alias") or meta("team_alias")
    team_id = meta("user_api_key_team_id") or meta("team_id")
    org = meta("user_api_key_org_alias") or meta("user_api_key_org_id")
    user = (
        _identifier(reader, "end_user", payload.get("end_user"))
        or meta("user_api_key_end_user_id")
        or _identifier(reader, "model_parameters.user", params.get("user"))
    )
    return {
        "tenant": team_alias or team_id or org,
        "team": team_alias or team_id,
        "user": user,
        "api_key_alias": meta("user_api_key_alias"),
        "tags": _tags(reader, payload.get("request_tags")),
        "metadata": _allowed_metadata(payload, metadata, decision),
    }


def _identifier(reader: _Reader, field: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise reader.invalid(field, f"must be a string, got {_kind(value)}")
    # Segment keys beyond the native limit are cut rather than refused: one long alias must not
    # cost the rest of the batch, and the prefix still identifies the segment.
    return str(value)[:_ATTRIBUTE_MAX]


def _tags(reader: _Reader, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise reader.invalid("request_tags", f"must be a list, got {_kind(raw)}")
    tags: list[str] = []
    for position, tag in enumerate(raw):
        if not isinstance(tag, str):
            raise reader.invalid(f"request_tags[{position}]", f"must be a string, got {_kind(tag)}")
        if tag and tag not in tags:
            tags.append(tag[:_ATTRIBUTE_MAX])
    return tags[:_TAG_LIMIT]


def _allowed_metadata(
    payload: dict[str, Any], metadata: dict[str, Any], decision: dict[str, Any]
) -> dict[str, Any]:
    error_information = payload.get("error_information")
    sources: list[tuple[dict[str, Any], tuple[tuple[str, str], ...]]] = [
        (payload, _TOP_LEVEL_METADATA),
        (metadata, _KEY_METADATA),
        (decision, _DECISION_METADATA),
    ]
    if isinstance(error_information, dict):
        sources.append((error_information, _ERROR_METADATA))
    kept: dict[str, Any] = {"source": "litellm"}
    for source, fields in sources:
        for field, key in fields:
            value = _plain(source.get(field))
            if value is not None:
                kept[key] = value
    return kept


def _plain(value: Any) -> str | int | float | bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value[:_METADATA_VALUE_MAX]
    return None


def _payload_field(native: str) -> str:
    for prefix, source in _NATIVE_TO_PAYLOAD:
        if native == prefix or native.startswith((f"{prefix}.", f"{prefix}[")):
            return source + native[len(prefix) :] if source != "metadata" else source
    return native


def _msg(item: int, field: str, problem: str) -> str:
    return f"item {item}: {field} {problem}"


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
