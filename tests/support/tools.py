"""Tool schemas the agentic tests share (OpenAI's ``tools`` shape)."""

from __future__ import annotations

from typing import Any

# The function definitions, bare: each test wraps the ones it needs with tool().
GET_WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
SEND_EMAIL: dict[str, Any] = {
    "name": "send_email",
    "description": "Send an email.",
    "parameters": {
        "type": "object",
        "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
        "required": ["to", "body"],
    },
}


def tool(function: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``function`` as an OpenAI tool; ``extra`` adds keys to the function (e.g. strict)."""
    return {"type": "function", "function": {**function, **extra}}


# One tool (the tool-call judge's tests) and the travel agent's two (the re-run's tests; its
# weather tool says "strict": false, a key OpenAI documents and the re-run must forward).
WEATHER_TOOLS = [tool(GET_WEATHER)]
TRAVEL_TOOLS = [tool(GET_WEATHER, strict=False), tool(SEND_EMAIL)]


# The JSON answer format the agentic re-run tests send (OpenAI's ``response_format``).
SUMMARY_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "forecast",
        "schema": {"type": "object", "properties": {"summary": {"type": "string"}}},
        "strict": True,
    },
}
