"""Slack incoming webhook with Block Kit.

Slack's documented limits that shape the message: at most 50 blocks; header text plain_text
<= 150 characters; section text <= 3000; section fields <= 10 items of <= 2000 each; button text
plain_text <= 75 and url <= 3000; context <= 10 elements. mrkdwn needs ``&``, ``<`` and ``>``
escaped, and the limits count the escaped text, so texts are escaped first and cut after.
The top-level ``text`` is the notification fallback (and what screen readers announce).

An example whose answers are tool calls gets a second section whose fields (two columns) hold
the cheap call beside the flagship call it was matched with: up to four pairs, each field the
function and its arguments in a code block (bidi-isolated, cut to 2000 characters).
"""

from __future__ import annotations

import json
from typing import Any

from shadowgap.alerts.channels.http import post
from shadowgap.alerts.schemas import (
    AlertEvidence,
    CallView,
    Comparison,
    DetectorSummary,
    EvidenceInput,
    Example,
)
from shadowgap.alerts.text import (
    change_line,
    clip,
    defects_line,
    difference_line,
    fields_line,
    fmt_window,
    headline,
    problem,
    resolution_line,
    why_line,
)
from shadowgap.bidi import isolate
from shadowgap.config import Settings
from shadowgap.db.models import Alert
from shadowgap.enums import DeliveryAction, EvidenceType
from shadowgap.errors import DeliveryError

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_TEXT = 3000
# Per-example budget inside one 3000-character section (labels take the rest).
PROMPT_BUDGET = 400
ANSWER_BUDGET = 900
RATIONALE_BUDGET = 500
TEXT_BUDGET = 400  # prose beside tool calls
DIFFERENCE_BUDGET = 700

SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(mrkdwn: str, limit: int) -> str:
    """Cut already-escaped mrkdwn to ``limit`` without leaving half an entity behind."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def quote(text: str | None, budget: int) -> str:
    """Raw text as an escaped mrkdwn block quote of at most ``budget`` characters."""
    if not text:
        return "> _(none)_"
    lines = escape(text.strip()).splitlines() or [""]
    return fit("\n".join(f"> {line}" for line in lines), budget)


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _md(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": fit(text, limit)}


def _field(label: str, value: str) -> dict[str, Any]:
    return _md(f"*{label}*\n{escape(value)}", MAX_FIELD_TEXT)


def _header(alert: Alert, evidence: AlertEvidence, action: str) -> dict[str, Any]:
    key = evidence.segment_key
    if action == DeliveryAction.RESOLVE:
        text = f":white_check_mark: Resolved · {alert.signal} · {key}"
    else:
        emoji = SEVERITY_EMOJI.get(alert.severity, ":grey_question:")
        no_data = evidence.type == EvidenceType.NO_DATA
        what = "No traffic" if no_data else problem(alert, evidence)
        still = "Still open · " if action == DeliveryAction.RENOTIFY else ""
        text = f"{emoji} {still}{alert.severity.upper()} · {what} · {key}"
    return {"type": "header", "text": _plain(text, MAX_HEADER)}


def _fields(alert: Alert, evidence: AlertEvidence) -> dict[str, Any]:
    kind = evidence.signal_kind
    fields = [_field("Segment", evidence.segment_key), _field("Signal", alert.signal)]
    if evidence.type == EvidenceType.NO_DATA:
        fields.append(_field("Silence", change_line(evidence)))
    else:
        fields.append(_field("Before", fmt_window(evidence.before, kind)))
        fields.append(_field("After", fmt_window(evidence.after, kind)))
        detector = evidence.detector or DetectorSummary()
        stat = detector.statistic
        threshold = detector.threshold
        detail = f"{detector.name if 'name' in detector.model_fields_set else '?'}"
        if stat is not None:
            detail += f" (statistic {stat:.4g}"
            detail += f" > {threshold:.4g})" if threshold is not None else ")"
        fields.append(_field("Detector", detail))
    fields.append(_field("Severity", alert.severity))
    fields.append(_field("Status", alert.status))
    return {"type": "section", "fields": fields[:MAX_FIELDS]}


def _verdict_line(number: int, example: Example) -> str:
    verdict = ""
    if example.winner:
        verdict = f" · judge: {escape(str(example.winner))} won"
        if example.gap_score is not None:
            verdict += f" (gap {example.gap_score:.2f})"
    if example.judge:
        verdict += f" · decided by {escape(clip(str(example.judge), 64))}"
    comparison = example.comparison
    if comparison and comparison.difference and comparison.difference != "none":
        verdict += f" · difference: *{escape(clip(comparison.difference, 64))}*"
    given = "event_id" in example.model_fields_set
    event_id = escape(clip(str(example.event_id if given else ""), 80))
    return f"*Example {number}* · `{event_id}`{verdict}"


def _differences(comparison: Comparison) -> list[str]:
    """The judge's named differences as an escaped bullet list (bidi-isolated values)."""
    lines = [f"• {escape(isolate(difference_line(d)))}" for d in comparison.differences]
    if comparison.more_differences:
        lines.append(f"• … and {comparison.more_differences} more")
    fields = fields_line(comparison)
    if fields:
        lines.append(f"• {escape(isolate(fields))}")
    return lines


