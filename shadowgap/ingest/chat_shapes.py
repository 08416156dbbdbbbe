"""Anthropic Messages and OpenAI Responses shapes -> OpenAI chat shapes.

Everything shadowgap stores and re-runs is an OpenAI chat request (``messages`` + params) and
an OpenAI assistant message. LiteLLM logs a request in the shape its caller sent it, so a call
made to ``/v1/messages`` (Anthropic) or ``/v1/responses`` arrives in that API's shape; these
functions turn it into the chat request the same conversation is on chat completions.

Anthropic Messages:

- a ``tool_use`` block -> an entry of the assistant turn's ``tool_calls`` (``id``, ``name``,
  ``input`` as JSON text); a ``tool_result`` block -> a ``tool`` turn with its
  ``tool_use_id`` as ``tool_call_id`` (placed before the rest of its user turn, as chat
  completions wants tool results right after the call); ``text`` blocks -> text parts
  (``cache_control`` and ``citations`` dropped), ``image`` blocks -> ``image_url`` parts;
  ``thinking`` / ``redacted_thinking`` blocks are dropped (chat completions has no slot for
  them);
- params: ``system`` -> a first system turn; ``tools`` (``input_schema``) -> function tools;
  ``tool_choice`` auto/any/tool/none -> ``auto``/``required``/the named function/``none``, its
  ``disable_parallel_tool_use`` -> ``parallel_tool_calls: false``; ``stop_sequences`` -> ``stop``;
- the answer: text blocks -> content, ``tool_use`` blocks -> tool calls, ``stop_reason``
  end_turn/stop_sequence/max_tokens/tool_use/refusal -> ``finish_reason``
  stop/stop/length/tool_calls/content_filter.

Responses API:

- input items: a message (``input_text``/``output_text`` parts -> text parts, ``input_image``
  -> ``image_url``), ``function_call`` -> a tool call (``call_id`` is its id) on the
  assistant turn before it (consecutive calls are one turn, as parallel calls are),
  ``function_call_output`` -> a ``tool`` turn; ``reasoning`` and other items (built-in tool
  calls, item references) are dropped;
- params: ``instructions`` -> a first system turn; function tools (flat ``name``,
  ``parameters``) -> chat function tools (other tool types kept as sent); ``tool_choice``
  naming a function -> the chat form; ``text.format`` -> ``response_format``;
  ``max_output_tokens`` -> ``max_completion_tokens``; ``reasoning.effort`` ->
  ``reasoning_effort``;
- the answer: ``message`` output text -> content (a ``refusal`` part -> refusal),
  ``function_call`` outputs -> tool calls, ``status`` -> ``finish_reason`` (completed -> stop
  or tool_calls, incomplete for max_output_tokens -> length, for content_filter ->
  content_filter).
"""

from __future__ import annotations

import json
from typing import Any

ANTHROPIC_CALL_TYPES = frozenset({"anthropic_messages", "aanthropic_messages"})
RESPONSES_CALL_TYPES = frozenset({"responses", "aresponses"})
_ANTHROPIC_BLOCKS = frozenset({"tool_use", "tool_result", "thinking", "redacted_thinking"})
_RESPONSES_ITEMS = frozenset({"function_call", "function_call_output", "reasoning"})
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def _tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "type": "function",
        "function": {
            "name": name if isinstance(name, str) else "",
            "arguments": _json_text(arguments),
        },
    }
    if isinstance(call_id, str) and call_id:
        call["id"] = call_id
    return call


def _text_of(content: Any) -> str:
    """Text of a tool result or output: a string, or the text of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(t for t in texts if isinstance(t, str))
    return "" if content is None else _json_text(content)


# --- Anthropic Messages -----------------------------------------------------------------


def is_anthropic_conversation(messages: list[Any]) -> bool:
    return any(
        isinstance(block, dict) and block.get("type") in _ANTHROPIC_BLOCKS
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for block in message["content"]
    )


def _anthropic_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block.get("text", "")}
    if kind == "image" and isinstance(block.get("source"), dict):
        source = block["source"]
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
        else:
            url = source.get("url", "")
        return {"type": "image_url", "image_url": {"url": url}}
    if kind in _ANTHROPIC_BLOCKS:
        return None
    return block  # a part of another kind, kept as sent


def _anthropic_turns(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic message as chat turns (a user turn with tool results is several)."""
    role, content = message.get("role"), message.get("content")
    if not isinstance(content, list):
        return [message]
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_use":
            calls.append(_tool_call(block.get("id"), block.get("name"), block.get("input")))
        elif block.get("type") == "tool_result":
            result = _text_of(block.get("content"))
            if block.get("is_error") is True and not result:
                result = "error"
            results.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": result}
            )
        elif (part := _anthropic_part(block)) is not None:
            parts.append(part)
    if role == "assistant":
        text = "\n".join(p.get("text", "") for p in parts if p.get("type") == "text")
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            turn["tool_calls"] = calls
        return [turn]
    turns = results
    if parts:
        turns.append({"role": role, "content": parts})
    return turns


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else _text_of(system)


