"""Validators for the documented wire formats of Slack Block Kit messages and PagerDuty Events
API v2 alert events (Slack and PagerDuty cannot be reached from the tests).

Each returns a list of problems; empty means valid. Limits checked:

Slack (incoming webhook message with blocks): top-level ``text`` fallback; <= 50 blocks; known
block types; header: plain_text <= 150; section: text or fields, text <= 3000, fields <= 10 items
of <= 2000; text objects are plain_text or mrkdwn, plain_text may not hold mrkdwn; context: 1-10
elements; actions: 1-25 elements; button: plain_text <= 75, url <= 3000, action_id <= 255;
block_id <= 255.

PagerDuty (POST /v2/enqueue): routing_key (32 characters); event_action in trigger/acknowledge/
resolve; dedup_key <= 255 (needed for acknowledge/resolve); a trigger needs payload.summary
(<= 1024), payload.source and payload.severity in critical/error/warning/info; optional
timestamp (ISO 8601), component/group/class strings, custom_details object; links need href,
images need an https src; the whole event <= 512 KB.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

SLACK_BLOCK_TYPES = {"header", "section", "divider", "context", "actions", "image", "rich_text"}
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}


def _text_object(obj: Any, where: str, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not a text object"]
    problems = []
    if obj.get("type") not in ({"plain_text"} if plain_only else {"plain_text", "mrkdwn"}):
        problems.append(f"{where}: bad text type {obj.get('type')!r}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}: empty text")
    elif len(text) > limit:
        problems.append(f"{where}: {len(text)} characters > {limit}")
    if obj.get("type") == "mrkdwn" and "emoji" in obj:
        problems.append(f"{where}: 'emoji' is only valid on plain_text")
    return problems


def _button(element: dict[str, Any], where: str) -> list[str]:
    problems = _text_object(element.get("text"), f"{where}.text", 75, plain_only=True)
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > 3000):
        problems.append(f"{where}: url missing or > 3000")
    if len(str(element.get("action_id", ""))) > 255:
        problems.append(f"{where}: action_id > 255")
    return problems


def _block(block: Any, where: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"{where}: not an object"]
    kind = block.get("type")
    problems: list[str] = []
    if kind not in SLACK_BLOCK_TYPES:
        return [f"{where}: unknown block type {kind!r}"]
    if len(str(block.get("block_id", ""))) > 255:
        problems.append(f"{where}: block_id > 255")
    if kind == "header":
        problems += _text_object(block.get("text"), f"{where}.text", 150, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{where}: section needs text or fields")
        if "text" in block:
            problems += _text_object(block["text"], f"{where}.text", 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                problems.append(f"{where}.fields: 1-10 items required")
            else:
                for i, field in enumerate(fields):
                    problems += _text_object(field, f"{where}.fields[{i}]", 2000)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            problems.append(f"{where}.elements: 1-10 items required")
        else:
            for i, element in enumerate(elements):
                problems += _text_object(element, f"{where}.elements[{i}]", 3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            problems.append(f"{where}.elements: 1-25 items required")
        else:
            for i, element in enumerate(elements):
                if element.get("type") == "button":
                    problems += _button(element, f"{where}.elements[{i}]")
    return problems


def slack_problems(message: Any) -> list[str]:
    if not isinstance(message, dict):
        return ["message is not an object"]
    problems = []
    if not isinstance(message.get("text"), str) or not message["text"].strip():
        problems.append("text: a non-empty fallback is required with blocks")
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return [*problems, "blocks: a non-empty list is required"]
    if len(blocks) > 50:
        problems.append(f"blocks: {len(blocks)} > 50")
    for i, block in enumerate(blocks):
        problems += _block(block, f"blocks[{i}]")
    return problems


def _iso8601(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def pagerduty_problems(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["event is not an object"]
    problems = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        problems.append("routing_key: a 32-character integration key is required")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        problems.append(f"event_action: {action!r} not in {sorted(PD_ACTIONS)}")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not 1 <= len(dedup) <= 255):
        problems.append("dedup_key: 1-255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append(f"dedup_key: required for {action}")
    if action == "trigger":
        problems += _pd_payload(event.get("payload"))
    for i, link in enumerate(event.get("links") or []):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            problems.append(f"links[{i}]: href required")
    for i, image in enumerate(event.get("images") or []):
        if not isinstance(image, dict) or not str(image.get("src", "")).startswith("https://"):
            problems.append(f"images[{i}]: https src required")
    if len(json.dumps(event).encode()) > 512 * 1024:
        problems.append("event larger than 512 KB")
    return problems


def _pd_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["payload: required for trigger"]
    problems = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        problems.append("payload.summary: required")
    elif len(summary) > 1024:
        problems.append(f"payload.summary: {len(summary)} > 1024")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("payload.source: required")
    if payload.get("severity") not in PD_SEVERITIES:
        problems.append(f"payload.severity: {payload.get('severity')!r}")
    if "timestamp" in payload and not _iso8601(payload["timestamp"]):
        problems.append("payload.timestamp: not ISO 8601")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            problems.append(f"payload.{name}: must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("payload.custom_details: must be an object")
    return problems