def _code(text: str) -> str:
    # A code block cannot hold its own fence; a zero-width space keeps the text readable.
    return text.replace("```", "`\u200b`\u200b`")


def _call_field(call: CallView | None) -> dict[str, Any]:
    """One side of a call pair as a section field: the function, then its arguments in a
    code block, escaped and bidi-isolated, cut to the field's limit."""
    if call is None:
        return _md("_(no call)_", MAX_FIELD_TEXT)
    name = escape(isolate(clip(str(call.name or "?"), 200)))
    arguments = escape(isolate(_code(call.arguments or "")))
    bad = "" if call.valid_json is not False else " _(not valid JSON)_"
    head = f"`{_code(name)}`{bad}\n```"
    room = MAX_FIELD_TEXT - len(head) - len("…```")
    body = arguments if len(arguments) <= room else fit(arguments, room)
    return _md(f"{head}{body}```", MAX_FIELD_TEXT)


def _pairs_block(example: Example, comparison: Comparison) -> dict[str, Any]:
    """The calls side by side: Slack lays a section's fields out in two columns."""
    cheap_model = escape(clip(str(example.route_model or "cheap"), 60))
    flagship_model = escape(clip(str(example.flagship_model or "flagship"), 60))
    fields = [
        _md(f"*Cheap calls* ({cheap_model})", MAX_FIELD_TEXT),
        _md(f"*Flagship calls* ({flagship_model})", MAX_FIELD_TEXT),
    ]
    for pair in comparison.pairs[: (MAX_FIELDS - 2) // 2]:
        fields += [_call_field(pair.cheap), _call_field(pair.flagship)]
    return {"type": "section", "fields": fields}


def _example_blocks(number: int, example: Example) -> list[dict[str, Any]]:
    flagship_model = escape(clip(str(example.flagship_model or "flagship"), 60))
    cheap_model = escape(clip(str(example.route_model or "cheap"), 60))
    comparison = example.comparison
    named = _differences(comparison) if comparison else []
    # Named differences take room from the answers, so the section stays within 3000.
    answer_budget = ANSWER_BUDGET - (DIFFERENCE_BUDGET // 2 if named else 0)
    parts = [_verdict_line(number, example), "*Prompt*", quote(example.prompt, PROMPT_BUDGET)]
    if comparison and comparison.pairs:
        # The calls go side by side below; only prose written beside them is quoted here.
        if comparison.cheap_text:
            parts += [f"*Cheap text* ({cheap_model})", quote(comparison.cheap_text, TEXT_BUDGET)]
        if comparison.flagship_text:
            parts += [
                f"*Flagship text* ({flagship_model})",
                quote(comparison.flagship_text, TEXT_BUDGET),
            ]
    else:
        parts += [
            f"*Cheap answer* ({cheap_model})",
            quote(example.cheap_answer, answer_budget),
            f"*Flagship answer* ({flagship_model})",
            quote(example.flagship_answer, answer_budget),
        ]
    if named:
        parts += ["*Differences named by the judge*", fit("\n".join(named), DIFFERENCE_BUDGET)]
    if example.rationale:
        parts += ["*Judge's rationale*", quote(example.rationale, RATIONALE_BUDGET)]
    blocks = [{"type": "section", "text": _md("\n".join(parts))}]
    if comparison and comparison.pairs:
        blocks.append(_pairs_block(example, comparison))
    return blocks


def _context(alert: Alert, evidence: AlertEvidence) -> dict[str, Any]:
    history = evidence.drift_events
    bits = [f"alert #{alert.id}", f"opened {alert.opened_at.isoformat(timespec='seconds')}"]
    if history:
        bits.append(f"{len(history)} drift event(s)")
    return {"type": "context", "elements": [_md(" · ".join(bits), MAX_SECTION_TEXT)]}


def _actions(evidence: AlertEvidence) -> list[dict[str, Any]]:
    url = str(evidence.dashboard_url or "")
    if not url or len(url) > MAX_URL:
        return []
    button = {
        "type": "button",
        "text": _plain("Open segment dashboard", MAX_BUTTON_TEXT),
        "url": url,
        "action_id": "shadowgap_open_dashboard",
    }
    return [{"type": "actions", "elements": [button]}]


def build_slack(alert: Alert, raw: EvidenceInput, action: str) -> dict[str, Any]:
    """A Block Kit message for ``action`` (trigger | renotify | resolve)."""
    evidence = AlertEvidence.read(raw)
    blocks: list[dict[str, Any]] = [_header(alert, evidence, action)]
    if action == DeliveryAction.RESOLVE:
        blocks.append(
            {
                "type": "section",
                "text": _md(
                    f"*{escape(alert.signal)}* in `{escape(evidence.segment_key)}`: "
                    f"{escape(resolution_line(evidence))}.\n"
                    f"Was: {escape(change_line(evidence))}."
                ),
            }
        )
        blocks.append(_fields(alert, evidence))
    else:
        blocks.append(_fields(alert, evidence))
        why = why_line(evidence)
        if why:
            blocks.append({"type": "section", "text": _md(f"*Why*\n{escape(why)}")})
        defects = defects_line(evidence)
        if defects:
            blocks.append({"type": "section", "text": _md(f"*Defects*\n{escape(defects)}")})
        examples = evidence.examples
        if examples:
            blocks.append({"type": "divider"})
            blocks.append(
                {"type": "section", "text": _md("*Example requests* (flagship wins first)")}
            )
            for i, ex in enumerate(examples, start=1):
                blocks += _example_blocks(i, ex)
    blocks.append(_context(alert, evidence))
    actions = _actions(evidence)
    # The dashboard button must survive any trimming, so it is appended after the cap.
    blocks = blocks[: MAX_BLOCKS - len(actions)] + actions
    # The fallback text is mrkdwn too: escaped, with the link in Slack's <url|label> form.
    text = fit(escape(headline(alert, evidence, action)), MAX_FALLBACK_TEXT - MAX_URL // 2)
    url = str(evidence.dashboard_url or "")
    if url and len(url) < MAX_URL // 2:
        text += f" <{url}|Open dashboard>"
    return {"text": text, "blocks": blocks}


def send(payload: dict[str, Any], settings: Settings) -> int:
    """POST to the incoming webhook; Slack answers 200 'ok' on success."""
    if settings.slack_webhook_url is None or not settings.slack_webhook_url.get_secret_value():
        raise DeliveryError("slack: no webhook URL configured", transient=False)
    body = json.dumps(payload, ensure_ascii=False).encode()
    return post("slack", settings.slack_webhook_url.get_secret_value(), body, {}, settings)