def anthropic_messages(messages: list[Any], params: dict[str, Any]) -> list[Any]:
    """The chat turns of an Anthropic conversation (``system`` from the params first)."""
    turns: list[Any] = []
    system = params.get("system")
    if system:
        turns.append({"role": "system", "content": _system_text(system)})
    for message in messages:
        turns.extend(_anthropic_turns(message) if isinstance(message, dict) else [message])
    return turns


def anthropic_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in params.items() if k not in ("system", "stop_sequences")}
    if "stop_sequences" in params:
        out["stop"] = params["stop_sequences"]
    tools = params.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_anthropic_tool(tool) for tool in tools]
    choice = params.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "any", "none"):
            out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use") is True:
            out["parallel_tool_calls"] = False
    return out


def _anthropic_tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or "input_schema" not in tool:
        return tool  # a server tool (web search, ...) or already a chat tool
    function = {"name": tool.get("name"), "parameters": tool["input_schema"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def anthropic_answer(response: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """An Anthropic response as an assistant message, and its finish_reason."""
    blocks = response.get("content")
    if not isinstance(blocks, list):
        return None, None
    texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    calls = [
        _tool_call(b.get("id"), b.get("name"), b.get("input"))
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    text = "\n".join(t for t in texts if isinstance(t, str) and t)
    stop = response.get("stop_reason")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    if not text and not calls:
        return None, _STOP_REASONS.get(stop, stop) if isinstance(stop, str) else None
    return message, _STOP_REASONS.get(stop, stop) if isinstance(stop, str) else None


# --- Responses API ------------------------------------------------------------------------


def is_responses_input(messages: list[Any]) -> bool:
    for item in messages:
        if not isinstance(item, dict):
            continue
        if item.get("type") in _RESPONSES_ITEMS:
            return True
        content = item.get("content")
        if isinstance(content, list) and any(
            isinstance(p, dict) and p.get("type") in ("input_text", "output_text") for p in content
        ):
            return True
    return False


def _responses_part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "input_image":
        url = part.get("image_url") or part.get("file_id") or ""
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    return part


def responses_messages(items: list[Any], params: dict[str, Any]) -> list[Any]:
    """The chat turns of a Responses API input (``instructions`` first)."""
    turns: list[Any] = []
    instructions = params.get("instructions")
    if isinstance(instructions, str) and instructions:
        turns.append({"role": "system", "content": instructions})
    for item in items:
        if not isinstance(item, dict):
            turns.append(item)
            continue
        kind = item.get("type")
        if kind == "function_call":
            call = _tool_call(item.get("call_id"), item.get("name"), item.get("arguments"))
            last = turns[-1] if turns else None
            if isinstance(last, dict) and last.get("role") == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                turns.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            turns.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": _text_of(item.get("output")),
                }
            )
        elif "role" in item and kind in (None, "message"):
            content = item.get("content")
            if isinstance(content, list):
                content = [_responses_part(part) for part in content]
            turns.append({"role": item["role"], "content": content})
        # reasoning items, built-in tool calls and item references: nothing to re-send
    return turns


def responses_params(params: dict[str, Any]) -> dict[str, Any]:
    renamed = ("instructions", "text", "max_output_tokens", "reasoning")
    out = {k: v for k, v in params.items() if k not in renamed}
    tools = params.get("tools")
    if isinstance(tools, list):
        out["tools"] = [_responses_tool(tool) for tool in tools]
    choice = params.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function" and "name" in choice:
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    text = params.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        out["response_format"] = _response_format(text["format"])
    elif text is not None:
        out["text"] = text
    if params.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = params["max_output_tokens"]
    reasoning = params.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        out["reasoning_effort"] = reasoning["effort"]
    elif reasoning is not None:
        out["reasoning"] = reasoning
    return out


def flat_function_tool(tool: Any) -> Any:
    """A flat function tool (``{"type": "function", "name", "parameters"}``: the Responses API,
    the GenAI semconv ``gen_ai.tool.definitions``) as a chat function tool."""
    return _responses_tool(tool)


def _responses_tool(tool: Any) -> Any:
    if not isinstance(tool, dict) or tool.get("type") != "function" or "function" in tool:
        return tool
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _response_format(fmt: dict[str, Any]) -> dict[str, Any]:
    if fmt.get("type") != "json_schema":
        return {"type": fmt.get("type")}
    schema = {k: fmt[k] for k in ("name", "description", "schema", "strict") if k in fmt}
    return {"type": "json_schema", "json_schema": schema}


def responses_answer(response: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A Responses API response as an assistant message, and its finish_reason."""
    output = response.get("output")
    if not isinstance(output, list):
        return None, None
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("text"), str) and part["text"]:
                    texts.append(part["text"])
                elif isinstance(part.get("refusal"), str):
                    refusals.append(part["refusal"])
        elif item.get("type") == "function_call":
            calls.append(_tool_call(item.get("call_id"), item.get("name"), item.get("arguments")))
    finish = _responses_finish(response, bool(calls))
    if not texts and not calls and not refusals:
        return None, finish
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    if refusals:
        message["refusal"] = "\n".join(refusals)
    return message, finish


def _responses_finish(response: dict[str, Any], called: bool) -> str | None:
    status = response.get("status")
    if status == "completed":
        return "tool_calls" if called else "stop"
    if status == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        return {"max_output_tokens": "length", "content_filter": "content_filter"}.get(
            str(reason), "length"
        )
    return None
